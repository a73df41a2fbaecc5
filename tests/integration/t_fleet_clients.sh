#!/bin/bash
# Remote users in a fleet: `cloudroute client add` at site s1 writes the
# client under <prefix>clients/<name> in a real etcd, and site s2's connector
# routes the client's address through s1's connector (c1's peer on c2 gains
# the client's /32), so the client, connected to c1 only, reaches a host
# behind c2 and back.  `client list` on either connector lists both sites'
# clients with the site and connector serving each (`client show` of the
# other's client: a profile dialling its connector, no private key;
# `client remove` of it: whose it is).
# `client remove` withdraws it.  Records read from etcd are validated: junk
# and an address thief change nothing (and `client list` skips them, naming
# the key).  The daemon publishes clients.json at start and withdraws what
# the file no longer has.  etcd stopped: `client list` lists this
# connector's clients, says on stderr that the fleet's were not read, exits 0.
#
#   wan: bridge br0, etcd on 198.18.0.254:2379; the user u 198.18.0.100
#   cX (X = 1 2): eth0 198.18.0.X/24; tunnel $P-X 100.96.0.X/11;
#        lan0 10.X.0.1/24 -- hX: 10.X.0.2/24, default via 10.X.0.1
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"
. "$TOP/tests/lib/fleet_sites.sh"
ns_new u || { finish; exit 1; }
ip link add "$P-wu" netns "$P-wan" type veth peer name eth0 netns "$P-u"
nsx wan ip link set "$P-wu" master br0 up
nsx u ip link set eth0 up
nsx u ip addr add 198.18.0.100/24 dev eth0
cr() { local x=$1; shift; nsx "c$x" "$CLOUDROUTE" -c "$TMP/c$x.json" "$@"; }
# allowed IPs of connector Y's peer on connector X
allowed() { nsx "c$1" wg show "$P-$1" allowed-ips | awk -v k="$(pub "$2")" '$1 == k { $1 = ""; print }'; }
routes_via() { allowed "$1" "$2" | grep -qw "$3"; }
no_route_via() { ! routes_via "$@"; }
record() { etcd_ctl wan 2379 get --print-value-only "/cloudroute/clients/$1"; }
has_record() { [ -n "$(record "$1")" ]; }
no_record() { [ -z "$(record "$1")" ]; }
served_by() { record "$1" | grep -q "\"site\":\"$2\""; }
user_reaches() { nsx u ping -c 1 -W 1 "$1" >/dev/null 2>&1; }
# jq-like checks of `client list --json` (python3 expression over d)
jcheck() { python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }

for x in 1 2; do site "$x" || { finish; exit 1; }; done
for x in 1 2; do run "$x"; done
check "two sites: h1 reaches h2" wait_for 15 reach 1 2

