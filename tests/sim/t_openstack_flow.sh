#!/bin/bash
# The OpenStack cloud in a box (tests/sim/os_topo.sh): the guide's first flow,
# a remote VPN user reaching a private service on the tenant network with no
# NAT, works only through what cloudroute wrote into the fake Neutron (the
# port's address pair for the overlay, the router's extra route back).
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/os_topo.sh"

os_sim_up || { echo "sim did not come up"; finish; exit 1; }
nsx osconn sysctl -qw net.ipv4.ip_forward=1     # even with forwarding on ...
check_not "before cloudroute: the user cannot reach the service" os_user_reaches_app
check "apply" os_cr apply
check "after apply: the user reaches the private service" wait_for 5 os_user_reaches_app
os_ctl POST /mutate '{"op":"set_pairs","port":"p-conn","pairs":[{"ip_address":"10.0.0.200"}]}' >/dev/null
check_not "without the address pair, port security drops the forwarded packets" os_user_reaches_app
check "apply restores the pair" os_cr apply
check "... and the flow" wait_for 5 os_user_reaches_app
os_ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"100.96.0.0/11","nexthop":"10.0.0.10"}]}' >/dev/null
check_not "without the router's extra route, replies are lost" os_user_reaches_app
check "apply restores the route" os_cr apply
check "... and the flow" wait_for 5 os_user_reaches_app
check "teardown" os_cr teardown
nsx osconn sysctl -qw net.ipv4.ip_forward=1
check_not "after teardown (forwarding on): the flow is gone with the route and pair" os_user_reaches_app
finish
