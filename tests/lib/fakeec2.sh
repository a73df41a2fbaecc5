# The fake EC2 (tests/fakecloud/ec2.py) inside one of a test's namespaces.
# Source after netns.sh, then:
#   fakeec2_start NS SCENARIO [ec2.py options...]
#       starts it in NS with a fresh test CA; sets API, IMDS, CTL and exports
#       the CLOUDROUTE_* overrides so every cloudroute of the test uses it
#   ctl METHOD PATH [BODY]        the control endpoint
#   route_target TABLE DST        eni (or "blackhole:eni", gateway, "none")
#   route_is TABLE DST TARGET
fakeec2_start() {
	local ns=$1 scenario=$2
	shift 2
	bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
	bg "$ns" python3 "$TOP/tests/fakecloud/ec2.py" --scenario "$scenario" \
		--api 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
		--imds 127.0.0.1:0=i-hq --control 127.0.0.1:0 --ready-file "$TMP/ready.json" "$@"
	wait_for 10 test -s "$TMP/ready.json" || { echo "fake cloud did not start"; return 1; }
	_FAKE_NS=$ns
	API=$(_ready 'r["api"]["port"]')
	IMDS=$(_ready 'r["imds"][0]["port"]')
	CTL=$(_ready 'r["control"]["port"]')
	export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_AWS_API_URL=https://127.0.0.1:$API
	export CLOUDROUTE_AWS_METADATA_URL=http://127.0.0.1:$IMDS CLOUDROUTE_RETRY_BASE_MS=20
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
	# (ip netns exec passes this environment on to every cloudroute)
}
_ready() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
ctl() { nsx "$_FAKE_NS" curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
route_target() {
	ctl GET /state | python3 -c "
import json, sys
s = json.load(sys.stdin)
for t in s['route_tables']:
    if t['id'] != '$1': continue
    for r in t.get('routes', []):
        if r['destination'] == '$2':
            tgt = r.get('network_interface_id') or r.get('gateway_id') or '?'
            print(('blackhole:' if r.get('state') == 'blackhole' else '') + tgt); sys.exit()
print('none')"
}
route_is() { [ "$(route_target "$1" "$2")" = "$3" ]; }
