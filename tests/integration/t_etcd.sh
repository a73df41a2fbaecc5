#!/bin/bash
# The etcd client (providers/etcd) against a real etcd 3.4 through its JSON
# gateway, driven by tests/tools/etcd_probe and cross-checked with etcdctl.
# One namespace:
#
#   e: etcd  http://127.0.0.1:2379 (plain, named by the test)
#            https://127.0.0.1:2479 (test CA, client certificates required)
#      nothing listens on 127.0.0.1:2399 (a dead endpoint for failover)
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"

make -s -C "$TOP" build/tests/tools/etcd_probe >/dev/null || { echo "build failed"; finish; exit 1; }
PROBE=$TOP/build/tests/tools/etcd_probe
ns_new e || { finish; exit 1; }

# TLS material: the fake cloud's CA script, a client certificate, and an etcd
# server certificate that is valid for clientAuth too (etcd's gateway dials its
# own gRPC port with the server certificate when client certificates are required).
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
( cd "$TMP/ca" && umask 077 &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key \
	-out client.csr -subj "/CN=cloudroute-test" 2>/dev/null &&
  printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext &&
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
	-extfile client.ext -out client.pem 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout etcd.key \
	-out etcd.csr -subj "/CN=localhost" 2>/dev/null &&
  printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >etcd.ext &&
  openssl x509 -req -in etcd.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
	-extfile etcd.ext -out etcd.pem 2>/dev/null ) || { echo "client cert failed"; finish; exit 1; }
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/otherca" >/dev/null 2>&1

ETCD_CLIENT_URLS=http://127.0.0.1:2379,https://127.0.0.1:2479 etcd_start e t 2379 \
	--cert-file "$TMP/ca/etcd.pem" --key-file "$TMP/ca/etcd.key" \
	--client-cert-auth --trusted-ca-file "$TMP/ca/ca.pem" ||
	{ echo "etcd did not start"; finish; exit 1; }
E=http://127.0.0.1:2379
p() { nsx e "$PROBE" "$@"; }

check "put" p $E put /cr/sites/hq/hq-1 '{"a":1}'
check_eq "etcdctl sees the value" '{"a":1}' "$(etcd_ctl e 2379 get --print-value-only /cr/sites/hq/hq-1)"
etcd_ctl e 2379 put /cr/sites/br/br-1 'x y' >/dev/null
etcd_ctl e 2379 put /cs/other 'no' >/dev/null
check_eq "prefix range" "2" "$(p $E prefix /cr/ | grep -c '^/cr/')"
check "get one key" sh -c "nsx() { ip netns exec $(ns e) \"\$@\"; }; nsx $PROBE $E get /cr/sites/br/br-1 | grep -qx '/cr/sites/br/br-1=x y lease=0 create=[0-9]*'"
check "delete" sh -c "ip netns exec $(ns e) $PROBE $E del /cr/sites/br/br-1 | grep -qx deleted=1"
check_eq "deleted for etcdctl" "" "$(etcd_ctl e 2379 get /cr/sites/br/br-1)"

# Leases: grant, attach, keep alive, revoke; a revoked lease answers ENOENT.
read -r L TTL < <(p $E grant 2)
check_eq "lease granted with TTL 2" 2 "$TTL"
check "put with lease" p $E put /cr/leaders/hq hq-1 "$L"
check_eq "etcdctl: key carries the lease" "$(printf %x "$L")" \
	"$(etcd_ctl e 2379 get /cr/leaders/hq -w json | python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["kvs"][0]["lease"])')"
check "keepalive" sh -c "ip netns exec $(ns e) $PROBE $E keepalive $L | grep -q '^ttl=[12]$'"
check_eq "election lost while held" "held by hq-1" "$(p $E elect /cr/leaders/hq hq-2 "$L")"
check "revoke" p $E revoke "$L"
check_eq "revoked lease took its key" "" "$(etcd_ctl e 2379 get /cr/leaders/hq)"
check_not "keepalive of a revoked lease" p $E keepalive "$L"
check_eq "keepalive error names the expiry" 1 "$(p $E keepalive "$L" 2>&1 | grep -c 'expired\|not found')"
read -r L2 _ < <(p $E grant 2)
check_eq "election won when free" won "$(p $E elect /cr/leaders/hq hq-2 "$L2")"
check_eq "etcdctl sees the leader" hq-2 "$(etcd_ctl e 2379 get --print-value-only /cr/leaders/hq)"
sleep 3.2
check_eq "unrefreshed lease expired with its key" "" "$(etcd_ctl e 2379 get /cr/leaders/hq)"

# Watch from a revision: the events made before and after it starts.
REV=$(p $E get /cr/none | sed -n 's/^revision=//p')
etcd_ctl e 2379 put /cr/sites/w/a 1 >/dev/null
nsx e "$PROBE" $E watch /cr/ $((REV + 1)) 4 >"$TMP/watch.out" 2>"$TMP/watch.err" &
WP=$!
sleep 0.5
etcd_ctl e 2379 put /cr/sites/w/b 2 >/dev/null
etcd_ctl e 2379 put /cs/outside 3 >/dev/null
etcd_ctl e 2379 del /cr/sites/w/a >/dev/null
etcd_ctl e 2379 put /cr/sites/w/c "$(head -c 3000 /dev/zero | tr '\0' x)" >/dev/null
wait_for 5 sh -c "! kill -0 $WP"
kill $WP 2>/dev/null
check_eq "watch: events in order, prefix only" "PUT /cr/sites/w/a=1
PUT /cr/sites/w/b=2
DELETE /cr/sites/w/a=
PUT /cr/sites/w/c" "$(grep -v '^created' "$TMP/watch.out" | sed 's/ rev=.*//; s/=xxx*$//')"

# Compaction: a watch from a compacted revision is told so.
NOW=$(p $E get /cr/none | sed -n 's/^revision=//p')
etcd_ctl e 2379 compact "$NOW" >/dev/null
check_not "watch from a compacted revision fails" p $E watch /cr/ 2 1
check "... saying compacted" sh -c "ip netns exec $(ns e) $PROBE $E watch /cr/ 2 1 2>&1 | grep -q compacted"

# Failover: the first endpoint refuses connections.
check "failover to the second endpoint" sh -c \
	"ip netns exec $(ns e) $PROBE http://127.0.0.1:2399,$E get /cr/x 2>&1 | grep -q 'endpoint $E'"
check_not "all endpoints down" p http://127.0.0.1:2399,http://127.0.0.1:2398 get /cr/x
check_not "an endpoint with a path is refused" p $E/v3 get /cr/x

# https with client certificates.
S=https://127.0.0.1:2479
tls() { ETCD_PROBE_CA=$1 ETCD_PROBE_CERT=$2 ETCD_PROBE_KEY=$3 nsx e "$PROBE" "${@:4}"; }
check "https with CA and client certificate" tls "$TMP/ca/ca.pem" "$TMP/ca/client.pem" \
	"$TMP/ca/client.key" $S put /cr/tls ok
check_eq "written over TLS" ok "$(etcd_ctl e 2379 get --print-value-only /cr/tls)"
check_not "https without a client certificate" tls "$TMP/ca/ca.pem" "" "" $S get /cr/tls
check_not "https with the wrong CA" tls "$TMP/otherca/ca.pem" "$TMP/ca/client.pem" \
	"$TMP/ca/client.key" $S get /cr/tls
check_not "https without any CA (system store only)" nsx e "$PROBE" $S get /cr/tls

finish
