#!/bin/bash
# The connector guide's traffic flows, end to end, on simulated AWS VPCs
# (tests/sim/topo.sh) whose routers follow the fake EC2 API (vpcsync.py):
# a flow works only if cloudroute made the right API calls.  Connectors run
# `cloudroute run` with the AWS provider and the userspace tunnel; the remote
# user is wireguard-go configured with wg.
#   1 user -> HQ app, NAT on, then NAT off (route back to the overlay in rtb-hq)
#   2 HQ as the internet egress        3 site to site HQ <-> Branch
#   4 a third site joins and leaves    5 port forward on Branch
#   6 HA: kill -9 the active connector, the standby takes the routes over
#   7 a remote user added with `cloudroute client add` on HQ
#   8 redundant hubs: the Branch's peer group hq / hq2, kill -9 hq and back
# Prints "# failover: N.N s" and the peer group's failover and failback times.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"

[ -x "$CLOUDROUTE" ] || { echo "not ok - no cloudroute binary at $CLOUDROUTE"; echo "0 passed, 1 failed"; exit 1; }
T0=$SECONDS
sim_build || { echo "not ok - simulation build failed"; cat "$SIM/fake.err" 2>/dev/null; FAIL=$((FAIL + 1)); finish; exit 1; }
echo "# simulation up in $((SECONDS - T0)) s"

flow_sim_check
if flows_start; then
	flow_1
	flow_2
	flow_3
	flow_5
	flow_4
else
	check "connectors and user started" false
fi
flow_6
if alive hq; then
	flow_7
	flow_8
else
	check "hq running for flows 7 and 8" false
fi
check_eq "the fake cloud's change hook never failed" 0 \
	"$(sim_ctl GET /counts | python3 -c 'import json, sys; print(json.load(sys.stdin)["counts"]["hook_failures"])')"
flows_end "$T0"
finish
