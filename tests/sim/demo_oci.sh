#!/bin/bash
# `make demo`, OCI part: cloudroute on a simulated OCI VCN (oci_topo.sh)
# whose router follows the fake OCI (instance principals, signed Core API
# calls, route rules under etags).  Shows `cloudroute plan`, the VCN route
# table before and after `cloudroute run`, the guide's first flow (user ->
# HQ app with NAT, then without: the reply needs cloudroute's rule and
# skipSourceDestCheck) and the egress flow, then tears down.
#   CLOUDROUTE=path/to/cloudroute tests/sim/demo_oci.sh      (default ./cloudroute)
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/demo_lib.sh"
. "$(dirname "$0")/oci_topo.sh"

START=$SECONDS
echo "cloudroute demo on OCI: a simulated VCN in network namespaces and a fake OCI"
echo "(IMDS v2, X.509 federation, Core API); the VCN router follows the route"
echo "table, so traffic flows only if cloudroute made the right calls."
[ -x "$CLOUDROUTE" ] || { echo "no cloudroute binary at $CLOUDROUTE (run make first)"; exit 1; }

step "building the simulated VCN"
oci_build || { echo "  FAIL  simulation did not come up"; tail -n 5 "$SIM/fake.err" 2>/dev/null; exit 1; }
echo "  VCN 10.0.0.0/16 (vpc-hq), connector hq 10.0.0.10, app 10.0.0.20, internet, a remote user ($((SECONDS - START)) s)"

step "VCN route table before cloudroute"
sim_show vpc-hq

step "cloudroute plan on the HQ connector (provider oci, instance principals)"
sim_key hq; sim_key user
oci_conf nat
oci_cr hq plan 2>&1 | indent

up_flow() {
	FLOW_DETAIL=
	sim_user "hq 203.0.113.10:51820 100.96.0.1/32,10.0.0.0/16,198.51.100.80/32"
	oci_run hq
	check "the rule reaches the VCN router" wait_for 30 has hq "100.96.0.0/11 via 10.0.0.10"
	check_eq "skipSourceDestCheck on" True "$(oci_skip ocid1.vnic.oc1.sim.hq)"
	detail "UpdateVnic skipSourceDestCheck, UpdateRouteTable (one PUT, if-match)"
}
run_flow "connector up, rule written" up_flow

step "VCN route table after (written through the Core API by cloudroute)"
sim_show vpc-hq

step "flows"
oci_flow_1() {
	FLOW_DETAIL=
	local a
	check "user reaches the HQ app (NAT)" wait_for 15 probe user 10.0.0.20 8080 1
	a=$(who user 10.0.0.20 8080)
	check_eq "with NAT the app sees the connector" 10.0.0.10 "$a"
	detail "NAT on: app saw ${a:-nothing}"
	oci_conf nonat
	reload hq
	check "NAT off: the app sees the user" wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
	detail "NAT off: app saw $(who user 10.0.0.20 8080) (reply via the rule 100.96.0.0/11 -> $OCI_ME)"
}
oci_flow_2() {
	FLOW_DETAIL=
	local a
	a=$(who user 198.51.100.80 8080)
	check_eq "the internet host sees HQ's public address" 203.0.113.10 "$a"
	detail "internet host saw ${a:-nothing}"
}
run_flow "1 user -> HQ app 10.0.0.20" oci_flow_1
run_flow "2 HQ as internet egress" oci_flow_2

step "teardown"
kill -TERM "${SIM_PID[hq]}" 2>/dev/null; wait "${SIM_PID[hq]}" 2>/dev/null
oci_teardown_flow() {
	FLOW_DETAIL=
	check "hq teardown" oci_cr hq teardown
	check "no cloudroute rule left in the VCN router" wait_for 5 lacks hq "via 10.0.0.10"
	check_eq "skipSourceDestCheck restored" False "$(oci_skip ocid1.vnic.oc1.sim.hq)"
	detail "rules removed (the internet rule kept), skipSourceDestCheck restored"
}
run_flow "cloudroute teardown" oci_teardown_flow
echo
if [ "$BAD" = 0 ]; then
	echo "demo (OCI): all flows passed in $((SECONDS - START)) s"
else
	echo "demo (OCI): $BAD flow(s) FAILED ($((SECONDS - START)) s)"
	[ -s "$SIM/hq.log" ] && tail -n 8 "$SIM/hq.log" | indent
fi
[ "$BAD" = 0 ]
