#!/bin/bash
# Self-test of the fake Azure (tests/fakecloud/azure.py) with curl, not with
# cloudroute: it must be as strict as ARM and IMDS are, whoever the client.
#
#   namespace $P-fa:  curl --HTTPS--> 127.0.0.1:API (ARM, test CA)
#                     curl --HTTP---> 127.0.0.1:IMDS (vm-hq), 127.0.0.1:CTL
#
# IMDS header and version rules, tokens (audience, identity, caching),
# ARM auth (missing, forged, expired), api-versions per provider, RBAC,
# route validation (name, next hop, prefix, RouteConflict, limit), etags
# (If-Match 412), the NIC PUT's whole-document rule, long-running
# operations (InProgress, then Succeeded; Location 202 then 204), paging.
. "$(dirname "$0")/../lib/netns.sh"

ns_new fa || { finish; exit 1; }
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
python3 - "$TOP/tests/fakecloud/scenarios/azure-basic.json" >"$TMP/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["route_tables"]:
    if t["name"] == "rt-apps":
        t["max_routes"] = 1
json.dump(s, sys.stdout)
PY
bg fa python3 "$TOP/tests/fakecloud/azure.py" --scenario "$TMP/s.json" \
	--api 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--imds 127.0.0.1:0=vm-hq --imds 127.0.0.1:0=vm-app --control 127.0.0.1:0 \
	--ready-file "$TMP/ready.json" --lro-polls 2 --lro-seconds 60 --lro-retry-after 0 --page-size 2
wait_for 10 test -s "$TMP/ready.json" || { echo "fake did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=https://127.0.0.1:$(port 'r["api"]["port"]')
IMDS=http://127.0.0.1:$(port 'r["imds"][0]["port"]')
IMDS_APP=http://127.0.0.1:$(port 'r["imds"][1]["port"]')
SUB=/subscriptions/8f3c2a10-5b7e-4c1d-9a2f-0e6b4d8c1a11
RG=$SUB/resourceGroups/rg-hq/providers
NV=api-version=2024-05-01
TOKQ="api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

# status METHOD URL [curl args...]: prints the HTTP status; the body goes to $TMP/body.
status() { local m=$1 u=$2; shift 2; nsx fa curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' \
	--cacert "$TMP/ca/ca.pem" -X "$m" "$u" "$@"; }
code() { python3 -c "import json; d=json.load(open('$TMP/body')); e=d.get('error'); print(e.get('code') if isinstance(e, dict) else e)"; }
jq_() { python3 -c "import json; d=json.load(open('$TMP/body')); print($1)"; }
hdr() { tr -d '\r' <"$TMP/hdr" | sed -n "s/^$1: //Ip"; }

# ---- IMDS ----
check_eq "IMDS: no Metadata header is 400" 400 "$(status GET "$IMDS/metadata/instance?api-version=2021-02-01")"
check_eq "IMDS: X-Forwarded-For is 400" 400 "$(status GET "$IMDS/metadata/instance?api-version=2021-02-01" -H Metadata:true -H X-Forwarded-For:1.2.3.4)"
check_eq "IMDS: no api-version is 400" 400 "$(status GET "$IMDS/metadata/instance" -H Metadata:true)"
check_eq "IMDS: instance document" 200 "$(status GET "$IMDS/metadata/instance?api-version=2021-02-01" -H Metadata:true)"
check_eq "IMDS: MAC without separators" 000D3A112233 "$(jq_ 'd["network"]["interface"][0]["macAddress"]')"
check_eq "token: wrong resource is 400" 400 "$(status GET "$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net" -H Metadata:true)"
check_eq "token: a VM without identity is 400" 400 "$(status GET "$IMDS_APP/metadata/identity/oauth2/token?$TOKQ" -H Metadata:true)"
check_eq "... Identity not found" "Identity not found" "$(jq_ 'd["error_description"]')"
check_eq "token: issued" 200 "$(status GET "$IMDS/metadata/identity/oauth2/token?$TOKQ" -H Metadata:true)"
TOK=$(jq_ 'd["access_token"]')
check_eq "token: expires_on is a string" str "$(jq_ 'type(d["expires_on"]).__name__')"
status GET "$IMDS/metadata/identity/oauth2/token?$TOKQ" -H Metadata:true >/dev/null
check_eq "token: cached by IMDS" "$TOK" "$(jq_ 'd["access_token"]')"
AUTH="Authorization: Bearer $TOK"

# ---- ARM auth and versions ----
check_eq "ARM: no token is 401" 401 "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps?$NV")"
check_eq "... AuthenticationFailed" AuthenticationFailed "$(code)"
FORGED=${TOK%.*}.AAAA
check_eq "ARM: forged signature is 401" 401 "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps?$NV" -H "Authorization: Bearer $FORGED")"
check_eq "ARM: no api-version is 400" MissingApiVersionParameter "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps" -H "$AUTH" >/dev/null; code)"
check_eq "ARM: unknown network api-version is 400" 400 "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps?api-version=2030-01-01" -H "$AUTH")"
check_eq "ARM: a Network-only version on Compute is 400" 400 "$(status GET "$API$RG/Microsoft.Compute/virtualMachines/vm-hq?api-version=2024-05-01" -H "$AUTH")"
check_eq "ARM: VM with the Compute version" 200 "$(status GET "$API$RG/Microsoft.Compute/virtualMachines/vm-hq?api-version=2024-07-01" -H "$AUTH")"
check_eq "ARM: another subscription is 404" 404 "$(status GET "${API}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-hq/providers/Microsoft.Network/routeTables/rt-apps?$NV" -H "$AUTH")"
check_eq "ARM: unknown table is 404 ResourceNotFound" "404 ResourceNotFound" "$(status GET "$API$RG/Microsoft.Network/routeTables/nope?$NV" -H "$AUTH") $(code)"

