#!/bin/bash
# Fleet failover (issue 13): on the simulated AWS VPCs of tests/sim (fake EC2
# whose route tables drive the VPC routers), ha1 and ha2 form site "ha"
# through a real etcd (in the cloud namespace, 169.254.169.254:2379) with
# lease_ttl 2.  The HA app talks to the remote user through the leader;
# kill -9 of the leader -> the standby wins the election, takes the VPC route
# over (the election is the proof: the old instance still "runs") -> traffic
# flows again.  Median of $FAILOVER_RUNS (5) kills, alternating ha1/ha2; bound
# 3.0 s.  Then the reconcile-based takeover without a fleet (tests/sim flow 6:
# kill -9 + terminate, reconcile_interval 5) in the same run, for comparison.
# The standby's takeover is the fleet fast path (agent/fleet_takeover.h): one
# ReplaceRoute at once on winning, the verifying pass after it.
#   bash tests/bench/fleet_failover.sh    (FAILOVER_TRACE=1: after each kill, the
#   EC2 calls, the etcd event, the connectors' -v log, the user's WireGuard log
#   and the ping gap, all timestamped from the kill; FAILOVER_TRACE_UDP=1 adds the
#   user's WireGuard datagrams, from an nftables trace in its namespace)
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"
. "$TOP/tests/sim/topo.sh"
. "$TOP/tests/sim/flows.sh"
RUNS=${FAILOVER_RUNS:-5}

sim_build || { echo "simulation build failed"; FAIL=$((FAIL + 1)); finish; exit 1; }
ETCD_CLIENT_URLS=http://169.254.169.254:2379,http://127.0.0.1:2379 etcd_start cloud fo 2379 ||
	{ echo "etcd did not start"; FAIL=$((FAIL + 1)); finish; exit 1; }
sim_key ha && sim_key user || { finish; exit 1; }
conf_fleet() { # conf_fleet ha1|ha2 PUBLIC_IP
	sim_conf "$1" ha 100.96.0.40 '["172.20.0.0/24"]' \
		"$(sim_peer user user 192.0.2.2:51820 100.96.0.2/32)" ha \
		"\"nat\": { \"masquerade\": false },
	  \"fleet\": { \"etcd\": [\"http://169.254.169.254:2379\"], \"site\": \"ha\", \"name\": \"$1\",
	             \"endpoint\": \"$2:51820\", \"lease_ttl\": 2 }"
}
conf_fleet ha1 203.0.113.41
conf_fleet ha2 203.0.113.42
[ -n "${FAILOVER_TRACE:-}" ] && export LOG_LEVEL=verbose   # wireguard-go's own log
sim_user "ha 203.0.113.41:51820 100.96.0.40/32,172.20.0.0/24" || { finish; exit 1; }
leader() { etcd_ctl cloud 2379 get --print-value-only /cloudroute/leaders/ha 2>/dev/null; }
ns_now() { date +%s%N; }

