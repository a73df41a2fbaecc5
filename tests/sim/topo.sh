# A cloud in a box: simulated AWS VPCs in network namespaces, driven by the
# fake EC2 + IMDS (tests/fakecloud) through tests/sim/vpcsync.py.  Source
# after tests/lib/netns.sh, then `sim_build` (or the pieces below).
#
#                          cloud (fake EC2 API https://169.254.169.254,
#                                 IMDS http://169.254.169.254, control
#                                 127.0.0.1:8900; its hook runs vpcsync)
#                            | md links 198.19.N.0/24
#   user 192.0.2.2 --- inet (router) --- web 198.51.100.80 (public test host)
#                            | igw links 198.18.N.0/24
#        +-------------------+----------+-------------+
#     vpc-hq (N=1)       vpc-br (N=2)  vpc-s3 (N=3)  vpc-ha (N=4)   VPC routers
#     10.0.0.0/16        192.168.0.0/16 172.16.0.0/16 172.20.0.0/16
#      |h-hq |h-hqapp     |h-br |h-brapp |h-brpf      ...
#     hq     hqapp       br    brapp    brpf
#
# A VPC router has one veth per instance (router side "h-NAME", instance side
# eth0), answers ARP for the whole subnet (proxy ARP, gateway .1 on every
# link), keeps one /32 per instance in its main table, and maps public
# addresses 203.0.113.x 1:1 to connectors on its igw link (the EIP NAT).  Its
# per-route-table kernel tables, the `ip rule`s selecting them and the
# source/dest check are written only by vpcsync from the fake's state.
#
#   site      VPC             subnet (route table)            instances
#   hq        10.0.0.0/16     10.0.0.0/18 (rtb-hq)            hq .10 (203.0.113.10), hqapp .20,
#                                                             hq2 .11 (203.0.113.11: a second hub)
#   br        192.168.0.0/16  192.168.0.0/22 (rtb-br)         br .10 (203.0.113.20), brapp .20
#                             192.168.100.0/24 (main)         brpf 192.168.100.30
#   s3        172.16.0.0/16   172.16.0.0/24 (rtb-s3)          s3 .10 (203.0.113.30), s3app .20
#   ha        172.20.0.0/16   172.20.0.0/24 (rtb-ha)          ha1 .11 (203.0.113.41), ha2 .12
#                                                             (203.0.113.42), haapp .20
# Every app host runs `whoami.py serve 8080`, as do web and user.

SIM=$TMP/sim
FAKE=$TOP/tests/fakecloud
VPCSYNC=$TOP/tests/sim/vpcsync.py
SIM_API=https://169.254.169.254
SIM_CTL=127.0.0.1:8900


# sim_site SITE VPC_CIDR N: the VPC router namespace "vpc-SITE" and its links.
sim_site() {
	local s=$1 cidr=$2 n=$3 r=vpc-$1
	ns_new "$r" || return 1
	veth inet "v-$s" "$r" igw
	veth cloud "c-$s" "$r" md
	nsx inet ip addr add "198.18.$n.1/24" dev "v-$s"
	nsx "$r" ip addr add "198.18.$n.2/24" dev igw
	nsx cloud ip addr add "198.19.$n.1/24" dev "c-$s"
	nsx "$r" ip addr add "198.19.$n.2/24" dev md
	nsx cloud ip route add "$cidr" via "198.19.$n.2"
	nsx "$r" ip route add 169.254.169.254/32 via "198.19.$n.1"
	nsx "$r" ip rule add pref 500 to 169.254.169.254/32 lookup main
	nsx "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.default.send_redirects=0
	nsx "$r" nft -f - <<-EOF || return 1
	table ip vpcnat {
		chain pre { type nat hook prerouting priority dstnat; policy accept; }
		chain post { type nat hook postrouting priority srcnat; policy accept; }
	}
	EOF
	echo "site vpc-$s $cidr $(ns "$r") 198.18.$n.1" >>"$SIM/spec"
}

# sim_subnet SITE SUBNET_ID CIDR RTB|-   (- = the VPC's main route table)
sim_subnet() {
	echo "subnet vpc-$1 $2 $3 $4" >>"$SIM/spec"
}