# ---- routes ----
R=$API$RG/Microsoft.Network/routeTables/rt-connectors/routes
J='-H Content-Type:application/json'
put() { status PUT "$R/$1?$NV" -H "$AUTH" $J -d "$2" "${@:3}"; }
check_eq "route: bad name is 400" InvalidResourceName "$(put 'bad-' '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None"}}' >/dev/null; code)"
check_eq "route: appliance without IP is 400" 400 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"VirtualAppliance"}}')"
check_eq "route: IP on a non-appliance is 400" 400 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None","nextHopIpAddress":"10.0.0.4"}}')"
check_eq "route: host bits set is 400" 400 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.1/16","nextHopType":"None"}}')"
check_eq "route: unknown property is 400" 400 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None","colour":"red"}}')"
check_eq "route: not JSON is 400" InvalidRequestContent "$(put r1 '{"properties":' >/dev/null; code)"
check_eq "route: wrong content type is 415" 415 "$(status PUT "$R/r1?$NV" -H "$AUTH" -H Content-Type:text/plain -d '{}')"
check_eq "route: created (201)" 201 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"VirtualAppliance","nextHopIpAddress":"10.0.0.4"}}')"
check_eq "... provisioningState Updating" Updating "$(jq_ 'd["properties"]["provisioningState"]')"
OP=$(hdr Azure-AsyncOperation)
check "... with an Azure-AsyncOperation URL on the endpoint" test "${OP#$API/}" != "$OP"
ETAG=$(jq_ 'd["etag"]')
check_eq "operation: first poll InProgress" InProgress "$(status GET "$OP" -H "$AUTH" >/dev/null; jq_ 'd["status"]')"
status GET "$OP" -H "$AUTH" >/dev/null
check_eq "operation: then Succeeded" Succeeded "$(status GET "$OP" -H "$AUTH" >/dev/null; jq_ 'd["status"]')"
check_eq "operation: polls need the token" 401 "$(status GET "$OP")"
check_eq "route: same prefix under another name is RouteConflict" RouteConflict "$(put r2 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None"}}' >/dev/null; code)"
check_eq "route: stale If-Match is 412" 412 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None"}}' -H 'If-Match: W/"stale"')"
check_eq "route: current If-Match updates (200)" 200 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None"}}' -H "If-Match: $ETAG")"
check_eq "route: If-None-Match * on an existing route is 412" 412 "$(put r1 '{"properties":{"addressPrefix":"10.9.0.0/16","nextHopType":"None"}}' -H 'If-None-Match: *')"
check_eq "route: limit of the table" RouteTableRoutesLimitReached "$(status PUT "$API$RG/Microsoft.Network/routeTables/rt-apps/routes/a?$NV" -H "$AUTH" $J -d '{"properties":{"addressPrefix":"10.8.0.0/16","nextHopType":"None"}}' >/dev/null; status PUT "$API$RG/Microsoft.Network/routeTables/rt-apps/routes/b?$NV" -H "$AUTH" $J -d '{"properties":{"addressPrefix":"10.7.0.0/16","nextHopType":"None"}}' >/dev/null; code)"
check_eq "route: DELETE is 202" 202 "$(status DELETE "$R/r1?$NV" -H "$AUTH")"
LOC=$(hdr Location)
check_eq "... Location answers 202 while it runs" 202 "$(status GET "$LOC" -H "$AUTH")"
status GET "$LOC" -H "$AUTH" >/dev/null
check_eq "... then 204" 204 "$(status GET "$LOC" -H "$AUTH")"
check_eq "route: gone after the operation" 404 "$(status GET "$R/r1?$NV" -H "$AUTH")"
check_eq "route: DELETE of an absent route is 204" 204 "$(status DELETE "$R/r1?$NV" -H "$AUTH")"

