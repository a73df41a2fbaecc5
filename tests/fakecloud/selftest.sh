#!/bin/bash
# Self-test of the fake cloud (ec2.py), inside one network namespace:
#
#   namespace $P-fc
#   +----------------------------------------------------------------+
#   | lo: 127.0.0.1, 169.254.169.254/32, 10.0.0.10/32, 10.0.0.11/32   |
#   |                                                                |
#   |  curl / sigv4client.py --HTTPS--> 127.0.0.1:API   EC2 Query API |
#   |  curl ------------------HTTP----> 127.0.0.1:IMDS  IMDSv2 (i-hq) |
#   |  curl --interface 10.0.0.x -----> 169.254.169.254:80  IMDSv2,   |
#   |                                   instance chosen by source IP |
#   |  curl ------------------HTTP----> 127.0.0.1:CTL   control JSON  |
#   +----------------------------------------------------------------+
#
# Checks: SigV4 test-suite vectors, TLS with the test CA, IMDSv2 (IMDSv1
# refused, token TTL rules, metadata paths, role credentials, expiry and
# rotation), signed requests accepted and bad ones refused (signature,
# region, date, key, session token), the route/ENI/tag operations and their
# errors, pagination, IAM deny knob, fault knobs, terminate -> blackhole,
# request log and counts, --state-out/--on-change, request size bound, and
# a clean exit on SIGTERM.
source "$(dirname "$0")/../lib/netns.sh"

FC=$TOP/tests/fakecloud
PY=/usr/bin/python3

ns_new fc || { echo "0 passed, 1 failed"; exit 1; }
for a in 169.254.169.254/32 10.0.0.10/32 10.0.0.11/32; do
	ip -n "$(ns fc)" addr add "$a" dev lo
done

bash "$FC/mkca.sh" "$TMP/ca" 169.254.169.254 >/dev/null || { echo "mkca failed"; echo "0 passed, 1 failed"; exit 1; }
CA=$TMP/ca/ca.pem

