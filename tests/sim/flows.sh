# The connector guide's traffic flows on the simulated cloud (topo.sh), as
# functions shared by t_flows.sh (every assertion is a check line) and
# demo.sh (one line per flow).  Each flow_* function sets FLOW_DETAIL to a
# one-line account of what was seen.  Source after netns.sh and topo.sh.
#
# Overlay 100.96.0.0/11: user 100.96.0.2, hq 100.96.0.1, br 100.96.0.3,
# s3 100.96.0.4, ha1/ha2 100.96.0.40 (one WireGuard identity, active/standby).
#
# SIM_FLEET=1 (`make demo`): the sites find each other through a real etcd
# in the cloud namespace (169.254.169.254:2379, reached like the IMDS; see
# sim_fleet_start) instead of static peers: hq, br and s3 carry only the
# remote user as a static peer and a "fleet" section (site = ha_group, the
# endpoint their cloud public IP); s3 joins and leaves without any config
# change or reload; the HA pair ha1/ha2 holds an election in a prefix of its
# own (its shared WireGuard identity is for the user, not for other sites)
# and kill -9 of the leader hands the routes to the standby at once.
. "$TOP/tests/lib/etcd.sh"

WHOAMI=$TOP/tests/lib/whoami.py
FLOW_DETAIL=
SIM_FLEET=${SIM_FLEET:-0}
SIM_ETCD=http://169.254.169.254:2379

# sim_fleet_start: etcd for SIM_FLEET=1 (after sim_build).
sim_fleet_start() {
	ETCD_CLIENT_URLS=$SIM_ETCD,http://127.0.0.1:2379 etcd_start cloud sim 2379
}
# fleet_member NAME [PREFIX]: the "fleet" config member of connector NAME.
fleet_member() {
	printf '"fleet": { "etcd": ["%s"], "prefix": "%s", "name": "%s", "lease_ttl": 2 }' \
		"$SIM_ETCD" "${2:-/cloudroute/}" "$1"
}
# fleet_leader SITE [PREFIX]: the name in etcd's leaders/SITE.
fleet_leader() {
	etcd_ctl cloud 2379 get --print-value-only "${2:-/cloudroute/}leaders/$1" 2>/dev/null
}

