# A real etcd (Debian etcd-server) for namespace tests.  Source after netns.sh:
#   etcd_start NS NAME PORT [EXTRA ARGS...]   etcd in namespace NS on 127.0.0.1:PORT
#                                             (peer port PORT+1, data in $TMP/etcd-NAME)
#   etcd_stop                                 stops it (SIGTERM, waits); etcd_start
#                                             again with the same NAME restarts it on
#                                             its data
#   etcd_ctl NS PORT ARGS...                  etcdctl (v3 API) against it
# Every client URL it listens on is inside the test namespace.
etcd_start() {
	local ns=$1 name=$2 port=$3; shift 3
	local urls=${ETCD_CLIENT_URLS:-http://127.0.0.1:$port}
	bg "$ns" etcd --name "$name" --data-dir "$TMP/etcd-$name" \
		--listen-client-urls "$urls" --advertise-client-urls "$urls" \
		--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-cluster "$name=http://127.0.0.1:$((port + 1))" \
		--log-outputs "$TMP/etcd-$name.log" --logger zap "$@" 2>/dev/null
	ETCD_PID=$!
	wait_for 15 etcd_ctl "$ns" "$port" endpoint health
}
etcd_ctl() {
	local ns=$1 port=$2; shift 2
	ETCDCTL_API=3 nsx "$ns" etcdctl --endpoints "http://127.0.0.1:$port" \
		--command-timeout 3s "$@"
}
etcd_stop() {
	kill -TERM "$ETCD_PID" 2>/dev/null
	wait "$ETCD_PID" 2>/dev/null
}
