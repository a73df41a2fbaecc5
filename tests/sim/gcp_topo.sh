# A simulated GCP VPC in network namespaces, driven by the fake GCP
# (tests/fakecloud/gcp.py) through tests/sim/gcpsync.py, and the connector
# guide's first flow on it.  Source after tests/lib/netns.sh and
# tests/sim/topo.sh (for sim_key, sim_peer, sim_user), then `gsim_build`.
#
#   user 192.0.2.2 --- inet --- vpc-g (the VPC's fabric; its cloud routes and
#   (wireguard-go)       |       canIpForward filter follow the fake's state)
#                        |        |h-gc            |h-gapp        |md
#                        |       gc 10.0.0.10     gapp 10.0.0.20  cloud: fake GCP
#                        |       (cloudroute,     (whoami 8080)   https://169.254.169.254
#                        |        ext 203.0.113.50)               metadata http://169.254.169.254
#
# The connector uses the real default metadata address (no override): the
# fake's metadata listener serves the instance whose IP the request comes
# from.  Only the Compute endpoint is overridden (CLOUDROUTE_GCP_API_URL).

GSIM_CTL=127.0.0.1:8901
GSIM_API=https://169.254.169.254
GCPSYNC=$TOP/tests/sim/gcpsync.py

# gsim_host NAME IP: an instance behind the VPC fabric.
gsim_host() {
	ns_new "$1" || return 1
	veth "$1" eth0 vpc-g "h-$1"
	nsx "$1" ip addr add "$2/18" dev eth0
	nsx "$1" ip route add default via 10.0.0.1
	nsx vpc-g ip addr add 10.0.0.1/32 dev "h-$1"
	nsx vpc-g ip route add "$2/32" dev "h-$1"
	nsx vpc-g sysctl -qw "net.ipv4.conf.h-$1.proxy_arp=1" "net.ipv4.conf.h-$1.rp_filter=0"
}

gsim_build() {
	mkdir -p "$SIM"
	ns_new cloud && ns_new inet && ns_new user && ns_new vpc-g || return 1
	nsx inet sysctl -qw net.ipv4.ip_forward=1
	veth inet u0 user eth0
	nsx inet ip addr add 192.0.2.1/24 dev u0
	nsx user ip addr add 192.0.2.2/24 dev eth0
	nsx user ip route add default via 192.0.2.1
	veth inet v-g vpc-g igw
	veth cloud c-g vpc-g md
	nsx inet ip addr add 198.18.9.1/24 dev v-g
	nsx vpc-g ip addr add 198.18.9.2/24 dev igw
	nsx cloud ip addr add 198.19.9.1/24 dev c-g
	nsx vpc-g ip addr add 198.19.9.2/24 dev md
	nsx vpc-g ip route add default via 198.18.9.1
	nsx vpc-g ip route add 169.254.169.254/32 via 198.19.9.1
	nsx cloud ip route add 10.0.0.0/16 via 198.19.9.2
	nsx inet ip route add 203.0.113.50/32 via 198.18.9.2
	nsx vpc-g sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.default.send_redirects=0
	gsim_host gc 10.0.0.10 || return 1
	gsim_host gapp 10.0.0.20 || return 1
	# The external IP: 1:1 NAT on the fabric's internet link.
	nsx vpc-g nft -f - <<-EOF || return 1
	table ip vpcnat {
		chain pre { type nat hook prerouting priority dstnat; policy accept;
			iifname "igw" ip daddr 203.0.113.50 dnat to 10.0.0.10; }
		chain post { type nat hook postrouting priority srcnat; policy accept;
			oifname "igw" ip saddr 10.0.0.10 snat to 203.0.113.50; }
	}
	EOF
	python3 - "$TOP/tests/fakecloud/scenarios/gcp-basic.json" >"$SIM/gcp-scenario.json" <<-'PY'
	import json, sys
	s = json.load(open(sys.argv[1]))
	s["comment"] = "tests/sim GCP VPC: connector cr-gcp and its app"
	s["networks"] = [{"name": "vpc", "subnets": ["10.0.0.0/18"]}]
	s["instances"] = [
	    {"name": "cr-gcp", "zone": "europe-west1-b", "ip": "10.0.0.10",
	     "external_ip": "203.0.113.50", "can_ip_forward": False,
	     "service_account": "cloudroute@cr-proj.iam.gserviceaccount.com"},
	    {"name": "app", "zone": "europe-west1-b", "ip": "10.0.0.20"}]
	json.dump(s, sys.stdout)
	PY
	echo '{"network": "vpc", "links": {"cr-gcp": "h-gc", "app": "h-gapp"}}' >"$SIM/gcp-map.json"
	sh "$TOP/tests/fakecloud/mkca.sh" "$SIM/gca" 169.254.169.254 >/dev/null || return 1
	nsx cloud ip addr add 169.254.169.254/32 dev lo
	bg cloud python3 "$TOP/tests/fakecloud/gcp.py" --scenario "$SIM/gcp-scenario.json" \
		--api 169.254.169.254:443 --cert "$SIM/gca/server.pem" --key "$SIM/gca/server.key" \
		--metadata 169.254.169.254:80 --control "$GSIM_CTL" --log "$SIM/gcp-api.log" \
		--state-out "$SIM/gcp-state.json" \
		--on-change "python3 $GCPSYNC sync $(ns vpc-g) $SIM/gcp-map.json" \
		--ready-file "$SIM/gcp-ready" 2>>"$SIM/gcp-fake.err"
	wait_for 15 test -s "$SIM/gcp-ready" || { cat "$SIM/gcp-fake.err" >&2; return 1; }
	wait_for 5 sh -c "ip netns exec $(ns vpc-g) nft list table inet gcpsim" || return 1
	bg gapp python3 "$TOP/tests/lib/whoami.py" serve 8080
	wait_for 5 nsx gapp python3 "$TOP/tests/lib/whoami.py" get 10.0.0.20 8080
}

