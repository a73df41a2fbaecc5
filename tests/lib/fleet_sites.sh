# Sites of a fleet for namespace tests (t_fleet_sites.sh, t_fleet_clients.sh).
# Source after netns.sh and etcd.sh: it makes the wan (bridge br0 in
# namespace "wan", etcd on 198.18.0.254:2379), then
#   site X   namespaces cX (eth0 198.18.0.X/24 on br0, tunnel $P-X
#            100.96.0.X/11, lan0 10.X.0.1/24) and hX (10.X.0.2/24), the key
#            $TMP/kX and the config $TMP/cX.json (site sX, connector cX)
#   run X    `cloudroute run` at site X (pid in PID[X], log $TMP/cX.log)
#   reach X Y  hX pings hY;  pub X  connector X's public key
ns_new wan || { finish; exit 1; }
nsx wan ip link add br0 type bridge
nsx wan ip link set br0 up
nsx wan ip addr add 198.18.0.254/24 dev br0
ETCD_CLIENT_URLS=http://198.18.0.254:2379,http://127.0.0.1:2379 etcd_start wan e 2379 ||
	{ echo "etcd did not start"; finish; exit 1; }

site() { # site X: namespaces, links and config of connector X
	local x=$1
	ns_new "c$x" && ns_new "h$x" || return 1
	ip link add "$P-w$x" netns "$P-wan" type veth peer name eth0 netns "$P-c$x"
	nsx wan ip link set "$P-w$x" master br0 up
	nsx "c$x" ip link set eth0 up
	nsx "c$x" ip addr add "198.18.0.$x/24" dev eth0
	veth "c$x" lan0 "h$x" eth0
	nsx "c$x" ip addr add "10.$x.0.1/24" dev lan0
	nsx "h$x" ip addr add "10.$x.0.2/24" dev eth0
	nsx "h$x" ip route add default via "10.$x.0.1"
	track_sock "$P-$x"
	(umask 077; "$CLOUDROUTE" genkey >"$TMP/k$x")
	cat >"$TMP/c$x.json" <<JSON
{ "lan_interface": "lan0", "local_subnets": ["10.$x.0.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "interface": "$P-$x", "private_key_file": "$TMP/k$x", "listen_port": 51820,
              "address": ["100.96.0.$x/11"] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/state$x", "sysctl_file": "$TMP/sysctl$x.conf", "reconcile_interval": 30,
  "fleet": { "etcd": ["http://198.18.0.254:2379"], "prefix": "/cloudroute/", "site": "s$x",
             "name": "c$x", "endpoint": "198.18.0.$x:51820", "lease_ttl": 2 } }
JSON
	"$CLOUDROUTE" -c "$TMP/c$x.json" check >/dev/null
}
declare -A PID
run() { # run X: cloudroute run at site X
	ip netns exec "$P-c$1" "$CLOUDROUTE" -c "$TMP/c$1.json" run >>"$TMP/c$1.log" 2>&1 &
	PID[$1]=$!
	_PIDS+=($!)
}
reach() { nsx "h$1" ping -c 1 -W 1 "10.$2.0.2" >/dev/null 2>&1; }
pub() { "$CLOUDROUTE" pubkey <"$TMP/k$1"; }