if [ -n "${FAILOVER_TRACE:-}" ]; then
	# The connectors log verbosely, every line timestamped on arrival.
	printf '#!/bin/sh\nexec %s -v "$@"\n' "$CLOUDROUTE" >"$TMP/cr-v"
	chmod +x "$TMP/cr-v"
	CLOUDROUTE=$TMP/cr-v
	: >"$SIM/ha1.log"; : >"$SIM/ha2.log"; : >"$SIM/user-wg.log"
	if [ -n "${FAILOVER_TRACE_UDP:-}" ]; then   # the user's WireGuard datagrams, in and out
		nsx user nft -f - <<-'NFT'
		table inet crtrace {
			chain i { type filter hook input priority 0; udp dport 51820 meta nftrace set 1; }
			chain o { type filter hook output priority 0; udp sport 51820 meta nftrace set 1; }
		}
		NFT
		(nsx user nft monitor trace 2>/dev/null | grep --line-buffered 'packet:' |
		 python3 -u -c '
import re, sys, time
for l in sys.stdin:
    m = re.search(r"crtrace (\w) .*ip saddr (\S+) ip daddr (\S+) .*ip length (\d+)", l)
    if m:
        print("%.3f user-udp %s %s -> %s length %s" % (time.time(), "in" if m.group(1) == "i" else "out",
              m.group(2), m.group(3), m.group(4)))' >>"$TMP/daemons.log") &
		_PIDS+=($!)
	fi
	for n in ha1 ha2 user-wg; do
		(tail -n0 -F "$SIM/$n.log" 2>/dev/null | python3 -u -c '
import sys, time
for l in sys.stdin:
    print("%.3f %s %s" % (time.time(), sys.argv[1], l), end="")' "$n" >>"$TMP/daemons.log") &
		_PIDS+=($!)
	done
	(ETCDCTL_API=3 ip netns exec "$(ns cloud)" etcdctl --endpoints http://127.0.0.1:2379 watch --prefix /cloudroute/leaders/ |
	 while read -r l; do echo "$(date +%s.%N) $l"; done >"$TMP/etcd-watch.log") &
	_PIDS+=($!)
fi
sim_run ha1
check "ha1 leads and holds the VPC route" wait_for 20 has ha "100.96.0.0/11 via 172.20.0.11"
sim_run ha2
check "ha2 is standby" wait_for 10 grep -q "running:" "$SIM/ha2.log"
check "HA app reaches the user" wait_for 15 probe haapp 100.96.0.2 8080 1
times=()
for i in $(seq 1 "$RUNS"); do
	l=$(leader)
	case $l in ha1) s=ha2; ip=172.20.0.12 ;; ha2) s=ha1; ip=172.20.0.11 ;; *) check "run $i: a leader ($l)" false; break ;; esac
	wait_for 15 probe haapp 100.96.0.2 8080 1 || { check "run $i: traffic before the kill" false; break; }
	# Traffic: ICMP every 20 ms from the HA app to the user, timestamped.
	nsx haapp ping -D -n -i 0.02 -W 1 100.96.0.2 >"$TMP/ping$i" 2>&1 &
	PING=$!
	sleep 0.3
	t0=$(ns_now)
	kill -9 "${SIM_PID[$l]}"; wait "${SIM_PID[$l]}" 2>/dev/null
	ok=0
	while [ $(( ($(ns_now) - t0) / 1000000 )) -lt 20000 ]; do
		if probe haapp 100.96.0.2 8080 0.2 >/dev/null; then ok=1; break; fi
	done
	sleep 0.3
	kill "$PING" 2>/dev/null; wait "$PING" 2>/dev/null
	# The first echo answered after the gap the kill opened.
	ms=$(python3 -c '
import re, sys
t0 = int(sys.argv[2]) / 1e9
last = None
for line in open(sys.argv[1]):
    m = re.match(r"\[([0-9.]+)\] .*bytes from", line)
    if not m:
        continue
    t = float(m.group(1))
    if t > t0 and last is not None and t - last > 0.1:
        print(int((t - t0) * 1000)); break
    last = t' "$TMP/ping$i" "$t0")
	[ -n "$ms" ] || ok=0
	[ -n "${FAILOVER_TRACE:-}" ] && python3 -c '
import json, sys
t0 = int(sys.argv[2]) / 1e9
for e in map(json.loads, open(sys.argv[1])):
    if e["time"] >= t0 - 0.2:
        print("#   %+.3f s %s %s (received at %+.3f s)" % (e["time"] - t0, e.get("source"),
              e.get("action"), e.get("received", e["time"]) - t0))
for l in open(sys.argv[3]):
    t, ev = l.split(" ", 1)
    if float(t) >= t0 and ev.startswith("DELETE"):
        print("#   %+.3f s etcd: leader key deleted (lease expired)" % (float(t) - t0))
        break
for l in open(sys.argv[4]):
    t, ev = l.split(" ", 1)
    if float(t) >= t0 - 0.05 and float(t) < t0 + 5:
        print("#   %+.3f s %s" % (float(t) - t0, ev.rstrip()))' \
	"$SIM/api.log" "$t0" "$TMP/etcd-watch.log" "$TMP/daemons.log"
	[ -n "${FAILOVER_TRACE:-}" ] && python3 -c '
import re, sys
t0 = int(sys.argv[2]) / 1e9
prev = None
for line in open(sys.argv[1]):
    m = re.match(r"\[([0-9.]+)\] (.*)", line)
    if not m:
        continue
    t = float(m.group(1))
    if "bytes from" not in line:
        print("#   ping %+.3f s %s" % (t - t0, m.group(2)))
        continue
    if prev is not None and t - prev[0] > 0.1 and t > t0:
        print("#   ping %+.3f s last before the gap: %s" % (prev[0] - t0, prev[1]))
        print("#   ping %+.3f s first after: %s" % (t - t0, m.group(2)))
    prev = (t, m.group(2))' "$TMP/ping$i" "$t0"
	if [ $ok = 1 ]; then
		times+=("$ms")
		echo "# failover run $i: kill -9 $l -> traffic via $s after $ms ms (route via $ip: $(has ha "100.96.0.0/11 via $ip" && echo yes || echo no))"
	else
		check "run $i: traffic after killing $l" false
	fi
	sim_run "$l"                    # back, as standby
	wait_for 10 grep -c "running:" "$SIM/$l.log" >/dev/null
	sleep 3
done
med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR + 1) / 2)]}')
echo "# fleet failover: median $med ms of ${#times[@]} (${times[*]}) ms; bound 3000 ms (lease_ttl 2)"
check "fleet failover median ${med:-?} ms <= 3000 ms" test -n "$med" -a "${med:-99999}" -le 3000

# The same without a fleet: reconcile-based takeover (flow 6).
for n in ha1 ha2; do kill -TERM "${SIM_PID[$n]}" 2>/dev/null; wait "${SIM_PID[$n]}" 2>/dev/null; done
rm -rf "$SIM/state-ha1" "$SIM/state-ha2"
# A clean slate: the cloud itself drops the route the fleet runs left behind.
mutate DeleteRoute '"RouteTableId": "rtb-ha", "DestinationCidrBlock": "100.96.0.0/11"'
wait_for 5 lacks ha "100.96.0.0/11"
flow_6 >"$TMP/flow6.out" 2>&1
grep '^# failover' "$TMP/flow6.out" | sed 's/^# failover:/# reconcile-based failover (no fleet):/'
grep "^not ok" "$TMP/flow6.out" | sed "s/^not ok - /not ok - (no fleet) /"
finish