# ---- NIC ----
N=$API$RG/Microsoft.Network/networkInterfaces/nic-hq
status GET "$N?$NV" -H "$AUTH" >/dev/null
check_eq "NIC: MAC in ARM's form" 00-0D-3A-11-22-33 "$(jq_ 'd["properties"]["macAddress"]')"
NETAG=$(jq_ 'd["etag"]')
python3 -c "import json; d=json.load(open('$TMP/body')); d['properties']['enableIPForwarding']=True; json.dump(d, open('$TMP/nic.json','w'))"
check_eq "NIC: a partial document is 400" 400 "$(status PUT "$N?$NV" -H "$AUTH" $J -d '{"location":"westeurope","properties":{"enableIPForwarding":true}}')"
check_eq "NIC: stale If-Match is 412" 412 "$(status PUT "$N?$NV" -H "$AUTH" $J -H 'If-Match: W/"old"' --data-binary @"$TMP/nic.json")"
check_eq "NIC: GET-modify-PUT with If-Match (200)" 200 "$(status PUT "$N?$NV" -H "$AUTH" $J -H "If-Match: $NETAG" --data-binary @"$TMP/nic.json")"
check "... as an operation" test -n "$(hdr Azure-AsyncOperation)"
check_eq "NIC: a second PUT while it runs is 409" RetryableErrorDueToAnotherOperation "$(status PUT "$N?$NV" -H "$AUTH" $J --data-binary @"$TMP/nic.json" >/dev/null; code)"

# ---- RBAC, paging, faults ----
CTL=http://127.0.0.1:$(port 'r["control"]["port"]')
nsx fa curl -sf -X POST "$CTL/deny" -d '{"identity":"vm-hq-system","actions":["Microsoft.Network/routeTables/routes/write"]}' >/dev/null
check_eq "RBAC: a denied action is 403 AuthorizationFailed" "403 AuthorizationFailed" "$(put r3 '{"properties":{"addressPrefix":"10.6.0.0/16","nextHopType":"None"}}') $(code)"
check "... naming the action" grep -q "Microsoft.Network/routeTables/routes/write" "$TMP/body"
nsx fa curl -sf -X POST "$CTL/deny" -d '{"identity":"vm-hq-system","actions":[]}' >/dev/null
status GET "$API$SUB/providers/Microsoft.Network/networkInterfaces?$NV" -H "$AUTH" >/dev/null
check_eq "NIC list: a page of 2 with a nextLink" "2 True" "$(jq_ 'len(d["value"]), "nextLink" in d' | tr -d '(),')"
NEXT=$(jq_ 'd["nextLink"]')
check_eq "NIC list: the next page ends it" "1 False" "$(status GET "$NEXT" -H "$AUTH" >/dev/null; jq_ 'len(d["value"]), "nextLink" in d' | tr -d '(),')"
nsx fa curl -sf -X POST "$CTL/fault" -d '{"kind":"throttle","count":1,"retry_after":7}' >/dev/null
check_eq "fault: 429 with Retry-After" "429 7" "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps?$NV" -H "$AUTH") $(hdr Retry-After)"
nsx fa curl -sf -X POST "$CTL/expire-tokens" >/dev/null
check_eq "expired token is 401 ExpiredAuthenticationToken" "401 ExpiredAuthenticationToken" "$(status GET "$API$RG/Microsoft.Network/routeTables/rt-apps?$NV" -H "$AUTH") $(code)"
status GET "$IMDS/metadata/identity/oauth2/token?$TOKQ" -H Metadata:true >/dev/null
check "IMDS then issues a new token" test "$(jq_ 'd["access_token"]')" != "$TOK"
finish
