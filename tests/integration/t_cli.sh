#!/bin/bash
# The command-line contract (DESIGN.md): exit codes 0/2/64/78, check's
# message and file:line:col errors, -c and $CLOUDROUTE_CONFIG, -v/--json
# placement, version.  Read-only commands only; plan runs in a namespace.
. "$(dirname "$0")/../lib/netns.sh"

rc() { "$@" >"$TMP/out" 2>&1; echo $?; }
GOOD=$TMP/good.json
cat >"$GOOD" <<JSON
{ "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0" },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf" }
JSON

check_eq "no command: usage, exit 64" 64 "$(rc "$CLOUDROUTE")"
check_eq "unknown command: exit 64" 64 "$(rc "$CLOUDROUTE" frobnicate)"
check "... and says which" grep -q 'unknown command "frobnicate"' "$TMP/out"
check_eq "unknown option: exit 64" 64 "$(rc "$CLOUDROUTE" --bogus check)"
check_eq "two commands: exit 64" 64 "$(rc "$CLOUDROUTE" check plan)"
check_eq "version: exit 0" 0 "$(rc "$CLOUDROUTE" version)"
check "version prints the version" grep -qE '^cloudroute [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out"
check_eq "check -c good: exit 0" 0 "$(rc "$CLOUDROUTE" -c "$GOOD" check)"
check_eq "check prints configuration OK" "configuration OK" "$(head -n1 "$TMP/out")"
check_eq "CLOUDROUTE_CONFIG is honoured" 0 "$(rc env CLOUDROUTE_CONFIG="$GOOD" "$CLOUDROUTE" check)"
check_eq "-c after the command works too" 0 "$(rc "$CLOUDROUTE" check -c "$GOOD")"
check_eq "missing config file: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/nope.json" check)"
check "... naming the file" grep -q "$TMP/nope.json: No such file or directory" "$TMP/out"
printf '{\n  "tunnel": {\n    "mtu": "big"\n  }\n}\n' >"$TMP/bad.json"
check_eq "wrong type: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/bad.json" check)"
check "... at file:line:col" grep -q "$TMP/bad.json:3:12: tunnel.mtu: expected an integer, got a string" "$TMP/out"
printf '{ "tunnel": { "peers": [ { "public_key": "x" } ] }, "colud": {} }' >"$TMP/bad2.json"
check_eq "several errors: exit 78" 78 "$(rc "$CLOUDROUTE" -c "$TMP/bad2.json" check)"
check "... all reported (unknown key)" grep -q 'unknown key "colud"' "$TMP/out"
check "... all reported (missing allowed_ips)" grep -q '"allowed_ips" is required' "$TMP/out"

# plan's exit codes and output, in a namespace (it reads the kernel).
ns_new p
ip -n "$P-p" link add eth0 type veth peer name tun0
ip -n "$P-p" link set eth0 up
ip -n "$P-p" link set tun0 up
nsx p ip addr add 10.0.0.10/18 dev eth0
check_eq "plan with changes pending: exit 2" 2 "$(rc nsx p "$CLOUDROUTE" -c "$GOOD" plan)"
check "plan groups by section" grep -q '^host:$' "$TMP/out"
check_eq "plan --json: exit 2" 2 "$(rc nsx p "$CLOUDROUTE" -c "$GOOD" plan --json)"
check "plan --json is JSON with the change count" python3 -c "
import json; d = json.load(open('$TMP/out')); assert d['changes'] > 0 and isinstance(d['plan'], list)"
check_eq "plan changed nothing" 0 "$(nsx p sysctl -n net.ipv4.ip_forward)"
check_not "plan installed no table" nsx p nft list table inet cloudroute
finish
