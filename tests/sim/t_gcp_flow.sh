#!/bin/bash
# The connector guide's first flow on a simulated GCP VPC (tests/sim/gcp_topo.sh)
# whose fabric follows the fake GCP (routes, canIpForward): the remote user
# (wireguard-go) reaches an app behind the GCP connector (`cloudroute run`,
# userspace tunnel, provider gcp) with NAT, then without NAT through the
# network route cloudroute inserted; canIpForward turned off behind its back
# is repaired; teardown removes the route and restores canIpForward.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/gcp_topo.sh"

[ -x "$CLOUDROUTE" ] || { echo "not ok - no cloudroute binary at $CLOUDROUTE"; echo "0 passed, 1 failed"; exit 1; }
gsim_build || { echo "not ok - GCP simulation build failed"; cat "$SIM/gcp-fake.err" 2>/dev/null; FAIL=$((FAIL + 1)); finish; exit 1; }
if gflow_start; then
	gflow_1
else
	check "connector and user started" false
fi
gflow_teardown
check_eq "the fake's change hook never failed" 0 \
	"$(gsim_ctl GET /counts | python3 -c 'import json, sys; print(json.load(sys.stdin)["counts"]["hook_failures"])')"
if [ "$FAIL" != 0 ]; then
	for f in gc.log gcp-fake.err user-wg.log; do
		[ -s "$SIM/$f" ] && { echo "# --- $f (tail)"; tail -n 15 "$SIM/$f" | sed 's/^/#   /'; }
	done
fi
finish
