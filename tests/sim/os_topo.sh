# The OpenStack cloud in a box (bash library; source after tests/lib/netns.sh).
# A tenant network on a bridge, a Neutron router namespace whose routes are
# the fake Neutron's extra routes, Neutron's port security (anti-spoofing) on
# the bridge, both applied by tests/sim/ossync.py from the fake's state:
#
#   user (remote VPN user, 100.96.0.2/11) -- "tunnel" veth -- conn tun0 100.96.0.1/11
#   conn eth0 10.0.0.10/24 (port p-conn) --+
#   app  eth0 10.0.0.20/24 (a private web)  +-- br0 in "os-lan" (anti-spoofing)
#   qr   qr0  10.0.0.1/24 (router r-main) --+
#
# The fake Keystone + Neutron + metadata run in conn on 127.0.0.1.  The guide's
# first flow (a remote user reaching a private service, no NAT) works only
# when the port has an address pair for the overlay and the router has the
# extra route back through the connector.
#   os_sim_up            build it, start the fake; sets OS_CFG, OS_CTL
#   os_cr ARGS...        cloudroute in conn with the sim's config
#   os_ctl METHOD PATH [BODY]
#   os_user_reaches_app  the flow: the user fetches the app's page
#   os_show              the router's extra routes and the port's pairs

OS_UUID=c0ffee00-0000-4000-8000-00000000000a

os_sim_up() {
	ns_new osconn && ns_new osuser && ns_new osapp && ns_new osqr && ns_new oslan || return 1
	nsx oslan ip link add br0 type bridge
	nsx oslan ip link set br0 up
	local n
	for n in osconn osapp osqr; do
		ip link add "l-$n" netns "$(ns oslan)" type veth peer name eth0 netns "$(ns "$n")"
		nsx oslan ip link set "l-$n" master br0 up
		nsx "$n" ip link set eth0 up
	done
	nsx osqr ip link set eth0 name qr0
	nsx osconn ip link set eth0 address fa:16:3e:00:00:0a
	nsx osconn ip addr add 10.0.0.10/24 dev eth0
	nsx osconn ip route add default via 10.0.0.1
	nsx osapp ip addr add 10.0.0.20/24 dev eth0
	nsx osapp ip route add default via 10.0.0.1
	nsx osqr ip addr add 10.0.0.1/24 dev qr0
	nsx osqr sysctl -qw net.ipv4.ip_forward=1
	veth osconn tun0 osuser p0
	nsx osconn ip addr add 100.96.0.1/11 dev tun0
	nsx osuser ip addr add 100.96.0.2/11 dev p0
	nsx osuser ip route add default via 100.96.0.1
	# The private service: a one-line HTTP server on the app host.
	bg osapp python3 -c 'import http.server as h
class H(h.BaseHTTPRequestHandler):
    def do_GET(s):
        b = b"private service on 10.0.0.20\n"
        s.send_response(200); s.send_header("Content-Length", str(len(b))); s.end_headers()
        s.wfile.write(b)
    def log_message(s, *a): pass
h.HTTPServer(("0.0.0.0", 8080), H).serve_forever()'
	bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/osca" >/dev/null 2>&1
	bg osconn python3 "$TOP/tests/fakecloud/openstack.py" \
		--scenario "$TOP/tests/fakecloud/scenarios/openstack.json" \
		--api 127.0.0.1:0 --cert "$TMP/osca/server.pem" --key "$TMP/osca/server.key" \
		--metadata "127.0.0.1:0=$OS_UUID" --control 127.0.0.1:0 \
		--ready-file "$TMP/osready.json" \
		--on-change "python3 $TOP/tests/sim/ossync.py r-main $(ns osqr) $(ns oslan)"
	wait_for 10 test -s "$TMP/osready.json" || return 1
	local api md
	api=$(python3 -c "import json; print(json.load(open('$TMP/osready.json'))['api']['port'])")
	md=$(python3 -c "import json; print(json.load(open('$TMP/osready.json'))['metadata'][0]['port'])")
	OS_CTL=$(python3 -c "import json; print(json.load(open('$TMP/osready.json'))['control']['port'])")
	install -m 600 "$TOP/tests/fakecloud/scenarios/openstack-clouds.yaml" "$TMP/osclouds.yaml"
	OS_ENV=(CLOUDROUTE_CA_BUNDLE="$TMP/osca/ca.pem" CLOUDROUTE_OPENSTACK_AUTH_URL="https://127.0.0.1:$api"
		CLOUDROUTE_OPENSTACK_METADATA_URL="http://127.0.0.1:$md" OS_CLIENT_CONFIG_FILE="$TMP/osclouds.yaml" OS_CLOUD=connector
		CLOUDROUTE_AWS_METADATA_URL=http://127.0.0.1:9 CLOUDROUTE_AWS_API_URL=https://127.0.0.1:9)
	OS_CFG=$TMP/os-cr.json
	cat >"$OS_CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "external", "interface": "tun0" },
  "cloud": { "provider": "openstack" },
  "state_dir": "$TMP/os-state", "sysctl_file": "$TMP/os-sysctl.conf"
}
JSON
}

os_cr() { ip netns exec "$(ns osconn)" env "${OS_ENV[@]}" "$CLOUDROUTE" -c "$OS_CFG" "$@"; }
os_ctl() { nsx osconn curl -sf -X "$1" "http://127.0.0.1:$OS_CTL$2" ${3:+-d "$3"}; }
os_user_reaches_app() {
	nsx osuser curl -s --max-time 2 http://10.0.0.20:8080/ | grep -q 'private service'
}
os_show() {
	echo "router r-main (namespace $(ns osqr)):"
	nsx osqr ip route show | sed 's/^/    /'
	os_ctl GET /state | python3 -c "
import json, sys
p = [x for x in json.load(sys.stdin)['ports'] if x['id'] == 'p-conn'][0]
print('port p-conn allowed_address_pairs:', ' '.join(a['ip_address'] for a in p['allowed_address_pairs']))"
}
