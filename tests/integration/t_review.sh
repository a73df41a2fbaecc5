#!/bin/bash
# Defects from review (issue "half-applied reloads, a data race, secrets,
# validation, tests that could touch the host"), agent and host side, each
# as it was seen.  Everything that reads or changes the kernel runs in the
# namespace "h":
#
#   h: eth0 10.0.0.10/18 <-veth-> tun0 (external tunnel), lo
. "$(dirname "$0")/../lib/netns.sh"

rc() { "$@" >"$TMP/out" 2>&1; echo $?; }
ns_new h || { finish; exit 1; }
ip -n "$P-h" link add eth0 type veth peer name tun0
ip -n "$P-h" link set eth0 up
ip -n "$P-h" link set tun0 up
nsx h ip addr add 10.0.0.10/18 dev eth0
nsx h ip -6 addr add fd00:10::10/64 dev eth0 nodad    # a dual-stack LAN

cfg() { # file, extra top-level JSON members
	cat >"$1" <<JSON
{ "lan_interface": "eth0", "tunnel": { "mode": "external", "interface": "tun0",
  "routes": ["192.168.0.0/22"] },
  "cloud": { "provider": "none" }, "nat": { "masquerade": false }$2,
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf" }
JSON
}
cfg "$TMP/v4.json" ""

# IPv6 forwarding is not switched on for an IPv4-only config on a dual-stack host.
nsx h "$CLOUDROUTE" -c "$TMP/v4.json" plan >"$TMP/plan" 2>&1
check "an IPv4-only config plans IPv4 forwarding" grep -q 'net.ipv4.ip_forward' "$TMP/plan"
check_not "... and no IPv6 forwarding on a dual-stack LAN" grep -q 'ipv6' "$TMP/plan"

# A LAN interface that does not exist is a "!" line (not a failure of the boot).
sed 's/"lan_interface": "eth0"/"lan_interface": "eth9", "local_subnets": ["10.0.0.0\/18"]/' \
	"$TMP/v4.json" >"$TMP/nolan.json"
nsx h "$CLOUDROUTE" -c "$TMP/nolan.json" plan >"$TMP/plan" 2>&1
check "a missing lan_interface is a conflict line" grep -q '! lan_interface eth9 does not exist' "$TMP/plan"
nsx h "$CLOUDROUTE" -c "$TMP/nolan.json" doctor >"$TMP/doc" 2>&1
check "... and a doctor problem" grep -q 'lan_interface eth9 does not exist' "$TMP/doc"

# rp_filter: lowering conf.all raises the other interfaces at run time only;
# the drop-in holds all, the LAN and the tunnel, and a new veth costs nothing.
nsx h sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
nsx h sysctl -qw net.ipv4.conf.lo.rp_filter=0
check "apply" nsx h "$CLOUDROUTE" -c "$TMP/v4.json" apply
check_eq "lo was raised to keep its effective value" 1 "$(nsx h sysctl -n net.ipv4.conf.lo.rp_filter)"
check_not "... but lo is not persisted in the drop-in" grep -q 'conf.lo.rp_filter' "$TMP/sysctl.conf"
check "the drop-in has conf.all" grep -q 'net.ipv4.conf.all.rp_filter = 0' "$TMP/sysctl.conf"
ip -n "$P-h" link add c1 type veth peer name c2
nsx h "$CLOUDROUTE" -c "$TMP/v4.json" plan >"$TMP/plan" 2>&1
check_eq "a new container veth costs no change" 0 "$(grep -c 'rp_filter' "$TMP/plan")"
ip -n "$P-h" link del c1

# status exit codes: 0 in sync, 2 drift.
check_eq "status in sync: exit 0" 0 "$(rc nsx h "$CLOUDROUTE" -c "$TMP/v4.json" status)"
nsx h sysctl -qw net.ipv4.ip_forward=0
check_eq "status with drift: exit 2" 2 "$(rc nsx h "$CLOUDROUTE" -c "$TMP/v4.json" status)"
nsx h "$CLOUDROUTE" -c "$TMP/v4.json" plan --json >"$TMP/pj" 2>/dev/null
check "plan --json has structured fields" python3 -c "
import json; d = json.load(open('$TMP/pj'))
c = [x for x in d['plan'] if x.get('kind') == 'sysctl' and x.get('object') == 'net.ipv4.ip_forward']
assert c and c[0]['action'] == 'change' and c[0]['from'] == '0' and c[0]['to'] == '1', c"

# teardown with a config that does not validate uses the state_dir it names
# and never creates a default one.
had_default=0; [ -e /var/lib/cloudroute ] && had_default=1
printf '{ "state_dir": "%s", "tunnel": { "mtu": "big" } }\n' "$TMP/state" >"$TMP/broken.json"
check "teardown with a broken config" nsx h "$CLOUDROUTE" -c "$TMP/broken.json" teardown
check "... took the lock in the config's state_dir" test -e "$TMP/state/lock"
check_eq "... restored ip_forward" 0 "$(nsx h sysctl -n net.ipv4.ip_forward)"
check "teardown --state-dir on a host with nothing" sh -c \
	"ip netns exec $P-h $CLOUDROUTE -c $TMP/nope.json --state-dir $TMP/none teardown | grep -q 'nothing to tear down'"
check_not "... created no state dir" test -e "$TMP/none"
if [ $had_default = 0 ]; then
	check_not "no /var/lib/cloudroute appeared" test -e /var/lib/cloudroute
fi

# Key files: one clear message at 0644; symlinks and foreign owners refused.
umask 077
"$CLOUDROUTE" genkey >"$TMP/k"
PUB=$("$CLOUDROUTE" pubkey <"$TMP/k")
ucfg() { # file, key file, peer key
	cat >"$1" <<JSON
{ "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "private_key_file": "$2", "address": ["100.96.0.1/11"],
    "peers": [ { "name": "self",
                 "public_key": "$3", "allowed_ips": ["192.168.0.0/22"] } ] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/ustate", "sysctl_file": "$TMP/usysctl.conf" }
JSON
}
OTHER=$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)
ucfg "$TMP/own.json" "$TMP/k" "$PUB"
check_eq "a peer with our own key: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/own.json" check)"
check "... at its public_key" grep -q "own.json:4:32: tunnel.peers\[0\].public_key: this is the connector's own public key" "$TMP/out"
cp "$TMP/k" "$TMP/k644"; chmod 644 "$TMP/k644"
ucfg "$TMP/k644.json" "$TMP/k644" "$OTHER"
check_eq "a 0644 key: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/k644.json" check)"
check_eq "... with one message" 1 "$(grep -c 'k644' "$TMP/out")"
check "... that says what to do" grep -q 'chmod 600' "$TMP/out"
ln -s "$TMP/k" "$TMP/klink"
ucfg "$TMP/klink.json" "$TMP/klink" "$OTHER"
check_eq "a symlinked key: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/klink.json" check)"
check "... explained" grep -q 'symbolic link' "$TMP/out"
cp "$TMP/k" "$TMP/knobody"; chown nobody "$TMP/knobody"
ucfg "$TMP/knobody.json" "$TMP/knobody" "$OTHER"
check_eq "a key owned by another user: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/knobody.json" check)"
check "... explained" grep -q 'owned by uid' "$TMP/out"
ucfg "$TMP/ok.json" "$TMP/k" "$OTHER"
check_eq "the good key passes" 0 "$(rc "$CLOUDROUTE" -c "$TMP/ok.json" check)"

# Interface names: one validator; what check accepts, plan accepts.
cfg "$TMP/q.json" ""
sed -i 's/"interface": "tun0"/"interface": "tun\\"0"/' "$TMP/q.json"
check_eq "an interface name with a quote: exit 78 at check" 78 "$(rc "$CLOUDROUTE" -c "$TMP/q.json" check)"
check "... saying it is not a valid interface name" grep -q 'not a valid interface name' "$TMP/out"

# Without root: one early, clear message.
check_eq "plan as nobody: exit 1" 1 "$(rc nsx h setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$CLOUDROUTE" -c "$TMP/v4.json" plan)"
check "... one clear message" grep -q 'run it as root (or with CAP_NET_ADMIN)' "$TMP/out"
check_eq "... and only that" 1 "$(wc -l <"$TMP/out")"
finish