# who NS HOST PORT: the address HOST:PORT saw us coming from.
who() { nsx "$1" python3 "$WHOAMI" get "$2" "$3" 2>/dev/null; }
# probe NS HOST PORT TIMEOUT: like who, with a short timeout (for HA timing).
probe() {
	nsx "$1" python3 -c 'import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    s.settimeout(float(sys.argv[3]))
    print(s.recv(200).decode().strip())
except OSError:
    sys.exit(1)' "$2" "$3" "$4" 2>/dev/null
}
# has SITE TEXT: the VPC router of SITE has a vpcsync route line containing TEXT.
has() { ip -n "$(ns "vpc-$1")" route show table all proto 99 | grep -qF -- "$2"; }
lacks() { ! has "$@"; }
# rt RTB DEST TARGET STATE: the fake's route table holds exactly that route.
rt() { sim_routes "$1" | grep -qxF -- "$2 $3 $4"; }
rt_none() { ! sim_routes "$1" | grep -q "^$2 "; }
eni_check() { sim_ctl GET /state | python3 -c '
import json, sys
print([e["source_dest_check"] for e in json.load(sys.stdin)["network_interfaces"]
       if e["id"] == sys.argv[1]][0])' "$1"; }
eni_off() { [ "$(eni_check "$1")" = False ]; }
# sees NS HOST PORT ADDR: HOST:PORT saw us coming from ADDR.
sees() { [ "$(probe "$1" "$2" "$3" 1)" = "$4" ]; }
mutations() { sim_ctl GET /counts | python3 -c 'import json, sys; print(json.load(sys.stdin)["counts"]["mutating"])'; }
# status_has NAME TEXT: `cloudroute status` of connector NAME shows TEXT.
status_has() { sim_cr "$1" status 2>&1 | grep -qF -- "$2"; }
# replace_after T0_NS: seconds from T0 to the log entry of ha2's first ReplaceRoute
# (the fake logs after answering; its hook has changed the router before).
replace_after() {
	python3 -c '
import json, sys
t0 = int(sys.argv[2]) / 1e9
ts = [e["time"] for e in map(json.loads, open(sys.argv[1]))
      if e.get("action") == "ReplaceRoute" and e.get("source") == "172.20.0.12"
      and e["time"] >= t0 - 1]
print("%.1f" % (min(ts) - t0) if ts else "?")' "$SIM/api.log" "$1"
}
# detail TEXT: append to FLOW_DETAIL.
detail() { FLOW_DETAIL="$FLOW_DETAIL${FLOW_DETAIL:+; }$*"; }

# ---- configs -----------------------------------------------------------
conf_hq() {    # conf_hq nat|nonat [s3]
	local peers extra
	peers="$(sim_peer user user - 100.96.0.2/32)"
	[ "$SIM_FLEET" = 1 ] || peers="$peers,
	  $(sim_peer br br 203.0.113.20:51820 100.96.0.3/32 192.168.0.0/22)"
	[ "${2:-}" = s3 ] && [ "$SIM_FLEET" != 1 ] && peers="$peers,
	  $(sim_peer s3 s3 203.0.113.30:51820 100.96.0.4/32 172.16.0.0/24)"
	if [ "$1" = nat ]; then
		extra='"nat": { "masquerade": true }'
	else
		extra='"nat": { "masquerade": false, "exclude": ["10.0.0.0/16"] }, "egress": true'
	fi
	[ "$SIM_FLEET" = 1 ] && extra="$extra, $(fleet_member hq)"
	sim_conf hq hq 100.96.0.1 '["10.0.0.0/18"]' "$peers" hq "$extra"
}
conf_br() {    # conf_br [s3]
	local peers extra
	peers="$(sim_peer user user - 100.96.0.2/32)"
	[ "$SIM_FLEET" = 1 ] || peers="$(sim_peer hq hq 203.0.113.10:51820 100.96.0.1/32 10.0.0.0/18),
	  $peers"
	[ "${1:-}" = s3 ] && [ "$SIM_FLEET" != 1 ] && peers="$peers,
	  $(sim_peer s3 s3 203.0.113.30:51820 100.96.0.4/32 172.16.0.0/24)"
	extra='"nat": { "masquerade": true },
	  "port_forwards": [ { "protocol": "tcp", "port": 33000, "to": "192.168.100.30:8080" } ]'
	[ "$SIM_FLEET" = 1 ] && extra="$extra, $(fleet_member br)"
	sim_conf br br 100.96.0.3 '["192.168.0.0/22", "192.168.100.0/24"]' "$peers" br "$extra"
}
conf_s3() {
	if [ "$SIM_FLEET" = 1 ]; then
		sim_conf s3 s3 100.96.0.4 '["172.16.0.0/24"]' "" s3 "$(fleet_member s3)"
		return
	fi
	sim_conf s3 s3 100.96.0.4 '["172.16.0.0/24"]' \
		"$(sim_peer hq hq 203.0.113.10:51820 100.96.0.1/32 10.0.0.0/18),
	  $(sim_peer br br 203.0.113.20:51820 100.96.0.3/32 192.168.0.0/22)" s3
}
# Both share one WireGuard identity: the user keeps one peer and follows
# whichever connector last shook hands (endpoint roaming).  No NAT: replies
# may come back through the other connector, and the VPC route to the
# overlay carries them.
conf_ha() {    # conf_ha ha1|ha2
	local extra='"nat": { "masquerade": false }'
	[ "$SIM_FLEET" = 1 ] && extra="$extra, $(fleet_member "$1" /cloudroute-ha/)"
	sim_conf "$1" ha 100.96.0.40 '["172.20.0.0/24"]' \
		"$(sim_peer user user 192.0.2.2:51820 100.96.0.2/32)" ha "$extra"
}

# reload NAME: SIGHUP a running connector.
reload() { kill -HUP "${SIM_PID[$1]}"; }
alive() { kill -0 "${SIM_PID[$1]}" 2>/dev/null; }

# ---- the simulation's own guard: the source/dest check is enforced ------
# A route the cloud itself points at ha2's ENI (address 100.127.0.1 on ha2)
# carries nothing while the ENI's check is on, and works once it is off.
# mutate ACTION PARAMS: an EC2 operation run by the cloud itself (control API).
mutate() { sim_ctl POST /mutate "{\"action\": \"$1\", \"params\": {$2}}" >/dev/null; }
flow_sim_check() {
	FLOW_DETAIL=
	nsx ha2 ip addr add 100.127.0.1/32 dev lo
	bg ha2 python3 "$WHOAMI" serve 8081 100.127.0.1
	wait_for 5 probe ha2 100.127.0.1 8081 1
	check "sim: the cloud routes 100.127.0.0/16 to eni-ha2" mutate CreateRoute \
		'"RouteTableId": "rtb-ha", "DestinationCidrBlock": "100.127.0.0/16", "NetworkInterfaceId": "eni-ha2"'
	check "sim: the route appears in the VPC router" has ha "100.127.0.0/16 via 172.20.0.12"
	check_not "sim: check on: the app cannot reach 100.127.0.1 behind ha2" probe haapp 100.127.0.1 8081 1
	check "sim: the cloud turns eni-ha2's check off" mutate ModifyNetworkInterfaceAttribute \
		'"NetworkInterfaceId": "eni-ha2", "SourceDestCheck.Value": "false"'
	check "sim: check off: the app reaches 100.127.0.1 behind ha2" wait_for 5 probe haapp 100.127.0.1 8081 1
	check "sim: eni-ha2's check back on" mutate ModifyNetworkInterfaceAttribute \
		'"NetworkInterfaceId": "eni-ha2", "SourceDestCheck.Value": "true"'
	check "sim: the cloud deletes the route" mutate DeleteRoute \
		'"RouteTableId": "rtb-ha", "DestinationCidrBlock": "100.127.0.0/16"'
	check "sim: the deleted route leaves the VPC router" lacks ha "100.127.0.0/16"
	nsx ha2 ip addr del 100.127.0.1/32 dev lo
	detail "a route to an ENI whose source/dest check is on carries nothing; off, it does"
}

# flows_end T0: the tests' last checks (the connectors still run), the time
# taken, and on failure the tails of the logs.
flows_end() {
	local n
	for n in hq br ha2; do
		check "$n is still running" alive "$n"
	done
	echo "# suite took $((SECONDS - $1)) s"
	[ "$FAIL" = 0 ] && return
	for n in hq br s3 ha1 ha2; do
		[ -s "$SIM/$n.log" ] && { echo "# --- $n.log (tail)"; tail -n 15 "$SIM/$n.log" | sed 's/^/#   /'; }
	done
	[ -s "$SIM/fake.err" ] && { echo "# --- fake.err (tail)"; tail -n 15 "$SIM/fake.err" | sed 's/^/#   /'; }
}

# ---- start HQ, Branch and the user ----------------------------------------
flows_start() {
	local k
	FLOW_DETAIL=
	for k in hq br s3 ha user; do sim_key "$k" || return 1; done
	conf_hq nat
	conf_br
	check "hq config is valid" sim_cr hq check
	sim_cr hq plan >"$SIM/plan-hq.txt" 2>&1
	check_eq "hq plan before the first apply exits 2" 2 $?
	check "plan shows the overlay route for rtb-hq" grep -q '+ cloud route rtb-hq 100.96.0.0/11 -> eni-hq' "$SIM/plan-hq.txt"
	if [ "$SIM_FLEET" = 1 ]; then   # the Branch is learnt from etcd once it runs
		check_not "plan: no Branch subnet before the fleet is read" grep -q '192.168.0.0/22' "$SIM/plan-hq.txt"
	else
		check "plan shows the Branch subnet for rtb-hq" grep -q '+ cloud route rtb-hq 192.168.0.0/22 -> eni-hq' "$SIM/plan-hq.txt"
	fi
	check_not "before cloudroute: hq app has no route to the overlay" has hq "100.96.0.0/11"
	sim_user "hq 203.0.113.10:51820 100.96.0.1/32,10.0.0.0/16,198.51.100.80/32" \
		"br 203.0.113.20:51820 100.96.0.3/32" \
		"ha 203.0.113.41:51820 100.96.0.40/32,172.20.0.0/24" || return 1
	check_not "before cloudroute: the user cannot reach the HQ app" probe user 10.0.0.20 8080 1
	sim_run hq
	sim_run br
	check "hq writes 100.96.0.0/11 into its VPC router" wait_for 20 has hq "100.96.0.0/11 via 10.0.0.10"
	check "hq writes 192.168.0.0/22 into its VPC router" wait_for 10 has hq "192.168.0.0/22 via 10.0.0.10"
	check "br writes 100.96.0.0/11 into its VPC router" wait_for 20 has br "100.96.0.0/11 via 192.168.0.10"
	check "br writes 10.0.0.0/18 into its VPC router" wait_for 10 has br "10.0.0.0/18 via 192.168.0.10"
	check "rtb-hq: 100.96.0.0/11 -> eni-hq active" rt rtb-hq 100.96.0.0/11 eni-hq active
	check "the main table of HQ is untouched" rt_none rtb-hq-main 100.96.0.0/11
	check_eq "hq turned its ENI's source/dest check off" False "$(eni_check eni-hq)"
	check_eq "br turned its ENI's source/dest check off" False "$(eni_check eni-br)"
	check_eq "the HQ app's ENI keeps its check" True "$(eni_check eni-hqapp)"
	check "hq status shows its cloud route" status_has hq "cloud route rtb-hq 100.96.0.0/11 -> eni-hq"
	if [ "$SIM_FLEET" = 1 ]; then
		check_eq "etcd: hq leads site hq" hq "$(fleet_leader hq)"
		check_eq "etcd: br leads site br" br "$(fleet_leader br)"
		check "etcd: br's record advertises its cloud public IP" bash -c "ETCDCTL_API=3 ip netns exec \
		    $(ns cloud) etcdctl --endpoints http://127.0.0.1:2379 get --print-value-only \
		    /cloudroute/sites/br/br | grep -q '\"endpoint\":\"203.0.113.20:51820\"'"
		detail "no static site peers: hq and br found each other in etcd (leaders hq, br)"
	fi
	detail "source/dest check off on eni-hq and eni-br; routes to them in rtb-hq and rtb-br"
}

# 1. Remote user -> HQ app, with NAT, then without (route back in the VPC table).
flow_1() {
	FLOW_DETAIL=
	local a
	check "flow 1: user reaches the HQ app (NAT)" wait_for 15 probe user 10.0.0.20 8080 1
	a=$(who user 10.0.0.20 8080)
	check_eq "flow 1: with NAT the app sees the connector" 10.0.0.10 "$a"
	detail "NAT on: app saw ${a:-nothing}"
	conf_hq nonat
	reload hq
	check "flow 1: after SIGHUP (NAT off) the app sees the user's overlay address" \
		wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
	a=$(who user 10.0.0.20 8080)
	check "flow 1: the way back is cloudroute's route in rtb-hq" rt rtb-hq 100.96.0.0/11 eni-hq active
	check "hq survived the reload" alive hq
	detail "NAT off: app saw ${a:-nothing} (reply via rtb-hq 100.96.0.0/11 -> eni-hq)"
}

# 2. HQ as the internet egress.
flow_2() {
	FLOW_DETAIL=
	local a
	a=$(who user 198.51.100.80 8080)
	check_eq "flow 2: the internet host sees HQ's public address" 203.0.113.10 "$a"
	detail "internet host 198.51.100.80 saw ${a:-nothing} (HQ's EIP; the user is 192.0.2.2)"
}

# 3. Site to site, HQ 10.0.0.0/18 <-> Branch 192.168.0.0/22.
flow_3() {
	FLOW_DETAIL=
	local a b m0 m1
	check "flow 3: HQ app reaches the Branch app" wait_for 15 probe hqapp 192.168.0.20 8080 1
	a=$(who hqapp 192.168.0.20 8080)
	b=$(who brapp 10.0.0.20 8080)
	check_eq "flow 3: Branch app sees the HQ app's own address" 10.0.0.20 "$a"
	check_eq "flow 3: HQ app sees the Branch app's own address" 192.168.0.20 "$b"
	check_eq "flow 3: the HQ app has no route but its default" "default via 10.0.0.1 dev eth0" \
		"$(nsx hqapp ip -4 route show | grep -v 'proto kernel' | sed 's/ *$//')"
	m0=$(mutations); sleep 6; m1=$(mutations)
	check_eq "flow 3: a steady reconcile makes no mutating API call" "$m0" "$m1"
	detail "10.0.0.20 <-> 192.168.0.20 both ways, sources kept; rtb-hq has 192.168.0.0/22 -> eni-hq, rtb-br has 10.0.0.0/18 -> eni-br"
}

# 5. Port forward on the Branch connector.
flow_5() {
	FLOW_DETAIL=
	local a
	check "flow 5: user reaches 100.96.0.3:33000" wait_for 15 probe user 100.96.0.3 33000 1
	a=$(who user 100.96.0.3 33000)
	check_eq "flow 5: 192.168.100.30:8080 answers through the forward" 192.168.0.10 "$a"
	detail "user -> 100.96.0.3:33000 -> 192.168.100.30:8080, which saw ${a:-nothing}"
}

# 4. A third site joins (config + SIGHUP), then leaves.  SIM_FLEET=1: it
# just starts (its record in etcd does the rest) and leaves on SIGTERM.
flow_4() {
	FLOW_DETAIL=
	local a t0
	conf_s3
	if [ "$SIM_FLEET" != 1 ]; then
		conf_hq nonat s3
		conf_br s3
		reload hq
		reload br
	fi
	t0=$SECONDS
	sim_run s3
	check "flow 4: rtb-hq gains 172.16.0.0/24" wait_for 20 has hq "172.16.0.0/24 via 10.0.0.10"
	check "flow 4: rtb-br gains 172.16.0.0/24" wait_for 20 has br "172.16.0.0/24 via 192.168.0.10"
	check "flow 4: rtb-s3 gains 10.0.0.0/18" wait_for 20 has s3 "10.0.0.0/18 via 172.16.0.10"
	check "flow 4: rtb-s3 gains 192.168.0.0/22" wait_for 20 has s3 "192.168.0.0/22 via 172.16.0.10"
	check "flow 4: HQ app reaches the new site's app" wait_for 15 probe hqapp 172.16.0.20 8080 1
	# s3 <-> br is its own path (br's peer, routes and session for s3):
	# ready on its own schedule, not when s3 <-> hq is
	wait_for 15 probe s3app 192.168.0.20 8080 1
	a=$(who s3app 192.168.0.20 8080)
	check_eq "flow 4: new site's app reaches the Branch app" 172.16.0.20 "$a"
	check_eq "flow 4: HQ <-> Branch kept flowing" 10.0.0.20 "$(who hqapp 192.168.0.20 8080)"
	[ "$SIM_FLEET" = 1 ] && detail "s3 joined through etcd, no config change or reload at hq and br"
	detail "joined: rtb-hq, rtb-br gained 172.16.0.0/24 in $((SECONDS - t0)) s; 172.16.0.20 -> 192.168.0.20 saw ${a:-nothing}"
	if [ "$SIM_FLEET" != 1 ]; then
		conf_hq nonat
		conf_br
		reload hq
		reload br
	fi
	kill -TERM "${SIM_PID[s3]}"
	wait "${SIM_PID[s3]}" 2>/dev/null
	check "flow 4: s3 teardown" sim_cr s3 teardown
	check "flow 4: rtb-hq loses 172.16.0.0/24" wait_for 20 lacks hq "172.16.0.0/24"
	check "flow 4: rtb-br loses 172.16.0.0/24" wait_for 20 lacks br "172.16.0.0/24"
	check "flow 4: rtb-s3 is back to local + internet" wait_for 5 lacks s3 "via 172.16.0.10"
	check "flow 4: the fake cloud agrees (rtb-hq)" rt_none rtb-hq 172.16.0.0/24
	check_not "flow 4: HQ app no longer reaches the departed site" probe hqapp 172.16.0.20 8080 1
	detail "left: 172.16.0.0/24 removed from rtb-hq and rtb-br"
}

# 6 with SIM_FLEET=1: HA by election.  ha1 and ha2 form site "ha" in etcd;
# ha1 starts first, wins leaders/ha and holds rtb-ha; ha2 stands by (its NIC
# ready, no route).  kill -9 ha1, whose instance keeps running: once its
# lease expires ha2 wins and writes the route at once (the election is the
# proof), and the HA app reaches the user through it.
flow_6_fleet() {
	FLOW_DETAIL=
	local t0 secs
	conf_ha ha1
	conf_ha ha2
	sim_run ha1
	check "flow 6: ha1 wins the election and takes 100.96.0.0/11" \
		wait_for 20 has ha "100.96.0.0/11 via 172.20.0.11"
	check_eq "flow 6: etcd: ha1 leads site ha" ha1 "$(fleet_leader ha /cloudroute-ha/)"
	sim_run ha2
	check "flow 6: ha2 is up and has turned its check off" wait_for 20 eni_off eni-ha2
	check "flow 6: ha2 is the standby" \
		wait_for 10 grep -Eq '"role": ?"standby"' "$SIM/state-ha2/fleet.json"
	check "flow 6: the standby leaves the active route alone" rt rtb-ha 100.96.0.0/11 eni-ha1 active
	check "flow 6: HA app reaches the user through the leader" \
		wait_for 15 sees haapp 100.96.0.2 8080 172.20.0.20
	t0=$(date +%s.%N)
	kill -9 "${SIM_PID[ha1]}"
	wait "${SIM_PID[ha1]}" 2>/dev/null
	if secs=$(until_seen haapp 100.96.0.2 8080 172.20.0.20 "$t0"); then
		echo "# failover: $secs s from kill -9 of the leader to traffic through the standby (etcd election, lease_ttl 2)"
		check "flow 6: traffic through ha2 within lease_ttl + 3 s" \
			awk -v f="$secs" 'BEGIN { exit !(f <= 5) }'
	else
		secs=
		check "flow 6: traffic flows again after kill -9 of the leader" false
	fi
	check_eq "flow 6: etcd: ha2 leads site ha" ha2 "$(fleet_leader ha /cloudroute-ha/)"
	check "flow 6: ha2 now owns the route" rt rtb-ha 100.96.0.0/11 eni-ha2 active
	check "flow 6: the VPC router follows" has ha "100.96.0.0/11 via 172.20.0.12"
	check "flow 6: ha2 wrote it at once" grep -q "fleet takeover: 1 route written at once" "$SIM/ha2.log"
	check_eq "flow 6: ha2's first EC2 write after the kill replaces the route" \
		"ReplaceRoute rtb-ha 100.96.0.0/11 eni-ha2" "$(python3 -c '
import json, sys
t0 = float(sys.argv[2])
for e in map(json.loads, open(sys.argv[1])):
    if e.get("source") == "172.20.0.12" and e.get("mutating") and e["time"] > t0:
        p = e.get("params", {})
        print(e.get("action"), p.get("RouteTableId"), p.get("DestinationCidrBlock"), p.get("NetworkInterfaceId"))
        break' "$SIM/api.log" "$t0")"
	detail "kill -9 ha1 (instance still running): ${secs:-no} s to traffic via ha2, elected in etcd"
	SIM_FAILOVER=$secs
}

# 6. HA: ha1 active, ha2 standby in ha_group "ha" (takeover "blackhole").
flow_6() {
	[ "$SIM_FLEET" = 1 ] && { flow_6_fleet; return; }
	FLOW_DETAIL=
	local t0 t1 secs a
	conf_ha ha1
	conf_ha ha2
	sim_run ha1
	check "flow 6: ha1 takes 100.96.0.0/11" wait_for 20 has ha "100.96.0.0/11 via 172.20.0.11"
	sim_run ha2
	check "flow 6: ha2 is up and has turned its check off" wait_for 20 eni_off eni-ha2
	check "flow 6: ha2 finished its first apply" wait_for 10 grep -q "running:" "$SIM/ha2.log"
	check "flow 6: the standby leaves the active route alone" rt rtb-ha 100.96.0.0/11 eni-ha1 active
	check "flow 6: HA app reaches the user through the active connector" wait_for 15 probe haapp 100.96.0.2 8080 1
	a=$(who haapp 100.96.0.2 8080)
	check_eq "flow 6: the user sees the HA app" 172.20.0.20 "$a"
	t0=$(date +%s%N)
	kill -9 "${SIM_PID[ha1]}"
	wait "${SIM_PID[ha1]}" 2>/dev/null
	sim_ctl POST /terminate '{"instance_id": "i-ha1"}' >/dev/null
	# The hook runs before /terminate answers, so the VPC router has already
	# gone blackhole (ha2 may take the route over at any moment after).
	check "flow 6: terminate turns the route blackhole in the VPC router" \
		grep -q "vpc-ha: route replace blackhole 100.96.0.0/11 " "$SIM/vpcsync.log"
	if wait_for 40 probe haapp 100.96.0.2 8080 0.5; then
		t1=$(date +%s%N)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
		SIM_REPLACE=$(replace_after "$t0")
		echo "# failover: $secs s (fake logged ha2's ReplaceRoute at $SIM_REPLACE s; reconcile_interval 5)"
		check "flow 6: traffic flows again after the failover" true
	else
		secs=
		check "flow 6: traffic flows again after the failover (40 s)" false
	fi
	check "flow 6: ha2 now owns the route" rt rtb-ha 100.96.0.0/11 eni-ha2 active
	check "flow 6: the VPC router follows" has ha "100.96.0.0/11 via 172.20.0.12"
	detail "kill -9 ha1 + terminate: ${secs:-no} s to traffic via ha2"
	SIM_FAILOVER=$secs
}

# 7. A remote user added with `cloudroute client add` on HQ: the profile
# (endpoint = HQ's public IP from the cloud's metadata, pushed routes) goes
# into the user's wireguard-go in place of its hand-made configuration.
# Runs last: it replaces the user's peers.
flow_7() {
	FLOW_DETAIL=
	local u=${P}u a addr r
	(umask 077; sim_cr hq client add alice >"$SIM/alice.conf" 2>>"$SIM/hq.log")
	check "flow 7: client add alice on hq" grep -q '^\[Interface\]' "$SIM/alice.conf"
	check "flow 7: the endpoint is HQ's public IP (cloud metadata)" \
		grep -qx "Endpoint = 203.0.113.10:51820" "$SIM/alice.conf"
	if [ "$SIM_FLEET" = 1 ]; then   # the Branch's subnets from its record in etcd
		check "flow 7: pushed routes: HQ, the overlay and the Branch (from etcd)" \
			grep -qx "AllowedIPs = 10.0.0.0/18, 100.96.0.0/11, 192.168.0.0/22, 192.168.100.0/24" \
			"$SIM/alice.conf"
		check_not "flow 7: alice's address is not the Branch connector's (from etcd)" \
			grep -qx "Address = 100.96.0.3/32" "$SIM/alice.conf"
	else
		check "flow 7: pushed routes: HQ, the overlay and the Branch" \
			grep -qx "AllowedIPs = 10.0.0.0/18, 100.96.0.0/11, 192.168.0.0/22" "$SIM/alice.conf"
	fi
	addr=$(sed -n 's/^Address = //p' "$SIM/alice.conf")
	wg-quick strip "$SIM/alice.conf" >"$SIM/alice.wg" &&
		nsx user wg setconf "$u" "$SIM/alice.wg"
	nsx user ip addr flush dev "$u"
	nsx user ip addr add "$addr" dev "$u"
	nsx user ip route flush dev "$u"
	for r in $(sed -n 's/^AllowedIPs = //p' "$SIM/alice.conf" | tr -d ,); do
		nsx user ip route add "$r" dev "$u"
	done
	check "flow 7: alice reaches the HQ app" wait_for 15 probe user 10.0.0.20 8080 1
	a=$(who user 10.0.0.20 8080)
	check_eq "flow 7: the app sees alice's overlay address" "${addr%/*}" "$a"
	sleep 6
	check "flow 7: alice stays through hq's reconcile (clients source)" probe user 10.0.0.20 8080 1
	r=$(sim_cr hq client list 2>&1)
	check "flow 7: client list shows the handshake" grep -Eq "^alice +$addr +[0-9]+ s ago" <<<"$r"
	check "flow 7: client remove alice" sim_cr hq client remove alice
	check_not "flow 7: alice is cut off" probe user 10.0.0.20 8080 1
	detail "client add on hq: Endpoint 203.0.113.10:51820 from IMDS; ${addr:-no address} reached 10.0.0.20, which saw ${a:-nothing}; removed live"
}

# 8. Redundant hubs: the Branch's peers hq and hq2 (in the HQ VPC) form a peer
# group ("backup_for": "hq"); all three send keepalives every second, so
# the Branch's keepalives can silence a hub's (its timer is pushed back by
# every packet it receives), and the Branch's probes keep it heard.  The
# HQ app tells which hub carried a request from the Branch connector (its
# overlay address 100.96.0.3 through hq, NAT off; hq2's 10.0.0.11 through
# hq2, NAT on).  kill -9 hq: traffic through hq2 within failover_after + 2 s;
# hq back: the group returns after the hold-down.
peer_ka() {    # peer_ka NAME KEYNAME ENDPOINT ALLOWED_JSON [EXTRA]
	printf '{ "name": "%s", "public_key": "%s", "endpoint": "%s", "allowed_ips": %s, '\
'"persistent_keepalive": 1%s }' "$1" "$(sim_pub "$2")" "$3" "$4" "${5:+, $5}"
}
# until_seen NS HOST PORT ADDR T0: seconds since T0 (epoch) until HOST:PORT
# answers ADDR, probing from one process (no start-up cost per try); fails
# after 15 s.
until_seen() {
	nsx "$1" python3 -c 'import socket, sys, time
host, port, want, t0 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
while time.time() < t0 + 15:
    try:
        s = socket.create_connection((host, port), timeout=0.3)
        s.settimeout(0.3)
        if s.recv(200).decode().strip() == want:
            print("%.1f" % (time.time() - t0))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)' "$2" "$3" "$4" "$5" 2>/dev/null
}
flow_8() {
	FLOW_DETAIL=
	local t0 fo back
	sim_key hq2 || return 1
	sim_conf hq hq 100.96.0.1 '["10.0.0.0/18"]' "$(sim_peer user user - 100.96.0.2/32),
	  $(peer_ka br br 203.0.113.20:51820 '["100.96.0.3/32", "192.168.0.0/22"]')" hq \
		'"nat": { "masquerade": false, "exclude": ["10.0.0.0/16"] }, "egress": true'
	sim_conf hq2 hq2 100.96.0.11 '["10.0.0.0/18"]' \
		"$(peer_ka br br 203.0.113.20:51820 '["100.96.0.3/32", "192.168.0.0/22"]')" hq \
		'"nat": { "masquerade": true }'
	sed -i 's/"provider": "aws"/"provider": "none"/' "$SIM/hq2.json"   # a hub, no routes
	sim_conf br br 100.96.0.3 '["192.168.0.0/22", "192.168.100.0/24"]' \
		"$(peer_ka hq hq 203.0.113.10:51820 '["100.96.0.1/32", "10.0.0.0/18"]'),
	  $(peer_ka hq2 hq2 203.0.113.11:51820 '["100.96.0.11/32"]' '"backup_for": "hq"'),
	  $(sim_peer user user - 100.96.0.2/32)" br '"nat": { "masquerade": true }' \
		'"failover_after": 3, "hold_down": 5'
	check "flow 8: the Branch config with a peer group is valid" sim_cr br check
	reload hq
	reload br
	sim_run hq2
	check "flow 8: Branch -> HQ app through hq" wait_for 15 sees br 10.0.0.20 8080 100.96.0.3
	check "flow 8: hq2 is up" wait_for 10 bash -c "ip netns exec $P-br wg show ${P}br latest-handshakes |
	    awk -v k=$(sim_pub hq2) '\$1 == k && \$2 > 0 { f = 1 } END { exit !f }'"
	t0=$(date +%s.%N)
	kill -9 "${SIM_PID[hq]}"
	wait "${SIM_PID[hq]}" 2>/dev/null
	if fo=$(until_seen br 10.0.0.20 8080 10.0.0.11 "$t0"); then
		echo "# peer group failover: $fo s from kill -9 hq to traffic through hq2 (failover_after 3)"
		check "flow 8: through hq2 within failover_after + 2 s" awk -v f="$fo" 'BEGIN { exit !(f <= 5) }'
	else
		check "flow 8: through hq2 after kill -9 hq" false
	fi
	check "flow 8: the move is logged" grep -q "peer group hq: prefixes move from hq" "$SIM/br.log"
	check "flow 8: br status shows hq2 holding" status_has br "peer group hq: prefixes on hq2"
	t0=$(date +%s.%N)
	sim_run hq
	if back=$(until_seen br 10.0.0.20 8080 100.96.0.3 "$t0"); then
		echo "# peer group failback: $back s from restarting hq (hold_down 5)"
		check "flow 8: back to hq, not before the hold-down" awk -v f="$back" 'BEGIN { exit !(f >= 5) }'
	else
		check "flow 8: back to hq after it returned" false
	fi
	kill -TERM "${SIM_PID[hq2]}"
	wait "${SIM_PID[hq2]}" 2>/dev/null
	SIM_PG_FAILOVER=$fo
	SIM_PG_FAILBACK=$back
	detail "kill -9 hq: ${fo:-no} s to the HQ app through hq2 (failover_after 3); back on hq ${back:-never} s after it restarted (hold_down 5)"
}