# sim_host SITE SUBNET_ID NAME IP/LEN GW ROLE [PUBLIC_IP]
sim_host() {
	local s=$1 sub=$2 h=$3 ip=${4%/*} gw=$5 role=$6 pub=${7:-} r=vpc-$1
	ns_new "$h" || return 1
	veth "$h" eth0 "$r" "h-$h"
	nsx "$h" ip addr add "$4" dev eth0
	nsx "$h" ip route add default via "$gw"
	nsx "$r" ip addr add "$gw/32" dev "h-$h"
	nsx "$r" ip route add "$ip/32" dev "h-$h"
	# Proxy ARP answers at once, as a VPC's does (the kernel's default delays
	# each proxied reply by up to 0.8 s: a connector that takes a route over
	# and first talks to an app would wait for it).
	nsx "$r" sysctl -qw "net.ipv4.conf.h-$h.proxy_arp=1" "net.ipv4.conf.h-$h.rp_filter=0" \
		"net.ipv4.neigh.h-$h.proxy_delay=0"
	if [ -n "$pub" ]; then
		nsx "$r" nft add rule ip vpcnat pre iifname igw ip daddr "$pub" dnat to "$ip"
		nsx "$r" nft add rule ip vpcnat post oifname igw ip saddr "$ip" snat to "$pub"
		nsx inet ip route add "$pub/32" via "198.18.$(_site_n "$s").2"
	fi
	echo "host vpc-$s $sub $h $ip h-$h $role $pub" >>"$SIM/spec"
}
_site_n() { case $1 in hq) echo 1;; br) echo 2;; s3) echo 3;; ha) echo 4;; esac; }

# sim_ctl METHOD PATH [JSON]: the fake cloud's control endpoint.
sim_ctl() {
	nsx cloud python3 - "$@" <<-'EOF'
	import sys, urllib.request
	m, p = sys.argv[1], sys.argv[2]
	d = sys.argv[3].encode() if len(sys.argv) > 3 else None
	rq = urllib.request.Request("http://127.0.0.1:8900" + p, data=d, method=m,
	                            headers={"Content-Type": "application/json"})
	sys.stdout.write(urllib.request.urlopen(rq, timeout=10).read().decode())
	EOF
}

# sim_routes RTB: "dest target state" lines of one route table, from the fake.
sim_routes() {
	sim_ctl GET /state | python3 -c '
import json, sys
for t in json.load(sys.stdin)["route_tables"]:
    if t["id"] != sys.argv[1]:
        continue
    for r in t["routes"]:
        tgt = [r[k] for k in sorted(r) if k.endswith("_id")]
        print(r["destination"], tgt[0] if tgt else "?", r["state"])' "$1"
}
# sim_kroutes SITE: the VPC router's kernel routes written by vpcsync.
sim_kroutes() { nsx "vpc-$1" ip route show table all proto 99; }
# sim_show [VPC...]: readable kernel route tables.
sim_show() {
	python3 "$VPCSYNC" show --map "$SIM/map.json" ${1:+--vpc "$@"}
}

# sim_start_cloud: generate the scenario and start the fake cloud.
sim_start_cloud() {
	python3 "$VPCSYNC" gen "$SIM/spec" "$SIM" || return 1
	sh "$FAKE/mkca.sh" "$SIM/ca" 169.254.169.254 >/dev/null || return 1
	nsx cloud ip addr add 169.254.169.254/32 dev lo
	bg cloud env VPCSYNC_LOG="$SIM/vpcsync.log" python3 "$FAKE/ec2.py" \
		--scenario "$SIM/scenario.json" \
		--api 169.254.169.254:443 --cert "$SIM/ca/server.pem" --key "$SIM/ca/server.key" \
		--imds 169.254.169.254:80 --control "$SIM_CTL" \
		--state-out "$SIM/state.json" --log "$SIM/api.log" \
		--on-change "python3 $VPCSYNC sync --map $SIM/map.json" \
		--ready-file "$SIM/ready" 2>>"$SIM/fake.err"
	SIM_FAKE_PID=$!
	wait_for 15 test -s "$SIM/ready" || { echo "fake cloud did not start" >&2; cat "$SIM/fake.err" >&2; return 1; }
	# The initial state is applied by the hook before the ready file is written.
	wait_for 10 sh -c "ip -n $(ns vpc-hq) route show table all proto 99 | grep -q throw"
}

# sim_base: the cloud, the internet router, the web host and the remote user.
sim_base() {
	mkdir -p "$SIM"
	: >"$SIM/spec"
	ns_new cloud && ns_new inet && ns_new web && ns_new user || return 1
	nsx inet sysctl -qw net.ipv4.ip_forward=1
	veth inet u0 user eth0
	veth inet w0 web eth0
	nsx inet ip addr add 192.0.2.1/24 dev u0
	nsx inet ip addr add 198.51.100.1/24 dev w0
	nsx user ip addr add 192.0.2.2/24 dev eth0
	nsx user ip route add default via 192.0.2.1
	nsx web ip addr add 198.51.100.80/24 dev eth0
	nsx web ip route add default via 198.51.100.1
}

sim_build() {
	sim_base || return 1

	sim_site hq 10.0.0.0/16 1 || return 1
	sim_subnet hq subnet-hq 10.0.0.0/18 rtb-hq
	sim_host hq subnet-hq hq 10.0.0.10/18 10.0.0.1 connector 203.0.113.10 || return 1
	sim_host hq subnet-hq hqapp 10.0.0.20/18 10.0.0.1 app || return 1
	sim_host hq subnet-hq hq2 10.0.0.11/18 10.0.0.1 connector 203.0.113.11 || return 1

	sim_site br 192.168.0.0/16 2 || return 1
	sim_subnet br subnet-br 192.168.0.0/22 rtb-br
	sim_subnet br subnet-brpf 192.168.100.0/24 -
	sim_host br subnet-br br 192.168.0.10/22 192.168.0.1 connector 203.0.113.20 || return 1
	sim_host br subnet-br brapp 192.168.0.20/22 192.168.0.1 app || return 1
	sim_host br subnet-brpf brpf 192.168.100.30/24 192.168.100.1 app || return 1

	sim_site s3 172.16.0.0/16 3 || return 1
	sim_subnet s3 subnet-s3 172.16.0.0/24 rtb-s3
	sim_host s3 subnet-s3 s3 172.16.0.10/24 172.16.0.1 connector 203.0.113.30 || return 1
	sim_host s3 subnet-s3 s3app 172.16.0.20/24 172.16.0.1 app || return 1

	sim_site ha 172.20.0.0/16 4 || return 1
	sim_subnet ha subnet-ha 172.20.0.0/24 rtb-ha
	sim_host ha subnet-ha ha1 172.20.0.11/24 172.20.0.1 connector 203.0.113.41 || return 1
	sim_host ha subnet-ha ha2 172.20.0.12/24 172.20.0.1 connector 203.0.113.42 || return 1
	sim_host ha subnet-ha haapp 172.20.0.20/24 172.20.0.1 app || return 1

	sim_start_cloud || return 1
	local h
	for h in hqapp brapp brpf s3app haapp web user; do
		bg "$h" python3 "$TOP/tests/lib/whoami.py" serve 8080
	done
	wait_for 5 nsx web python3 "$TOP/tests/lib/whoami.py" get 198.51.100.80 8080
}

# ---- connectors and the remote user ---------------------------------------
declare -A SIM_PID

# sim_key NAME: a WireGuard key pair in $SIM/keys/NAME.{key,pub}.
sim_key() {
	mkdir -p "$SIM/keys"
	[ -s "$SIM/keys/$1.key" ] && return 0
	(umask 077; wg genkey >"$SIM/keys/$1.key") || return 1
	wg pubkey <"$SIM/keys/$1.key" >"$SIM/keys/$1.pub"
}
sim_pub() { cat "$SIM/keys/$1.pub"; }

# sim_peer NAME KEYNAME ENDPOINT|- ALLOWED_IP... : one tunnel.peers member.
sim_peer() {
	local name=$1 key=$2 ep=$3 a ips=""
	shift 3
	for a in "$@"; do ips="$ips${ips:+, }\"$a\""; done
	printf '{ "name": "%s", "public_key": "%s", %s"allowed_ips": [%s] }' \
		"$name" "$(sim_pub "$key")" "$([ "$ep" = - ] || printf '"endpoint": "%s", ' "$ep")" "$ips"
}

# sim_conf NAME KEYNAME ADDRESS LOCAL_SUBNETS_JSON PEERS_JSON HA_GROUP [EXTRA [TUNNEL_EXTRA]]
# writes $SIM/NAME.json: a userspace-tunnel connector on eth0 with the AWS
# provider; EXTRA is more JSON members (nat, egress, port_forwards),
# TUNNEL_EXTRA more members of "tunnel" (failover_after, hold_down).
sim_conf() {
	cat >"$SIM/$1.json.tmp" <<-JSON
	{
	  // generated by tests/sim/topo.sh for connector $1
	  "overlay": ["100.96.0.0/11"],
	  "lan_interface": "eth0",
	  "local_subnets": $4,
	  "tunnel": { "mode": "userspace", "interface": "$P$1",
	              "private_key_file": "$SIM/keys/$2.key", "listen_port": 51820,
	              "address": ["$3/11"], "mtu": 1420,${8:+ $8,}
	              "peers": [ $5 ] },
	  "cloud": { "provider": "aws", "ha_group": "$6", "takeover": "blackhole" },
	  "state_dir": "$SIM/state-$1",
	  "sysctl_file": "$SIM/sysctl-$1/90-cloudroute.conf",
	  "reconcile_interval": 5${7:+,
	  $7}
	}
	JSON
	mv "$SIM/$1.json.tmp" "$SIM/$1.json"
}

# sim_cr NAME ARGS...: cloudroute in connector NAME's namespace, with the
# fake cloud's endpoints.
sim_cr() {
	local n=$1; shift
	nsx "$n" env CLOUDROUTE_AWS_METADATA_URL=http://169.254.169.254 \
		CLOUDROUTE_AWS_API_URL="$SIM_API" CLOUDROUTE_CA_BUNDLE="$SIM/ca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/$n.json" "$@"
}
# sim_run NAME: `cloudroute run` in the background; pid in SIM_PID[NAME].
sim_run() {
	track_sock "$P$1"
	bg "$1" env CLOUDROUTE_AWS_METADATA_URL=http://169.254.169.254 \
		CLOUDROUTE_AWS_API_URL="$SIM_API" CLOUDROUTE_CA_BUNDLE="$SIM/ca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/$1.json" run >>"$SIM/$1.log" 2>&1
	SIM_PID[$1]=$!
}

# sim_user PEER_ARGS...: wireguard-go in the user namespace (100.96.0.2,
# listening on 192.0.2.2:51820), configured with wg; each argument is
# "KEYNAME ENDPOINT ALLOWED_CSV".
sim_user() {
	local u=${P}u spec key ep allowed
	sim_key user || return 1
	track_sock "$u"
	bg user env WG_PROCESS_FOREGROUND=1 WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		wireguard-go -f "$u" >>"$SIM/user-wg.log" 2>&1
	wait_for 5 nsx user ip link show "$u" || return 1
	nsx user wg set "$u" listen-port 51820 private-key "$SIM/keys/user.key" || return 1
	for spec in "$@"; do
		read -r key ep allowed <<<"$spec"
		nsx user wg set "$u" peer "$(sim_pub "$key")" endpoint "$ep" allowed-ips "$allowed" \
			persistent-keepalive 25 || return 1
	done
	nsx user ip addr add 100.96.0.2/11 dev "$u"
	nsx user ip link set "$u" mtu 1420 up
	for spec in "$@"; do
		read -r key ep allowed <<<"$spec"
		local a
		for a in ${allowed//,/ }; do
			case $a in 100.96.*) ;; *) nsx user ip route add "$a" dev "$u" ;; esac
		done
	done
}
