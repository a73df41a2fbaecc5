#!/bin/bash
# `make demo`, GCP part: a simulated GCP VPC (tests/sim/gcp_topo.sh) whose
# fabric follows the fake Compute API; shows `cloudroute plan` on the GCP
# connector, the fabric's cloud routes before and after, runs the guide's
# first flow with one line per step, and tears down (also on Ctrl-C).
# Exits non-zero if a step fails.
#   CLOUDROUTE=path/to/cloudroute tests/sim/demo_gcp.sh    (default ./cloudroute)
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/gcp_topo.sh"

# Assertions recorded, one line per step (as demo.sh does).
FAILS=()
check() { local w=$1; shift; if "$@" >"$TMP/.out" 2>&1; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); FAILS+=("$w"); fi; }
check_not() { local w=$1; shift; if "$@" >"$TMP/.out" 2>&1; then FAIL=$((FAIL + 1)); FAILS+=("$w (unexpectedly succeeded)"); else PASS=$((PASS + 1)); fi; }
check_eq() { if [ "$2" = "$3" ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); FAILS+=("$1: expected '$2', got '$3'"); fi; }
BAD=0
step_run() { # LABEL FUNCTION
	FAILS=(); FLOW_DETAIL=
	"$2" >/dev/null 2>&1
	if [ ${#FAILS[@]} = 0 ]; then printf '  PASS  %-34s %s\n' "$1" "$FLOW_DETAIL"; return 0; fi
	BAD=$((BAD + 1)); printf '  FAIL  %-34s\n' "$1"
	for f in "${FAILS[@]}"; do printf '          - %s\n' "$f"; done
	return 1
}
step() { printf '\n== %s\n' "$*"; }

START=$SECONDS
echo "cloudroute demo, GCP: a simulated VPC network, a fake Compute Engine API and"
echo "metadata server; the VPC fabric follows the API (routes, canIpForward), so"
echo "traffic flows only if cloudroute made the right calls.  Binary: $CLOUDROUTE"
[ -x "$CLOUDROUTE" ] || { echo "no cloudroute binary at $CLOUDROUTE (run make first)"; exit 1; }
step "building the simulation"
gsim_build || { echo "  FAIL  simulation did not come up"; tail -n 5 "$SIM/gcp-fake.err" 2>/dev/null; exit 1; }
echo "  network vpc 10.0.0.0/18: connector cr-gcp 10.0.0.10 (203.0.113.50), app 10.0.0.20;"
echo "  fake Compute at $GSIM_API (test CA), metadata at http://169.254.169.254"
step "VPC cloud routes before cloudroute"
gsim_show | sed 's/^/    /'
step "cloudroute plan on the GCP connector"
sim_key gcp; sim_key user; gsim_conf nat
gsim_cr plan 2>&1 | sed 's/^/    /'
step "the connector (cloudroute run) and the user (wireguard-go)"
if step_run "connector up, route inserted" gflow_start; then
	step "VPC cloud routes after (inserted through the Compute API by cloudroute)"
	gsim_show | sed 's/^/    /'
	step "flow"
	step_run "1 user -> GCP app 10.0.0.20" gflow_1
fi
step "teardown"
step_run "cloudroute teardown" gflow_teardown
echo
if [ "$BAD" = 0 ]; then echo "demo (GCP): all steps passed in $((SECONDS - START)) s"
else echo "demo (GCP): $BAD step(s) FAILED; connector log:"; tail -n 8 "$SIM/gc.log" 2>/dev/null | sed 's/^/    /'; fi
[ "$BAD" = 0 ]
