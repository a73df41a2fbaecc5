#!/bin/bash
# The systemd unit for real: a throwaway container (systemd-nspawn --boot)
# on an overlay of this system's root, with its own network namespace,
# runs units/cloudroute.service with all its sandboxing (root with only the
# network capabilities, read-only /proc/sys except /proc/sys/net, a private
# /dev with /dev/net/tun, ProtectSystem=strict).  The daemon must create
# its TUN device, set forwarding, install its table, answer `wg` on the
# UAPI socket, reload on `systemctl reload` and stop leaving state in place.
# `systemd-analyze security` exposure must be <= 2.0.  Nothing reaches the
# real root or network: writes go to the overlay's tmpfs.
. "$(dirname "$0")/../lib/netns.sh"

command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing (apt-get install systemd-container)"; echo "0 passed, 1 failed"; exit 1; }

# The exposure of the unit as written, whether or not a container can boot.
sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@DOCDIR@|/usr/share/doc/cloudroute|g' \
	"$TOP/units/cloudroute.service" >"$TMP/cloudroute.service"
OFF=$(systemd-analyze security --offline=yes "$TMP/cloudroute.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for cloudroute.service: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security --offline: exposure $OFF"
check "unit file exposure <= 2.0 (offline)" awk -v e="$OFF" 'BEGIN { exit !(e != "" && e <= 2.0) }'

NSPID=""
stop_container() {
	[ -n "$NSPID" ] || return 0
	C systemctl poweroff >/dev/null 2>&1 || kill "$NSPID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.2; done
	kill -9 "$NSPID" 2>/dev/null
	NSPID=""
}
C() { nsenter -t "$LEADER" -a "$@"; }

# The container and its mounts live in a private mount namespace of their own.
cat >"$TMP/boot.sh" <<'SH'
set -eu
T=$1 R=$2
. "$3/tests/lib/overlayroot.sh"
overlay_root "$T" "$R"
mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
# Only what the test needs boots: no database, etcd or prometheus of the host image.
find "$R/etc/systemd/system" -path '*.wants/*' -name '*.service' -delete
# nspawn's own filter predates Landlock: let the container have it, as a host has.
exec systemd-nspawn -q -D "$R" --boot --private-network --register=no --keep-unit \
	--link-journal=no --console=passive -M "cr$$" --bind=/dev/net/tun \
	--system-call-filter='landlock_create_ruleset landlock_add_rule landlock_restrict_self'
SH
mkdir -p "$TMP/ov"
unshare -m --propagation private bash "$TMP/boot.sh" "$TMP" "$TMP/root" "$TOP" >"$TMP/boot.log" 2>&1 &
NSPID=$!
trap 'stop_container; _cleanup' EXIT
# The container's PID 1: a process named systemd descending from NSPID.
descends() {
	local p=$1
	while [ -n "$p" ] && [ "$p" -gt 1 ]; do
		[ "$p" = "$NSPID" ] && return 0
		p=$(awk '/^PPid:/ {print $2}' /proc/$p/status 2>/dev/null)
	done
	return 1
}
LEADER=""
for _ in $(seq 100); do
	for p in $(pgrep -x systemd); do descends "$p" && LEADER=$p && break; done
	[ -n "$LEADER" ] && break; sleep 0.2
done
if [ -z "$LEADER" ]; then
	# A machine that cannot run a container (no cgroup access, no
	# namespaces) is not a product failure: say so and stop here.
	echo "# no container could boot here; the unit was checked offline only:"
	sed 's/^/#   /' "$TMP/boot.log" | tail -n 5
	finish
	exit
fi
check "container boots" test -n "$LEADER"
up() {
	local st
	for _ in $(seq 300); do
		st=$(C systemctl is-system-running 2>/dev/null)
		case $st in running|degraded) return 0 ;; esac
		sleep 0.2
	done
	echo "state: $st"; return 1
}
check "its systemd is up" up
# From here on the container's root is seen through its PID 1.
R=/proc/$LEADER/root

# Install: the Debian package when t_deb (or `make deb`) built one from this
# tree, else the binary, unit and pages as `make install` puts them.
DEB=$TOP/build-deb/cloudroute_0.1.0_amd64.deb
UNIT=/etc/systemd/system/cloudroute.service
if [ -f "$DEB" ] && [ "$DEB" -nt "$TOP/cloudroute" ]; then
	cp "$DEB" "$R/tmp/c.deb"
	check "dpkg -i the package in the container" C dpkg -i /tmp/c.deb
	check_not "installing started nothing" C systemctl is-active -q cloudroute
	check_not "... and enabled nothing" C systemctl is-enabled -q cloudroute
	UNIT=/lib/systemd/system/cloudroute.service
else
	echo "# no fresh build-deb/*.deb: installing as make install does"
	install -m 0755 "$TOP/cloudroute" "$R/usr/sbin/cloudroute"
	sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@DOCDIR@|/usr/share/doc/cloudroute|g' \
		"$TOP/units/cloudroute.service" >"$R$UNIT"
	mkdir -p "$R/usr/share/man/man8" "$R/usr/share/man/man5"
	install -m 0644 "$TOP/man/cloudroute.8" "$R/usr/share/man/man8/"
	install -m 0644 "$TOP/man/cloudroute.json.5" "$R/usr/share/man/man5/"
	mkdir -p -m 0700 "$R/etc/cloudroute"