# ---- helpers -----------------------------------------------------------
port() { $PY -c "import json,sys;d=json.load(open(sys.argv[1]));print($2)" "$1"; }
start_fake() { # READY-FILE EXTRA-ARGS...
	local ready=$1; shift
	bg fc $PY "$FC/ec2.py" --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" "$@" \
		--ready-file "$ready"
	FAKE_PID=${_PIDS[-1]}
	wait_for 10 test -s "$ready"
}
api() { nsx fc $PY "$FC/sigv4client.py" --endpoint "https://127.0.0.1:$API" --cacert "$CA" "$@"; }
api_imds() { api --imds "http://127.0.0.1:$IMDS" "$@"; }
ctl() { # PATH [JSON]
	if [ $# -ge 2 ]; then
		nsx fc curl -sS -X POST -H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$CTL$1"
	else
		nsx fc curl -sS "http://127.0.0.1:$CTL$1"
	fi
}
imds_token() { # [TTL] [URL]
	nsx fc curl -sS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: ${1:-60}" "${2:-http://127.0.0.1:$IMDS}/latest/api/token"
}
imds_get() { # TOKEN PATH [curl args]
	local tok=$1 path=$2; shift 2
	nsx fc curl -sS -f -H "X-aws-ec2-metadata-token: $tok" "$@" "http://127.0.0.1:$IMDS/latest/$path"
}
status_of() { nsx fc curl -s -o /dev/null -w '%{http_code}' "$@"; }
# expect_err CODE ARGS...: sigv4client fails and the error XML names CODE
expect_err() {
	local code=$1; shift
	local out
	out=$(api "$@" 2>&1) && { echo "unexpected success: $out"; return 1; }
	echo "$out" | grep -q "<Code>$code</Code>" || { echo "wanted $code, got: $out"; return 1; }
}
route_of() { # TABLE DEST: prints "target state" of that route
	api_imds DescribeRouteTables RouteTableId.1="$1" | $PY -c '
import sys, xml.etree.ElementTree as ET
ns = {"e": "http://ec2.amazonaws.com/doc/2016-11-15/"}
body = sys.stdin.read().split("\n", 1)[1]
for r in ET.fromstring(body).iterfind(".//e:routeSet/e:item", ns):
    if r.findtext("e:destinationCidrBlock", "", ns) == sys.argv[1]:
        t = r.findtext("e:networkInterfaceId", None, ns) or r.findtext("e:gatewayId", "", ns)
        print(t, r.findtext("e:state", "", ns))' "$2"
}
# api_has PATTERN ARGS...: the call succeeds and its answer matches PATTERN
api_has() { local pat=$1; shift; api_imds "$@" | grep -q -- "$pat"; }
# api_lacks PATTERN ARGS...: the call succeeds and its answer lacks PATTERN
api_lacks() { local pat=$1 out; shift; out=$(api_imds "$@") && ! grep -q -- "$pat" <<<"$out"; }
# api_status STATUS PATTERN ARGS...: HTTP status line and a pattern in the body
api_status() {
	local st=$1 pat=$2 out; shift 2
	out=$(api_imds "$@")
	grep -q "^HTTP $st" <<<"$out" && grep -q -- "$pat" <<<"$out" || { echo "$out"; return 1; }
}
slow_call() { # MS ARGS...: the call succeeds and takes at least MS
	local ms=$1 t0 t1; shift
	t0=$(date +%s%N); api_imds "$@" >/dev/null || return 1; t1=$(date +%s%N)
	[ $(( (t1 - t0) / 1000000 )) -ge "$ms" ]
}
malformed_answer() { ! api_imds "$@" | well_formed; }
paginate_9() {
	local tok
	api_imds DescribeRouteTables MaxResults=5 >"$TMP/p1.xml" || return 1
	tok=$(sed -n 's:.*<nextToken>\(.*\)</nextToken>.*:\1:p' "$TMP/p1.xml")
	[ -n "$tok" ] && [ "$(grep -o '<item><routeTableId>' "$TMP/p1.xml" | wc -l)" = 5 ] || return 1
	api_imds DescribeRouteTables MaxResults=5 NextToken="$tok" >"$TMP/p2.xml" || return 1
	[ "$(grep -o '<item><routeTableId>' "$TMP/p2.xml" | wc -l)" = 4 ] && ! grep -q nextToken "$TMP/p2.xml"
}
counts() { ctl /counts | $PY -c "import json,sys;print(json.load(sys.stdin)['counts']$1)"; }
well_formed() { $PY -c 'import sys,xml.dom.minidom as m; m.parseString(sys.stdin.read().split("\n",1)[1])'; }

# ---- SigV4 against the AWS signature test suite ------------------------
check "sigv4 verifier accepts the AWS test-suite vectors and refuses tampering" \
	$PY "$FC/sigv4.py" --vectors "$FC"/vectors/*.txt

# ---- start -------------------------------------------------------------
HOOKLOG=$TMP/hook.log
start_fake "$TMP/ready.json" --scenario "$FC/scenarios/basic.json" \
	--api 127.0.0.1:0 --imds 127.0.0.1:0=i-hq --imds 169.254.169.254:80 \
	--control 127.0.0.1:0 --log "$TMP/requests.jsonl" --state-out "$TMP/state.json" \
	--on-change "echo \"\$FAKECLOUD_STATE\" >>$HOOKLOG"
check "fake cloud started" test -s "$TMP/ready.json"
API=$(port "$TMP/ready.json" 'd["api"]["port"]')
IMDS=$(port "$TMP/ready.json" 'd["imds"][0]["port"]')
CTL=$(port "$TMP/ready.json" 'd["control"]["port"]')

# ---- TLS ---------------------------------------------------------------
check "TLS verifies against the test CA" nsx fc curl -sS -o /dev/null --cacert "$CA" "https://127.0.0.1:$API/"
check "TLS verifies for localhost too" nsx fc curl -sS -o /dev/null --cacert "$CA" --resolve "localhost:$API:127.0.0.1" "https://localhost:$API/"
check_not "TLS refused without the test CA" nsx fc curl -sS -o /dev/null "https://127.0.0.1:$API/"

# ---- IMDSv2 ------------------------------------------------------------
check_eq "IMDSv1 (GET without token) refused with 401" 401 \
	"$(status_of "http://127.0.0.1:$IMDS/latest/meta-data/instance-id")"
check_eq "token PUT without TTL header: 400" 400 "$(status_of -X PUT "http://127.0.0.1:$IMDS/latest/api/token")"
check_eq "token TTL 0: 400" 400 "$(status_of -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 0' "http://127.0.0.1:$IMDS/latest/api/token")"
check_eq "token TTL 21601: 400" 400 "$(status_of -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21601' "http://127.0.0.1:$IMDS/latest/api/token")"
check_eq "token PUT through a proxy (X-Forwarded-For): 403" 403 "$(status_of -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' -H 'X-Forwarded-For: 1.2.3.4' "http://127.0.0.1:$IMDS/latest/api/token")"
TOK=$(imds_token 21600)
check_eq "IMDSv2 instance-id" i-hq "$(imds_get "$TOK" meta-data/instance-id)"
check_eq "bogus token refused with 401" 401 "$(status_of -H 'X-aws-ec2-metadata-token: AAAA' "http://127.0.0.1:$IMDS/latest/meta-data/instance-id")"
check_eq "placement/region" eu-west-1 "$(imds_get "$TOK" meta-data/placement/region)"
MAC=$(imds_get "$TOK" meta-data/mac)
check_eq "mac" 02:00:0a:00:00:0a "$MAC"
check_eq "interface-id of the mac" eni-hq "$(imds_get "$TOK" "meta-data/network/interfaces/macs/$MAC/interface-id")"
check_eq "subnet-id, vpc-id, local-ipv4s" "subnet-hq vpc-hq 10.0.0.10" \
	"$(imds_get "$TOK" "meta-data/network/interfaces/macs/$MAC/subnet-id") $(imds_get "$TOK" "meta-data/network/interfaces/macs/$MAC/vpc-id") $(imds_get "$TOK" "meta-data/network/interfaces/macs/$MAC/local-ipv4s")"
check_eq "role name listed" cloudroute-connector "$(imds_get "$TOK" meta-data/iam/security-credentials/)"
imds_get "$TOK" meta-data/iam/security-credentials/cloudroute-connector >"$TMP/creds.json"
check "role credentials have every field, ISO8601 Z times" $PY -c '
import json, sys, datetime as dt
c = json.load(open(sys.argv[1]))
assert c["Code"] == "Success" and c["Type"] == "AWS-HMAC", c
assert c["AccessKeyId"].startswith("ASIA") and c["SecretAccessKey"] and c["Token"]
for k in ("LastUpdated", "Expiration"):
    dt.datetime.strptime(c[k], "%Y-%m-%dT%H:%M:%SZ")' "$TMP/creds.json"
SHORT=$(imds_token 1)
sleep 1.5
check_eq "expired IMDS token refused with 401" 401 "$(status_of -H "X-aws-ec2-metadata-token: $SHORT" "http://127.0.0.1:$IMDS/latest/meta-data/instance-id")"
LTOK=$(imds_token 60 http://169.254.169.254)
check_eq "169.254.169.254:80 picks i-hq for source 10.0.0.10" i-hq \
	"$(nsx fc curl -sS --interface 10.0.0.10 -H "X-aws-ec2-metadata-token: $LTOK" http://169.254.169.254/latest/meta-data/instance-id)"
check_eq "169.254.169.254:80 picks i-other for source 10.0.0.11" i-other \
	"$(nsx fc curl -sS --interface 10.0.0.11 -H "X-aws-ec2-metadata-token: $LTOK" http://169.254.169.254/latest/meta-data/instance-id)"
check_eq "169.254.169.254:80 token from another listener refused" 401 \
	"$(status_of --interface 10.0.0.10 -H "X-aws-ec2-metadata-token: $TOK" http://169.254.169.254/latest/meta-data/instance-id)"

# ---- SigV4 on the EC2 API ----------------------------------------------
check "signed DescribeRouteTables (role credentials) succeeds" \
	api_has '<routeTableId>rtb-hq</routeTableId>' DescribeRouteTables Filter.1.Name=association.subnet-id Filter.1.Value.1=subnet-hq
check "signed GET query request succeeds" api_imds --get DescribeRouteTables RouteTableId.1=rtb-main
check "static access key succeeds" api --region eu-west-1 --access-key AKIAFAKESTATIC000001 \
	--secret-key 'fakeStaticSecretKey/for+tests/0000000001' DescribeNetworkInterfaces
check "tampered body refused: AuthFailure" expect_err AuthFailure --imds "http://127.0.0.1:$IMDS" --tamper DescribeRouteTables
check "wrong region in the scope refused: AuthFailure" expect_err AuthFailure --imds "http://127.0.0.1:$IMDS" --sign-region us-east-1 DescribeRouteTables
check "stale date (-10 min) refused: AuthFailure" expect_err AuthFailure --imds "http://127.0.0.1:$IMDS" --date-offset -600 DescribeRouteTables
check "future date (+10 min) refused: AuthFailure" expect_err AuthFailure --imds "http://127.0.0.1:$IMDS" --date-offset 600 DescribeRouteTables
check "date within 4 min accepted" api_imds --date-offset -240 DescribeRouteTables
check "wrong secret refused: AuthFailure" expect_err AuthFailure --region eu-west-1 --access-key AKIAFAKESTATIC000001 --secret-key nope DescribeRouteTables
check "unknown access key refused: AuthFailure" expect_err AuthFailure --region eu-west-1 --access-key AKIANOSUCHKEY0000000 --secret-key x DescribeRouteTables
check "temporary key without its session token refused" expect_err AuthFailure --imds "http://127.0.0.1:$IMDS" --no-token DescribeRouteTables
check_eq "unsigned request: 401" 401 "$(status_of --cacert "$CA" -d 'Action=DescribeRouteTables&Version=2016-11-15' "https://127.0.0.1:$API/")"

# ---- operations ----------------------------------------------------------
check "CreateRoute 100.96.0.0/11 -> eni-hq" api_imds CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq
check_eq "DescribeRouteTables shows it, active" "eni-hq active" "$(route_of rtb-hq 100.96.0.0/11)"
check "CreateRoute again: RouteAlreadyExists" expect_err RouteAlreadyExists --imds "http://127.0.0.1:$IMDS" CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq
check "ReplaceRoute -> eni-other" api_imds ReplaceRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-other
check_eq "route now points at eni-other" "eni-other active" "$(route_of rtb-hq 100.96.0.0/11)"
check "ReplaceRoute of a missing route: InvalidParameterValue" expect_err InvalidParameterValue --imds "http://127.0.0.1:$IMDS" ReplaceRoute RouteTableId=rtb-hq DestinationCidrBlock=100.64.0.0/16 NetworkInterfaceId=eni-hq
check "DeleteRoute" api_imds DeleteRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11
check_eq "route gone" "" "$(route_of rtb-hq 100.96.0.0/11)"
check "DeleteRoute again: InvalidRoute.NotFound" expect_err InvalidRoute.NotFound --imds "http://127.0.0.1:$IMDS" DeleteRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11
check "DeleteRoute of the local route refused" expect_err InvalidParameterValue --imds "http://127.0.0.1:$IMDS" DeleteRoute RouteTableId=rtb-hq DestinationCidrBlock=10.0.0.0/16
check "unknown table: InvalidRouteTableID.NotFound" expect_err InvalidRouteTableID.NotFound --imds "http://127.0.0.1:$IMDS" CreateRoute RouteTableId=rtb-nope DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq
check "unknown ENI: InvalidNetworkInterfaceID.NotFound" expect_err InvalidNetworkInterfaceID.NotFound --imds "http://127.0.0.1:$IMDS" CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-nope
check "bad CIDR: InvalidParameterValue" expect_err InvalidParameterValue --imds "http://127.0.0.1:$IMDS" CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.1/11 NetworkInterfaceId=eni-hq
check "unknown parameter: UnknownParameter" expect_err UnknownParameter --imds "http://127.0.0.1:$IMDS" DescribeRouteTables Bogus=1
check "unknown action: InvalidAction" expect_err InvalidAction --imds "http://127.0.0.1:$IMDS" RunInstances
check "other API version: NoSuchVersion" expect_err NoSuchVersion --imds "http://127.0.0.1:$IMDS" --version 2014-01-01 DescribeRouteTables
check "main table found with vpc-id + association.main=true" \
	api_has '<routeTableId>rtb-main</routeTableId>' DescribeRouteTables Filter.1.Name=vpc-id Filter.1.Value.1=vpc-hq Filter.2.Name=association.main Filter.2.Value.1=true
check "... and the explicitly associated table is not the main one" \
	api_lacks '<routeTableId>rtb-hq</routeTableId>' DescribeRouteTables Filter.1.Name=vpc-id Filter.1.Value.1=vpc-hq Filter.2.Name=association.main Filter.2.Value.1=true
check "unknown filter: InvalidParameterValue" expect_err InvalidParameterValue --imds "http://127.0.0.1:$IMDS" DescribeRouteTables Filter.1.Name=colour Filter.1.Value.1=red
check "MaxResults 4: InvalidParameterValue" expect_err InvalidParameterValue --imds "http://127.0.0.1:$IMDS" DescribeRouteTables MaxResults=4
check "SourceDestCheck.Value=false" api_imds ModifyNetworkInterfaceAttribute NetworkInterfaceId=eni-hq SourceDestCheck.Value=false
check "DescribeNetworkInterfaces shows sourceDestCheck false" \
	api_has '<sourceDestCheck>false</sourceDestCheck>' DescribeNetworkInterfaces Filter.1.Name=attachment.instance-id Filter.1.Value.1=i-hq
check "CreateTags cloudroute:ha-group" api_imds CreateTags ResourceId.1=eni-hq Tag.1.Key=cloudroute:ha-group Tag.1.Value=default
check "tag visible through a tag: filter" \
	api_has '<networkInterfaceId>eni-hq</networkInterfaceId>' DescribeNetworkInterfaces Filter.1.Name=tag:cloudroute:ha-group Filter.1.Value.1=default
check "CreateTags with another key: UnauthorizedOperation" expect_err UnauthorizedOperation --imds "http://127.0.0.1:$IMDS" CreateTags ResourceId.1=eni-hq Tag.1.Key=Name Tag.1.Value=x
check "DeleteTags" api_imds DeleteTags ResourceId.1=eni-hq Tag.1.Key=cloudroute:ha-group
check "DescribeInstances" api_has '<name>running</name>' DescribeInstances InstanceId.1=i-hq

# ---- IAM deny knob -------------------------------------------------------
ctl /deny '{"role": "cloudroute-connector", "actions": ["CreateRoute"]}' >/dev/null
check "denied action: 403 UnauthorizedOperation naming ec2:CreateRoute" \
	api_status 403 'perform: ec2:CreateRoute' CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq
ctl /deny '{"role": "cloudroute-connector", "actions": []}' >/dev/null
check "allowed again after the deny list is cleared" api_imds DescribeRouteTables

# ---- faults ----------------------------------------------------------------
ctl /fault '{"kind": "throttle", "count": 2, "retry_after": 1}' >/dev/null
check "throttle 1/2: RequestLimitExceeded" expect_err RequestLimitExceeded --imds "http://127.0.0.1:$IMDS" DescribeRouteTables
check "throttle 2/2: RequestLimitExceeded" expect_err RequestLimitExceeded --imds "http://127.0.0.1:$IMDS" DescribeRouteTables
check "third call after the throttle burst succeeds" api_imds DescribeRouteTables
ctl /fault '{"kind": "error500", "count": 1, "actions": ["CreateRoute"]}' >/dev/null
check "fault limited to CreateRoute leaves Describe alone" api_imds DescribeRouteTables
check "error500 on CreateRoute: InternalError" expect_err InternalError --imds "http://127.0.0.1:$IMDS" CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq
check_eq "error500 without apply changed nothing" "" "$(route_of rtb-hq 100.96.0.0/11)"
ctl /fault '{"kind": "malformed", "count": 1}' >/dev/null
check "malformed: the answer is not well-formed XML" malformed_answer DescribeRouteTables
ctl /fault '{"kind": "html", "count": 1, "status": 502}' >/dev/null
check "html: a 502 HTML page" api_status 502 '<html>' DescribeRouteTables
ctl /fault '{"kind": "slow", "count": 1, "delay_ms": 1200}' >/dev/null
check "slow: the answer took at least 1.2 s" slow_call 1200 DescribeRouteTables
ctl /fault '{"kind": "malformed", "count": 1, "apply": true, "actions": ["CreateRoute"]}' >/dev/null
api_imds CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=100.96.0.0/11 NetworkInterfaceId=eni-hq >/dev/null
check_eq "malformed with apply: the route was created anyway" "eni-hq active" "$(route_of rtb-hq 100.96.0.0/11)"

# ---- terminate -> blackhole ------------------------------------------------
check "CreateRoute 192.168.0.0/22 -> eni-other" api_imds CreateRoute RouteTableId=rtb-hq DestinationCidrBlock=192.168.0.0/22 NetworkInterfaceId=eni-other
check "control: terminate i-other" ctl /terminate '{"instance_id": "i-other"}'
check_eq "route to the terminated instance's ENI is a blackhole" "eni-other blackhole" "$(route_of rtb-hq 192.168.0.0/22)"
check "its ENI is gone: InvalidNetworkInterfaceID.NotFound" expect_err InvalidNetworkInterfaceID.NotFound --imds "http://127.0.0.1:$IMDS" DescribeNetworkInterfaces NetworkInterfaceId.1=eni-other
check "blackhole taken over with ReplaceRoute" api_imds ReplaceRoute RouteTableId=rtb-hq DestinationCidrBlock=192.168.0.0/22 NetworkInterfaceId=eni-hq
check_eq "now active on eni-hq" "eni-hq active" "$(route_of rtb-hq 192.168.0.0/22)"

# ---- credentials expiry ------------------------------------------------------
OLD=$($PY -c 'import json,sys;c=json.load(open(sys.argv[1]));print(c["AccessKeyId"], c["SecretAccessKey"], c["Token"])' "$TMP/creds.json")
set -- $OLD
check "old role key still valid before expiry" api --region eu-west-1 --access-key "$1" --secret-key "$2" --token "$3" DescribeRouteTables
check "control: expire credentials" ctl /expire-credentials '{"instance_id": "i-hq"}'
check "expired key refused: ExpiredToken" expect_err ExpiredToken --region eu-west-1 --access-key "$1" --secret-key "$2" --token "$3" DescribeRouteTables
NEW=$(imds_get "$(imds_token 60)" meta-data/iam/security-credentials/cloudroute-connector | $PY -c 'import json,sys;print(json.load(sys.stdin)["AccessKeyId"])')
check "IMDS issues a fresh key after expiry" test -n "$NEW" -a "$NEW" != "$1"
check "fresh key works" api_imds DescribeRouteTables
set --

# ---- request log, counts, state hooks ---------------------------------------
no_secrets_in_log() { ! grep -F -e "$OLD_SECRET" -e "$OLD_TOKEN" -e fakeStaticSecretKey "$TMP/requests.jsonl"; }
OLD_SECRET=$(cut -d' ' -f2 <<<"$OLD"); OLD_TOKEN=$(cut -d' ' -f3 <<<"$OLD")
check "log file has no secret keys or tokens" no_secrets_in_log
# Mutating calls made above, in order: CreateRoute ok, exists, ReplaceRoute ok,
# missing, DeleteRoute ok, missing, local, CreateRoute bad table, bad ENI, bad
# CIDR, Modify ok, CreateTags ok, denied tag, DeleteTags ok, CreateRoute
# denied, 500, malformed+apply (200), CreateRoute ok, ReplaceRoute ok.
check_eq "log file counts CreateRoute attempts" 9 "$(grep -c '"action":"CreateRoute"' "$TMP/requests.jsonl")"
check_eq "control counts mutating calls" 19 "$(counts "['mutating']")"
check_eq "control counts successful mutations" 9 "$(counts "['mutations_ok']")"
check_eq "control counts throttled calls" 2 "$(counts "['by_code']['RequestLimitExceeded']")"
check "state-out file reflects the latest route" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
rt = {t["id"]: t for t in s["route_tables"]}["rtb-hq"]
r = {x["destination"]: x for x in rt["routes"]}["192.168.0.0/22"]
assert r["network_interface_id"] == "eni-hq" and r["state"] == "active", r
assert s["version"] == 10, s["version"]' "$TMP/state.json"
check_eq "on-change hook ran once per state change, +1 at start" 11 "$(wc -l <"$HOOKLOG")"
check "control: reset" ctl /reset '{}'
api_imds DescribeRouteTables >/dev/null
check_eq "after reset: 1 EC2 call, 0 mutating" "1 0" "$(counts "['ec2']") $(counts "['mutating']")"

# ---- bounds and shutdown ------------------------------------------------
head -c 100000 /dev/zero | tr '\0' a >"$TMP/big"
check_eq "a 100 kB body is refused with 413" 413 "$(status_of --cacert "$CA" --data-binary @"$TMP/big" -H 'Content-Type: application/x-www-form-urlencoded' "https://127.0.0.1:$API/")"

# ---- pagination and credential lifetime, on a second fake -----------------
$PY - "$FC/scenarios/basic.json" "$TMP/many.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["vpcs"].append({"id": "vpc-many", "cidr": "172.16.0.0/16"})
for i in range(7):
    s["route_tables"].append({"id": "rtb-many%d" % i, "vpc": "vpc-many",
                              "main": i == 0})
json.dump(s, open(sys.argv[2], "w"))
EOF
FAKE1=$FAKE_PID
start_fake "$TMP/ready2.json" --scenario "$TMP/many.json" --api 127.0.0.1:0 \
	--imds 127.0.0.1:0=i-hq --cred-lifetime 3
API=$(port "$TMP/ready2.json" 'd["api"]["port"]')
IMDS=$(port "$TMP/ready2.json" 'd["imds"][0]["port"]')
check "NextToken pagination: 9 tables in pages of 5 + 4" paginate_9
imds_get "$(imds_token 60)" meta-data/iam/security-credentials/cloudroute-connector >"$TMP/c2.json"
set -- $($PY -c 'import json,sys;c=json.load(open(sys.argv[1]));print(c["AccessKeyId"], c["SecretAccessKey"], c["Token"])' "$TMP/c2.json")
check "short-lived key works at first" api --region eu-west-1 --access-key "$1" --secret-key "$2" --token "$3" DescribeRouteTables
sleep 3.2
check "short-lived key expires by itself: ExpiredToken" expect_err ExpiredToken --region eu-west-1 --access-key "$1" --secret-key "$2" --token "$3" DescribeRouteTables
check "and IMDS hands out a working new one" api_imds DescribeRouteTables
set --

kill -TERM "$FAKE1"
check "SIGTERM: the fake exits 0" wait "$FAKE1"
finish