# ---- client add at s1: etcd record, route at s2 ----------------------------
cr 1 client add alice --endpoint 198.18.0.1:51820 >"$TMP/alice.conf" 2>"$TMP/add.err"
check "client add alice at c1" grep -q '^\[Interface\]' "$TMP/alice.conf"
A=$(sed -n 's/^Address = //p' "$TMP/alice.conf")
A=${A%/*}
check "alice has an overlay address" test -n "$A"
check "pushed routes: the overlay, s1's subnet and s2's (the fleet)" \
	grep -qx "AllowedIPs = 10.1.0.0/24, 10.2.0.0/24, 100.96.0.0/11" "$TMP/alice.conf"
rec=$(record alice)
check_eq "etcd: /cloudroute/clients/alice is her record, served by s1/c1" \
	"{\"public_key\":\"$(cr 1 client list --json | python3 -c 'import json,sys; print([c["public_key"] for c in json.load(sys.stdin)["clients"] if c["name"] == "alice"][0])' 2>/dev/null)\",\"address\":\"$A/32\",\"site\":\"s1\",\"connector\":\"c1\"}" \
	"$rec"
check "c2 routes alice's address through c1 (c1's peer gains $A/32)" wait_for 5 routes_via 2 1 "$A/32"
check "c2's kernel sends $A into its tunnel" sh -c \
	"ip netns exec $P-c2 ip route get $A | grep -q 'dev $P-2'"
check_not "c1 does not route its own client through a fleet peer" routes_via 1 2 "$A/32"

# ---- client list / show: every connector's clients ---------------------------
cr 2 client add erin --endpoint 198.18.0.2:51820 >"$TMP/erin.conf" 2>>"$TMP/add.err"
E=$(sed -n 's/^Address = //p' "$TMP/erin.conf")
check "client add erin at c2" test -n "$E"
cr 2 client list >"$TMP/list2" 2>"$TMP/list2.err"
check "c2: client list exits 0" test $? = 0
check "c2: header with SITE and CONNECTOR" grep -Eqx \
	'NAME +ADDRESS +HANDSHAKE +RX +TX +SITE +CONNECTOR' "$TMP/list2"
check "c2 lists alice, served by s1/c1, no handshake or bytes" grep -Eqx \
	"alice +$A/32 +- +- +- +s1 +c1" "$TMP/list2"
check "c2 lists erin as its own" grep -Eqx \
	"erin +$E +(tunnel down|not on tunnel|never|[0-9]+ s ago) +0 +0 +s2 +c2 \(here\)" "$TMP/list2"
check_eq "c2: two clients, nothing on stderr" "3:" "$(wc -l <"$TMP/list2"):$(cat "$TMP/list2.err")"
cr 1 client list >"$TMP/list1" 2>&1
check "c1 lists alice as its own and erin as s2/c2's" bash -c "grep -Eq '^alice +$A/32 .* s1 +c1 \(here\)\$' '$TMP/list1' &&
	grep -Eqx 'erin +$E +- +- +- +s2 +c2' '$TMP/list1'"
cr 2 client list --json >"$TMP/list2.json"
check "c2 --json: alice in fleet_clients with her key, site s1 and connector c1" jcheck \
	"$TMP/list2.json" "[(c['address'], c['site'], c['connector'], c['connector_present'], len(c['public_key'])) for c in d['fleet_clients']] == [('$A/32', 's1', 'c1', True, 44)]"
check "c2 --json: its own erin keeps every field, plus site, connector, published" jcheck \
	"$TMP/list2.json" "[sorted(c) for c in d['clients']] == [sorted(['name', 'address', 'public_key', 'created', 'live', 'last_handshake', 'rx_bytes', 'tx_bytes', 'site', 'connector', 'published'])] and d['clients'][0]['published'] is True and d['fleet'] == {'read': True}"
cr 2 client show alice >"$TMP/alice2.conf" 2>"$TMP/show2.err"
check "c2: client show alice (s1's client) dials c1: c1's key and endpoint" bash -c \
	"grep -qx 'PublicKey = $(pub 1)' '$TMP/alice2.conf' && grep -qx 'Endpoint = 198.18.0.1:51820' '$TMP/alice2.conf'"
check_eq "c2's profile of alice: her address and the fleet's routes, as c1 pushed them" \
	"$(grep -E '^(Address|AllowedIPs) = ' "$TMP/alice.conf")" \
	"$(grep -E '^(Address|AllowedIPs) = ' "$TMP/alice2.conf")"
check_not "c2's profile of alice has no private key" grep -q '^PrivateKey' "$TMP/alice2.conf"
check "c2: show says who serves alice" grep -q "alice is served by connector s1/c1" "$TMP/show2.err"
cr 2 client show alice --full-tunnel >/dev/null 2>"$TMP/show2.err"
check "c2: show alice --full-tunnel fails: c1's egress is for c1 to know" bash -c \
	"[ $? = 1 ] && grep -qF '\`cloudroute client show alice --full-tunnel\` there' '$TMP/show2.err'"
cr 2 client show nobody >/dev/null 2>"$TMP/show2.err"
check "c2: show of a client nobody has fails" bash -c \
	"[ $? = 1 ] && grep -qF 'no client \"nobody\" here or in the fleet' '$TMP/show2.err'"
cr 1 client remove erin >/dev/null 2>"$TMP/rm1.err"
check "c1: remove of s2's client fails" test $? = 1
check "... saying whose it is and where to remove it" grep -qF \
	"no client \"erin\" here: it is s2/c2's; \`cloudroute client remove erin\` there" "$TMP/rm1.err"
check "... and erin's record stays" has_record erin

# the user: wireguard-go with the profile, connected to c1 only
IU=${P}u
track_sock "$IU"
bg u env WG_PROCESS_FOREGROUND=1 WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	wireguard-go -f "$IU" >"$TMP/u-wg.log" 2>&1
wait_for 5 nsx u ip link show "$IU"
wg-quick strip "$TMP/alice.conf" >"$TMP/alice.wg"
nsx u wg setconf "$IU" "$TMP/alice.wg"
nsx u ip addr add "$A/32" dev "$IU"
nsx u ip link set "$IU" mtu 1420 up
for r in $(sed -n 's/^AllowedIPs = //p' "$TMP/alice.conf" | tr -d ,); do
	nsx u ip route add "$r" dev "$IU"
done
check "alice reaches h1 (behind c1, her connector)" wait_for 10 user_reaches 10.1.0.2
check "alice reaches h2 behind c2, and h2's reply finds her through c1" wait_for 10 user_reaches 10.2.0.2

# ---- records from etcd are validated ----------------------------------------
allowed 2 1 >"$TMP/before"
etcd_ctl wan 2379 put /cloudroute/clients/junk '{"public_key": 1}' >/dev/null
etcd_ctl wan 2379 put /cloudroute/clients/thief \
	"{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"address\": \"$A/32\", \"site\": \"s1\", \"connector\": \"c1\"}" >/dev/null
etcd_ctl wan 2379 put /cloudroute/clients/extra \
	"{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"address\": \"100.96.9.9/32\", \"site\": \"s1\", \"connector\": \"c1\", \"x\": \"y\"}" >/dev/null
check "c2 logs the malformed record with its key" wait_for 5 grep -q \
	"fleet: ignoring /cloudroute/clients/junk: \"public_key\" is not a string" "$TMP/c2.log"
check "c2 logs the address thief (younger record)" wait_for 5 grep -q \
	"fleet: ignoring /cloudroute/clients/thief: address is client alice's (older)" "$TMP/c2.log"
check "c2 logs the record with an unknown member" wait_for 5 grep -q \
	"fleet: ignoring /cloudroute/clients/extra: unknown member \"x\"" "$TMP/c2.log"
check_eq "bad records change nothing on c2" "$(cat "$TMP/before")" "$(allowed 2 1)"
# (c1 withdraws the thief, a record naming c1 that its clients.json lacks:
# the list's thief names a connector that is not there)
K2=$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)
etcd_ctl wan 2379 put /cloudroute/clients/thief2 \
	"{\"public_key\": \"$K2\", \"address\": \"$A/32\", \"site\": \"s9\", \"connector\": \"c9\"}" >/dev/null
etcd_ctl wan 2379 put /cloudroute/clients/dave \
	"{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"address\": \"100.96.9.10/32\", \"site\": \"s9\", \"connector\": \"c9\"}" >/dev/null
ESC=$(printf '\033')
etcd_ctl wan 2379 put "/cloudroute/clients/e$ESC[2J" '{}' >/dev/null
cr 2 client list >"$TMP/list2" 2>"$TMP/list2.err"
check "c2's list skips the malformed record, naming its key" grep -q \
	"fleet: ignoring /cloudroute/clients/junk: \"public_key\" is not a string" "$TMP/list2.err"
check "c2's list skips the address thief, naming its key" grep -q \
	"fleet: ignoring /cloudroute/clients/thief2: address is client alice's (older)" "$TMP/list2.err"
check "c2's list skips the record with an unknown member" grep -q \
	"fleet: ignoring /cloudroute/clients/extra: unknown member \"x\"" "$TMP/list2.err"
check_not "c2's list prints no record's value" bash -c \
	"grep -Eq '100\.96\.9\.9|\{' '$TMP/list2.err' || grep -Fq '$K2' '$TMP/list2.err'"
check "c2's list names a key that is no client name, its escape defused" grep -qF \
	"fleet: ignoring /cloudroute/clients/e?[2J: not a client name" "$TMP/list2.err"
check_not "... and prints no terminal escape" grep -q "$ESC" "$TMP/list2.err"
check_not "junk, thief2 and extra are not listed" grep -Eq '^(junk|thief|extra)' "$TMP/list2"
check "dave, whose connector is not in the fleet, is listed as away" grep -Eqx \
	"dave +100.96.9.10/32 +- +- +- +s9 +c9 \(away\)" "$TMP/list2"
cr 2 client show dave >/dev/null 2>"$TMP/show2.err"
check "c2: show dave fails: c9's key and endpoint are not known" bash -c \
	"[ $? = 1 ] && grep -qF 'dave is served by s9/c9, which is not in the fleet now' '$TMP/show2.err'"
etcd_ctl wan 2379 del /cloudroute/clients/dave >/dev/null
# erin's record taken over by another connector: c2 lists both and says why
etcd_ctl wan 2379 put /cloudroute/clients/erin \
	"{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"address\": \"100.96.9.12/32\", \"site\": \"s9\", \"connector\": \"c9\"}" >/dev/null
cr 2 client list >"$TMP/list2" 2>"$TMP/list2.err"
check "c2 lists its erin and s9/c9's" bash -c "grep -Eq '^erin +$E .* s2 +c2 \(here\)\$' '$TMP/list2' &&
	grep -Eqx 'erin +100.96.9.12/32 +- +- +- +s9 +c9 \(away\)' '$TMP/list2'"
check "... and says that its own is not published" grep -qF \
	"fleet: client erin is s9/c9's in etcd (that record stands); this connector's is not published" \
	"$TMP/list2.err"
etcd_ctl wan 2379 del /cloudroute/clients/erin >/dev/null
check "c2 publishes erin again once the name is free" wait_for 5 served_by erin s2
etcd_ctl wan 2379 del /cloudroute/clients/thief2 >/dev/null
etcd_ctl wan 2379 del "/cloudroute/clients/e$ESC[2J" >/dev/null
check "alice still reaches h2" user_reaches 10.2.0.2
etcd_ctl wan 2379 del --prefix /cloudroute/clients/junk >/dev/null
etcd_ctl wan 2379 del /cloudroute/clients/thief >/dev/null
etcd_ctl wan 2379 del /cloudroute/clients/extra >/dev/null

# ---- client remove ------------------------------------------------------------
check "client remove alice at c1" cr 1 client remove alice
check "etcd: alice's record is gone" no_record alice
check "c2 no longer routes $A through c1" wait_for 5 no_route_via 2 1 "$A/32"
check_not "alice no longer reaches h2" user_reaches 10.2.0.2
check "h1 still reaches h2" reach 1 2

# ---- the daemon publishes clients.json at start, withdraws what is gone -------
cr 1 client add bob --endpoint 198.18.0.1:51820 >"$TMP/bob.conf" 2>>"$TMP/add.err"
B=$(sed -n 's/^Address = //p' "$TMP/bob.conf")
check "bob's record is in etcd" has_record bob
kill -TERM "${PID[1]}"; wait "${PID[1]}" 2>/dev/null
etcd_ctl wan 2379 del /cloudroute/clients/bob >/dev/null
check "bob's record deleted behind c1's back (c1 stopped)" no_record bob
etcd_ctl wan 2379 put /cloudroute/clients/ghost \
	"{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"address\": \"100.96.9.11/32\", \"site\": \"s1\", \"connector\": \"c1\"}" >/dev/null
cr 1 client list --json >"$TMP/list1.json" 2>"$TMP/list1.err"
check "c1's list: bob is not published" jcheck "$TMP/list1.json" \
	"[c['published'] for c in d['clients'] if c['name'] == 'bob'] == [False]"
check "... and says so on stderr" grep -q \
	"fleet: client bob is not in etcd as this connector has it yet" "$TMP/list1.err"
check "c1's list: a record naming c1 that clients.json lacks is pointed out" grep -q \
	"fleet: /cloudroute/clients/ghost names this connector, but $TMP/state1/clients.json has no such client" \
	"$TMP/list1.err"
check_not "... and not listed" grep -q '"ghost"' "$TMP/list1.json"
run 1
check "c1 starts and publishes bob from clients.json" wait_for 10 has_record bob
check "c2 routes bob through c1 again" wait_for 10 routes_via 2 1 "$B"
check "c1 logs the publication" grep -q "fleet: published client bob" "$TMP/c1.log"
check "c1 withdraws the ghost naming it" wait_for 5 no_record ghost
# clients.json edited by hand without bob: the daemon withdraws his record
echo '{"clients": []}' >"$TMP/state1/clients.json.new"
mv "$TMP/state1/clients.json.new" "$TMP/state1/clients.json"
check "c1 withdraws bob once clients.json no longer has him" wait_for 5 no_record bob
check "c2 stops routing bob" wait_for 5 no_route_via 2 1 "$B"
# a clients.json that does not parse changes nothing (in etcd or the tunnel)
cr 1 client add carol --endpoint 198.18.0.1:51820 >/dev/null 2>>"$TMP/add.err"
check "carol's record is in etcd" wait_for 5 has_record carol
echo '{"clients": [{"name": "carol"}]}' >"$TMP/state1/clients.json.new"
mv "$TMP/state1/clients.json.new" "$TMP/state1/clients.json"
sleep 2
check "a bad clients.json withdraws nothing from etcd" has_record carol
check "c1 names the file and the entry" wait_for 5 grep -q "clients.json: clients\[0\]: \"name\", \"public_key\" and \"address\" are required" "$TMP/c1.log"

for x in 1 2; do kill -TERM "${PID[$x]}"; done
for x in 1 2; do wait "${PID[$x]}" 2>/dev/null; done
check "clients outlive their connector's lease (not attached to it)" has_record carol

# ---- etcd away: the local list, a note, exit 0 --------------------------------
etcd_stop
cr 2 client list >"$TMP/list2" 2>"$TMP/list2.err"
check "etcd stopped: client list exits 0" test $? = 0
check "etcd stopped: c2 still lists erin, its own" grep -Eq "^erin +$E .* s2 +c2 \(here\)\$" "$TMP/list2"
check "etcd stopped: only c2's own are listed" test "$(wc -l <"$TMP/list2")" = 2
check "etcd stopped: stderr says the fleet's clients were not read" grep -q \
	"the fleet's clients were not read: only this connector's are listed" "$TMP/list2.err"
cr 2 client list --json >"$TMP/list2.json" 2>/dev/null
check "etcd stopped: --json says fleet.read false, lists erin, no fleet client" jcheck \
	"$TMP/list2.json" "d['fleet']['read'] is False and d['fleet']['error'] and [c['name'] for c in d['clients']] == ['erin'] and d['fleet_clients'] == [] and 'published' not in d['clients'][0]"
cr 2 client show alice >/dev/null 2>"$TMP/show2.err"
check "etcd stopped: show of another site's client fails clearly" bash -c \
	"[ $? = 1 ] && grep -qF 'no client \"alice\" here, and the fleet'\''s clients were not read' '$TMP/show2.err'"
if [ "$FAIL" != 0 ]; then
	for x in 1 2; do echo "# --- c$x.log"; tail -n 20 "$TMP/c$x.log" | sed 's/^/#   /'; done
	sed 's/^/# add: /' "$TMP/add.err"
	sed 's/^/# list: /' "$TMP/list2.err"
fi
finish
