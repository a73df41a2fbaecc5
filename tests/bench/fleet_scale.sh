#!/bin/bash
# Fleet scale (issue 13): N sites written straight into a real etcd (batches
# of 100 puts per txn through the JSON gateway) -> one `cloudroute run`
# connector has every peer (wg show) and every kernel route into its tunnel;
# then all N deleted at once -> all gone.  Prints the times and the
# connector's RSS with N sites.  Bounds: 100 sites <= 10 s (appearing and
# disappearing), 1000 <= 30 s (appearing and disappearing), RSS < 64 MiB at 100.
#   bash tests/bench/fleet_scale.sh [N...]      (default: 100 1000; SCALE_TRACE=1:
#   progress while sites go, and the connector's log)
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"
SIZES=${*:-100 1000}

ns_new s || { [ -n "${SCALE_TRACE:-}" ] && sed 's/^/#   log: /' "$TMP/run.log" | tail -40
finish; exit 1; }
etcd_start s b 2379 --max-txn-ops 1000 --quota-backend-bytes 1073741824 ||
	{ echo "etcd did not start"; [ -n "${SCALE_TRACE:-}" ] && sed 's/^/#   log: /' "$TMP/run.log" | tail -40
finish; exit 1; }
IF=${P}x
track_sock "$IF"
(umask 077; "$CLOUDROUTE" genkey >"$TMP/k")
cat >"$TMP/c.json" <<JSON
{ "lan_interface": "lo", "local_subnets": ["10.0.0.0/24"], "nat": { "masquerade": false },
  "tunnel": { "interface": "$IF", "private_key_file": "$TMP/k", "address": ["100.96.0.1/11"] },
  "cloud": { "provider": "none" }, "reconcile_interval": 300,
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf",
  "fleet": { "etcd": ["http://127.0.0.1:2379"], "prefix": "/b/", "site": "me", "name": "me-1",
             "endpoint": "192.0.2.1:51820", "lease_ttl": 2 } }
JSON
ip netns exec "$(ns s)" "$CLOUDROUTE" -c "$TMP/c.json" -v run >"$TMP/run.log" 2>&1 &
RUN=$!
_PIDS+=($RUN)
wait_for 10 sh -c "ip netns exec $(ns s) wg show $IF peers >/dev/null 2>&1" ||
	{ echo "connector did not start"; cat "$TMP/run.log"; [ -n "${SCALE_TRACE:-}" ] && sed 's/^/#   log: /' "$TMP/run.log" | tail -40
finish; exit 1; }

# write|delete N: the sites in txns of 100 operations.
sites() {
	nsx s python3 - "$1" "$2" <<'PY'
import base64, json, os, sys, urllib.request
op, n = sys.argv[1], int(sys.argv[2])
b64 = lambda s: base64.b64encode(s.encode() if isinstance(s, str) else s).decode()
def txn(ops):
    body = json.dumps({"success": ops}).encode()
    rq = urllib.request.Request("http://127.0.0.1:2379/v3/kv/txn", data=body)
    json.load(urllib.request.urlopen(rq, timeout=30))
ops = []
for i in range(n):
    site = "site%04d" % i
    if op == "write":
        rec = {"public_key": b64(os.urandom(32)), "endpoint": "198.18.%d.%d:51820" % (i // 250, i % 250 + 1),
               "address": "100.97.%d.%d/32" % (i // 250, i % 250 + 1),
               "subnets": ["10.%d.%d.0/24" % (100 + i // 256, i % 256)]}
        ops.append({"request_put": {"key": b64("/b/sites/%s/%s-1" % (site, site)), "value": b64(json.dumps(rec))}})
        ops.append({"request_put": {"key": b64("/b/leaders/" + site), "value": b64(site + "-1")}})
    else:
        k = "/b/sites/%s/" % site
        ops.append({"request_delete_range": {"key": b64(k), "range_end": b64(k[:-1] + "0")}})
        ops.append({"request_delete_range": {"key": b64("/b/leaders/" + site)}})
    if len(ops) >= 200:
        txn(ops); ops = []
if ops:
    txn(ops)
PY
}
peers() { nsx s wg show "$IF" peers 2>/dev/null | grep -c .; }
routes() { nsx s ip route show dev "$IF" 2>/dev/null | grep -c '^10\.'; }
ms() { date +%s%3N; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$(pgrep -P "$RUN" -x cloudroute || echo "$RUN")/status" 2>/dev/null; }

for n in $SIZES; do
	t0=$(ms)
	sites write "$n"
	tw=$(($(ms) - t0))
	lim=$((n <= 100 ? 10 : 30))
	# Polled every 0.3 s: each `wg show` walks the device's allowed IPs per
	# peer, so polling faster would load the connector being measured.
	while [ "$(peers)" -lt "$n" ] || [ "$(routes)" -lt "$n" ]; do
		[ $(($(ms) - t0)) -gt $((lim * 3000)) ] && break
		sleep 0.3
	done
	t=$(($(ms) - t0))
	rss=$(rss_kib)
	echo "# fleet scale: $n sites written in $tw ms; every peer and kernel route after $t ms (bound $lim s); RSS $((rss / 1024)) MiB"
	check "$n sites applied within $lim s ($t ms)" test "$t" -le $((lim * 1000)) -a "$(peers)" -ge "$n"
	[ "$n" -le 100 ] && check "RSS under 64 MiB with $n sites ($((rss / 1024)) MiB)" test "$rss" -lt 65536
	t0=$(ms)
	sites delete "$n"
	while [ "$(peers)" -gt 0 ] || [ "$(routes)" -gt 0 ]; do
		[ $(($(ms) - t0)) -gt $((lim * 3000)) ] && break
		[ -n "${SCALE_TRACE:-}" ] && echo "#   +$(($(ms) - t0)) ms: $(peers) peers, $(routes) routes"
		sleep 0.3
	done
	t=$(($(ms) - t0))
	echo "# fleet scale: $n sites deleted; every peer and kernel route gone after $t ms (bound $lim s)"
	# The contract bounds disappearance for 100 sites (10 s); 1000 go as fast
	# as they came (kernel routes are deleted by key, one request each).
	check "$n sites removed within $lim s ($t ms)" test "$t" -le $((lim * 1000)) -a "$(peers)" -eq 0 -a "$(routes)" -eq 0
done
[ -n "${SCALE_TRACE:-}" ] && sed 's/^/#   log: /' "$TMP/run.log" | tail -40
finish