fi
"$TOP/cloudroute" genkey >"$R/etc/cloudroute/private.key" 2>/dev/null
chmod 0600 "$R/etc/cloudroute/private.key"
cat >"$R/etc/cloudroute/cloudroute.json" <<'JSON'
{ "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "address": ["100.96.0.1/11"], "listen_port": 51820,
              "peers": [ { "name": "hub", "public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
                           "allowed_ips": ["100.96.0.0/11"] } ] },
  "cloud": { "provider": "none" }, "reconcile_interval": 5 }
JSON
C ip link add eth0 type veth peer name eth1
C ip link set eth1 up
C ip addr add 10.0.0.10/18 dev eth0
C ip link set eth0 up
C sysctl -qw net.ipv4.ip_forward=0

C systemctl daemon-reload
check "systemd-analyze verify" C systemd-analyze verify "$UNIT"
C systemd-analyze security cloudroute.service >"$TMP/sec" 2>&1
EXPO=$(sed -n 's/.*Overall exposure level for cloudroute.service: \([0-9.]*\).*/\1/p' "$TMP/sec")
echo "# systemd-analyze security: exposure $EXPO"
check "exposure <= 2.0" awk -v e="$EXPO" 'BEGIN { exit !(e != "" && e <= 2.0) }'
check "systemctl start" C systemctl start cloudroute
check "it is active (Type=notify: it said READY)" C systemctl is-active -q cloudroute
check "TUN device cr0 created through the private /dev" C ip link show cr0
check "forwarding on through /proc/sys/net" sh -c "[ \$(nsenter -t $LEADER -a sysctl -n net.ipv4.ip_forward) = 1 ]"
check "its nftables table is there" C nft list table inet cloudroute
check "state written" test -s "$R/var/lib/cloudroute/state.json"
check "sysctl drop-in written" grep -q 'net.ipv4.ip_forward = 1' "$R/etc/sysctl.d/90-cloudroute.conf"
check "wg reads the UAPI socket" sh -c "nsenter -t $LEADER -a wg show cr0 listen-port | grep -qx 51820"
check "wg sees the peer" sh -c "nsenter -t $LEADER -a wg show cr0 peers | grep -q xTIBA5rb"
MAIN=$(C systemctl show -p MainPID --value cloudroute)
CAPS=$(C capsh --decode="$(C awk '/^CapEff/ {print $2}' /proc/$MAIN/status)")
echo "# effective capabilities: $CAPS"
check_eq "only the network capabilities" "cap_net_bind_service,cap_net_admin,cap_net_raw" "${CAPS#*=}"
# The cloud process (agent/cloudproc.h) under the unit's own seccomp filter:
# it could drop every capability (capset) and filter its own calls.
CHILD=$(C pgrep -P "$MAIN" -f __cloud-process | head -1)
check "the cloud process runs" test -n "$CHILD"
cstat() { C awk -v k="$1:" '$1 == k { print $2 }' /proc/"$CHILD"/status; }
echo "# cloud process $CHILD: CapEff $(cstat CapEff) CapPrm $(cstat CapPrm) NoNewPrivs $(cstat NoNewPrivs) Seccomp $(cstat Seccomp)"
check_eq "the cloud process has no effective capability" 0000000000000000 "$(cstat CapEff)"
check_eq "... and no permitted one" 0000000000000000 "$(cstat CapPrm)"
check_eq "... nor an ambient one" 0000000000000000 "$(cstat CapAmb)"
check "systemctl reload" C systemctl reload cloudroute
sleep 1
check "still active after reload" C systemctl is-active -q cloudroute
check "systemctl stop" C systemctl stop cloudroute
check_not "inactive" C systemctl is-active -q cloudroute
check "stop leaves the table (teardown removes it)" C nft list table inet cloudroute
check "cloudroute teardown" C cloudroute teardown
check_not "table gone after teardown" C nft list table inet cloudroute
C journalctl -u cloudroute --no-pager -o cat >"$TMP/journal" 2>&1
check_not "no 'Permission denied' or 'Read-only' in the journal" grep -qiE 'permission denied|read-only file system|operation not permitted' "$TMP/journal"
grep 'cloud process' "$TMP/journal" | sed 's/^/# journal: /'
check_not "the cloud process had Landlock and capset under the unit's filter" \
	grep -qE 'cloud process: (no Landlock|cannot drop)' "$TMP/journal"
# doctor in a container on AWS: the IMDSv2 hop limit (no metadata probe
# leaves the container: the overrides point at a closed loopback port).
sed 's/"provider": "none"/"provider": "aws"/' "$R/etc/cloudroute/cloudroute.json" >"$R/etc/cloudroute/aws.json"
C env CLOUDROUTE_AWS_METADATA_URL=http://127.0.0.1:9 CLOUDROUTE_AWS_API_URL=https://127.0.0.1:9 \
	CLOUDROUTE_DMI_DIR=/nonexistent cloudroute -c /etc/cloudroute/aws.json doctor >"$TMP/doc" 2>&1
check "doctor in a container names the IMDSv2 hop limit" grep -q 'running in a container (systemd-nspawn): on AWS the instance.s IMDSv2 hop limit must be 2' "$TMP/doc"
if [ "$UNIT" = /lib/systemd/system/cloudroute.service ]; then
	check "dpkg --purge" C dpkg --purge cloudroute
	for f in /etc/cloudroute /var/lib/cloudroute /usr/sbin/cloudroute "$UNIT" \
		/etc/sysctl.d/90-cloudroute.conf; do
		check_not "purge left nothing: $f" test -e "$R$f"
	done
fi
stop_container
finish
