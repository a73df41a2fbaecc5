#!/usr/bin/python3
"""The simulated tenant network's Neutron dataplane, driven by the fake
OpenStack's state (its --on-change hook):

  ossync.py ROUTER_ID ROUTER_NS LAN_NS [STATE]     (STATE default $FAKECLOUD_STATE)

- the router ROUTER_ID's extra routes become kernel routes in ROUTER_NS
  (protocol 99; replaced or deleted by diff, nothing else touched);
- every port with a MAC and fixed IPs gets Neutron's anti-spoofing on the
  tenant bridge in LAN_NS (table `bridge ossim`): while port security is on,
  IPv4 packets from the port's MAC whose source is neither a fixed IP nor in
  an allowed address pair are dropped, as Neutron's port security does.
"""

import ipaddress
import json
import os
import subprocess
import sys

PROTO = "99"


def sh(args, inp=None):
    return subprocess.run(args, input=inp, text=True, capture_output=True, check=True).stdout


def sync_routes(ns, want):
    have = json.loads(sh(["ip", "-n", ns, "-j", "route", "show", "proto", PROTO]) or "[]")
    have = {(r["dst"], r.get("gateway")) for r in have}
    want = {(str(ipaddress.ip_network(r["destination"])), r["nexthop"]) for r in want}
    for dst, gw in have - want:
        sh(["ip", "-n", ns, "route", "del", dst, "via", gw, "proto", PROTO])
    for dst, gw in want - have:
        sh(["ip", "-n", ns, "route", "replace", dst, "via", gw, "proto", PROTO])


def sync_ports(ns, ports):
    rules = []
    for p in ports:
        if not p.get("port_security_enabled", True) or not p["fixed_ips"]:
            continue
        ok = [f["ip_address"] for f in p["fixed_ips"]]
        ok += [a["ip_address"] for a in p["allowed_address_pairs"]
               if a.get("mac_address", p["mac_address"]).lower() == p["mac_address"].lower()]
        ok = [x for x in ok if ipaddress.ip_network(x, strict=False).version == 4]
        rules.append("    ether saddr %s ether type ip ip saddr != { %s } drop"
                     % (p["mac_address"], ", ".join(ok)))
    conf = ("table bridge ossim\ndelete table bridge ossim\n"
            "table bridge ossim {\n  chain antispoof {\n"
            "    type filter hook forward priority 0; policy accept;\n%s\n  }\n}\n"
            % "\n".join(rules))
    sh(["ip", "netns", "exec", ns, "nft", "-f", "-"], conf)


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 64
    router, rns, lns = argv[:3]
    path = argv[3] if len(argv) == 4 else os.environ["FAKECLOUD_STATE"]
    with open(path) as f:
        st = json.load(f)
    r = [x for x in st["routers"] if x["id"] == router]
    sync_routes(rns, r[0]["routes"] if r else [])
    sync_ports(lns, [p for p in st["ports"] if not p["device_owner"].startswith("network:")])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
