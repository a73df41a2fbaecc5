#!/bin/bash
# `make demo`, OpenStack part: a tenant network behind a Neutron router
# (tests/sim/os_topo.sh) whose routes and port security follow the fake
# Keystone + Neutron.  Shows `cloudroute plan`, the router's routes and the
# port's address pairs before and after `cloudroute apply`, runs the guide's
# first flow (a remote user reaching a private service, no NAT), drift of
# the pair and the route repaired, then `cloudroute teardown`.
#   CLOUDROUTE=path/to/cloudroute tests/sim/demo_openstack.sh   (default ./cloudroute)
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/demo_lib.sh"
. "$(dirname "$0")/os_topo.sh"

START=$SECONDS
echo "cloudroute demo on OpenStack: a tenant network in network namespaces, a fake"
echo "Keystone + Neutron (HTTPS, application credential) and metadata service; the"
echo "router follows Neutron's extra routes and the tenant bridge enforces port"
echo "security, so traffic flows only if cloudroute made the right calls."
[ -x "$CLOUDROUTE" ] || { echo "no cloudroute binary at $CLOUDROUTE (run make first)"; exit 1; }

step "building the tenant network"
os_sim_up || { echo "  FAIL  simulation did not come up"; exit 1; }
nsx osconn sysctl -qw net.ipv4.ip_forward=1
echo "  subnet 10.0.0.0/24: connector 10.0.0.10 (port p-conn), app 10.0.0.20:8080, router r-main"
echo "  10.0.0.1; remote user 100.96.0.2 behind the connector's tunnel ($((SECONDS - START)) s)"

step "before cloudroute"
os_show | indent

step "cloudroute plan (provider openstack, clouds.yaml with an application credential)"
os_cr -v plan 2>&1 | grep -E '^ *[-+~=!] cloud ' | indent

step "flows"
os_flow_1() {
	FLOW_DETAIL=
	check_not "the user cannot reach the app yet" os_user_reaches_app
	check "apply" os_cr apply
	check "the user reaches the app" wait_for 5 os_user_reaches_app
	detail "pair 100.96.0.0/11 on p-conn, extra route 100.96.0.0/11 -> 10.0.0.10 (add_extraroutes)"
}
run_flow "1 user -> tenant app 10.0.0.20" os_flow_1
os_drift() {
	FLOW_DETAIL=
	os_ctl POST /mutate '{"op":"set_pairs","port":"p-conn","pairs":[{"ip_address":"10.0.0.200"}]}' >/dev/null
	os_ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"100.96.0.0/11","nexthop":"10.0.0.10"}]}' >/dev/null
	check_not "broken by the drift" os_user_reaches_app
	check "apply" os_cr apply
	check "flow back" wait_for 5 os_user_reaches_app
	detail "pair and route removed behind cloudroute's back, restored; 10.0.0.200 (theirs) kept"
}
run_flow "drift repaired" os_drift

step "after cloudroute"
os_show | indent

step "teardown"
os_teardown() {
	FLOW_DETAIL=
	check "teardown" os_cr teardown
	nsx osconn sysctl -qw net.ipv4.ip_forward=1
	check_not "flow gone with the route and the pair" os_user_reaches_app
	detail "remove_extraroutes of exactly ours; the routes from before cloudroute stay"
}
run_flow "cloudroute teardown" os_teardown
os_show | indent

echo
if [ "$BAD" = 0 ]; then
	echo "demo (OpenStack): all flows passed in $((SECONDS - START)) s"
else
	echo "demo (OpenStack): $BAD flow(s) FAILED ($((SECONDS - START)) s)"
fi
[ "$BAD" = 0 ]
