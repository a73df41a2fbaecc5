# Shared helpers for network-namespace tests.  Source it, then:
#   ns_new NAME              create namespace "$P-NAME" (P is unique per run)
#   veth NS1 IF1 NS2 IF2     a veth pair between two of our namespaces
#   bg NS CMD...             run CMD in the background inside NS (killed on exit)
#   check "what" CMD...      one assertion; counts pass/fail
#   check_not "what" CMD...  the assertion that CMD fails
#   finish                   prints "N passed, N failed" and exits accordingly
# Everything created is removed by the EXIT trap, and the trap verifies it.
# Tests never change the root namespace: every command that configures the
# network runs under `ip netns exec`.

set -u
[ "$(id -u)" = 0 ] || { echo "netns tests need root"; echo "0 passed, 1 failed"; exit 1; }

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLOUDROUTE=${CLOUDROUTE:-$TOP/cloudroute}
P="cr$(printf '%04x' $((RANDOM % 65536)))$$"
P=${P:0:9}
TMP=$(mktemp -d "/tmp/$P.XXXXXX")
PASS=0
FAIL=0
_NS=()
_PIDS=()
_SOCKS=()

ns() { echo "$P-$1"; }
ns_new() {
	ip netns add "$P-$1" || return 1
	_NS+=("$P-$1")
	ip -n "$P-$1" link set lo up
}
nsx() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
veth() {
	ip link add "$2" netns "$P-$1" type veth peer name "$4" netns "$P-$3"
	ip -n "$P-$1" link set "$2" up
	ip -n "$P-$3" link set "$4" up
}
bg() {
	local n=$1; shift
	ip netns exec "$P-$n" "$@" &
	_PIDS+=($!)
}
track_sock() { _SOCKS+=("/var/run/wireguard/$1.sock"); }

_cleanup() {
	local rc=$? p n left
	for p in "${_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for n in "${_NS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	for p in "${_SOCKS[@]}"; do rm -f "$p"; done
	rm -rf "$TMP"
	left=$(ip netns list | awk '{print $1}' | grep "^$P-" || true)
	if [ -n "$left" ]; then
		echo "cleanup: namespaces left behind: $left" >&2
		exit 1
	fi
	exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

check() {
	local what=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then
		PASS=$((PASS + 1)); echo "ok - $what"
	else
		FAIL=$((FAIL + 1)); echo "not ok - $what"; sed 's/^/#   /' "$TMP/.out" | tail -n 20
	fi
}
check_not() {
	local what=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then
		FAIL=$((FAIL + 1)); echo "not ok - $what (unexpectedly succeeded)"; sed 's/^/#   /' "$TMP/.out" | tail -n 20
	else
		PASS=$((PASS + 1)); echo "ok - $what"
	fi
}
# check_eq "what" expected actual
check_eq() {
	if [ "$2" = "$3" ]; then PASS=$((PASS + 1)); echo "ok - $1"
	else FAIL=$((FAIL + 1)); echo "not ok - $1"; echo "#   expected: $2"; echo "#   actual:   $3"; fi
}
# wait_for SECONDS CMD...: polls every 0.1 s
wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	while [ $SECONDS -le $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ]
}