# gsim_ctl METHOD PATH [JSON]: the fake's control endpoint.
gsim_ctl() { nsx cloud curl -sf -X "$1" "http://$GSIM_CTL$2" ${3:+-d "$3"}; }
gsim_fwd() { gsim_ctl GET /state | python3 -c '
import json, sys
print([i["can_ip_forward"] for i in json.load(sys.stdin)["instances"] if i["name"] == "cr-gcp"][0])'; }
# gsim_has TEXT: the fabric has a cloud route line containing TEXT.
gsim_has() { nsx vpc-g ip route show proto 99 | grep -qF -- "$1"; }
gsim_show() { python3 "$GCPSYNC" show "$(ns vpc-g)"; }

# gsim_conf nat|nonat: the connector's config.
gsim_conf() {
	local nat='"nat": { "masquerade": true }'
	[ "$1" = nonat ] && nat='"nat": { "masquerade": false }'
	cat >"$SIM/gc.json.tmp" <<-JSON
	{
	  // generated by tests/sim/gcp_topo.sh
	  "overlay": ["100.96.0.0/11"],
	  "lan_interface": "eth0",
	  "local_subnets": ["10.0.0.0/18"],
	  $nat,
	  "tunnel": { "mode": "userspace", "interface": "${P}g",
	              "private_key_file": "$SIM/keys/gcp.key", "listen_port": 51820,
	              "address": ["100.96.0.1/11"], "mtu": 1380,
	              "peers": [ $(sim_peer user user - 100.96.0.2/32) ] },
	  "cloud": { "provider": "gcp", "ha_group": "gcp", "takeover": "blackhole" },
	  "state_dir": "$SIM/state-gc",
	  "sysctl_file": "$SIM/sysctl-gc/90-cloudroute.conf",
	  "reconcile_interval": 5
	}
	JSON
	mv "$SIM/gc.json.tmp" "$SIM/gc.json"
}
gsim_cr() {
	nsx gc env CLOUDROUTE_GCP_API_URL="$GSIM_API" CLOUDROUTE_CA_BUNDLE="$SIM/gca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/gc.json" "$@"
}
gsim_run() {
	track_sock "${P}g"
	bg gc env CLOUDROUTE_GCP_API_URL="$GSIM_API" CLOUDROUTE_CA_BUNDLE="$SIM/gca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/gc.json" run >>"$SIM/gc.log" 2>&1
	GSIM_PID=$!
}

# ---- the flow: remote user -> app in the GCP VPC, NAT on, then off --------
gflow_start() {
	FLOW_DETAIL=
	sim_key gcp && sim_key user || return 1
	gsim_conf nat
	check "gcp: connector config is valid" gsim_cr check
	check_not "gcp: before cloudroute the fabric has no route to the overlay" gsim_has 100.96.0.0/11
	sim_user "gcp 203.0.113.50:51820 100.96.0.1/32,10.0.0.0/18" || return 1
	check_not "gcp: before cloudroute the user cannot reach the app" probe user 10.0.0.20 8080 1
	gsim_run
	check "gcp: the connector's route reaches the VPC fabric" wait_for 20 gsim_has "100.96.0.0/11 via 10.0.0.10"
	check_eq "gcp: canIpForward turned on" True "$(gsim_fwd)"
	detail "cloudroute inserted 100.96.0.0/11 -> cr-gcp and turned canIpForward on"
}

gflow_1() {
	FLOW_DETAIL=
	local a
	check "gcp flow 1: the user reaches the app (NAT)" wait_for 15 probe user 10.0.0.20 8080 1
	a=$(who user 10.0.0.20 8080)
	check_eq "gcp flow 1: with NAT the app sees the connector" 10.0.0.10 "$a"
	detail "NAT on: app saw ${a:-nothing}"
	gsim_conf nonat
	kill -HUP "$GSIM_PID"
	check "gcp flow 1: NAT off, the app sees the user's overlay address" \
		wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
	a=$(who user 10.0.0.20 8080)
	detail "NAT off: app saw ${a:-nothing} (reply via the network route 100.96.0.0/11 -> cr-gcp)"
	# The fabric enforces canIpForward: turned off behind cloudroute's back,
	# the overlay traffic stops until the next reconcile turns it on again.
	gsim_ctl POST /instance '{"name":"cr-gcp","can_ip_forward":false}' >/dev/null
	check_not "gcp flow 1: canIpForward off: routed traffic stops" probe user 10.0.0.20 8080 1
	check "gcp flow 1: the next reconcile repairs canIpForward and traffic" \
		wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
	detail "canIpForward switched off behind its back: repaired on the next pass"
}

gflow_teardown() {
	FLOW_DETAIL=
	kill -TERM "$GSIM_PID" 2>/dev/null; wait "$GSIM_PID" 2>/dev/null
	check "gcp: teardown" gsim_cr teardown
	check_not "gcp: the fabric has no cloudroute route left" gsim_has "via 10.0.0.10"
	check_eq "gcp: canIpForward back off" False "$(gsim_fwd)"
	check_not "gcp: the overlay no longer reaches the app" probe user 10.0.0.20 8080 1
	detail "teardown deleted cloudroute's routes and turned canIpForward off again"
}
