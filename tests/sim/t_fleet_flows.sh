#!/bin/bash
# The site-to-site and HA flows of t_flows.sh with the sites meeting in a
# real etcd instead of static peers (SIM_FLEET=1 in flows.sh, as `make
# demo` runs them): hq and br find each other, s3 joins and leaves without a
# reload anywhere, and kill -9 of the HA leader hands rtb-ha to the standby
# through the election.  Prints "# failover: N.N s".
SIM_FLEET=1
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"

[ -x "$CLOUDROUTE" ] || { echo "not ok - no cloudroute binary at $CLOUDROUTE"; echo "0 passed, 1 failed"; exit 1; }
T0=$SECONDS
sim_build || { echo "not ok - simulation build failed"; FAIL=$((FAIL + 1)); finish; exit 1; }
sim_fleet_start || { echo "not ok - etcd did not start"; FAIL=$((FAIL + 1)); finish; exit 1; }
if flows_start; then
	flow_3
	flow_4
else
	check "connectors and user started" false
fi
flow_6
flows_end "$T0"
finish
