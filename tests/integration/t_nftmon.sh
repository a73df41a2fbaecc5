#!/bin/bash
# (Becomes a t_*.sh once agent/daemon.c polls nc_nft_monitor_open(): see
# netcfg/netcfg.h.)  Docker rewrites DOCKER-USER while the daemon runs with
# a 300 s reconcile interval: our accepts are back within 3 s (the
# nftables commit event, 1 s debounce, one host pass).
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/hostsim.sh"

hostsim_build || { echo "topology failed"; finish; exit 1; }
CFG=$TMP/cr.json
hostsim_config "$CFG" '"nat": { "masquerade": false }'
sed -i 's/"reconcile_interval": 5/"reconcile_interval": 300/' "$CFG"
nsx router ip route add 100.96.0.0/11 via 10.0.0.10
X="nsx conn iptables-nft"
$X -N DOCKER-USER; $X -P FORWARD DROP; $X -A FORWARD -j DOCKER-USER; $X -A DOCKER-USER -j RETURN
who() { nsx "$1" python3 "$TOP/tests/lib/whoami.py" get "$2" "$3"; }
bg conn "$CLOUDROUTE" -c "$CFG" run
check "in sync after start" wait_for 10 who client 192.168.100.30 8080
sleep 1
$X -F DOCKER-USER; $X -A DOCKER-USER -j RETURN
t0=$(date +%s%N)
check "accepts back within 3 s of Docker's rewrite" wait_for 3 who client 192.168.100.30 8080
echo "# restored after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
finish
