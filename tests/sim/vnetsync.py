#!/usr/bin/python3
"""Drives a simulated Azure VNet router (a network namespace) from the fake
ARM's state (tests/fakecloud/azure.py): run inside the router namespace.

  vnetsync.py --control 127.0.0.1:PORT --vnet-cidr 10.0.0.0/16
              --table rt-connectors=101 ...    route table -> kernel table
              --nic nic-hq=h-conn ...          NIC -> the router's link to it

Every 0.2 s it reads GET /state; when the version changed it rewrites:
  - each kernel table: "throw VNET_CIDR" (the VNet's system route: back to
    the main table's per-host /32s) plus the table's UDRs: VirtualAppliance
    -> "via NEXT_HOP dev LINK onlink" (the link whose NIC has that IP; none
    = blackhole, as Azure drops traffic to an appliance that is not there),
    None -> blackhole, VnetLocal -> throw; Internet and gateways are not
    simulated (no route: unreachable);
  - table inet vnetsim: while a NIC's enableIPForwarding is off, packets from
    its link not sourced from its IP, and packets to it not addressed to it,
    are dropped (what Azure does to a VM that forwards without the setting).
The `ip rule iif LINK lookup TABLE` selecting a subnet's table is the test's.
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.request


def run(cmd, text):
    p = subprocess.run(cmd, input=text, text=True, capture_output=True)
    if p.returncode != 0:
        print("vnetsync: %s: %s" % (" ".join(cmd), p.stderr.strip()), file=sys.stderr)
    return p.returncode == 0


def render(state, args):
    nics = state["nics"]
    link_of_ip = {n["ip"]: args.nic[name] for name, n in nics.items() if name in args.nic}
    ip_cmds = []
    for name, num in args.table.items():
        ip_cmds.append("route flush table %d" % num)
        ip_cmds.append("route add throw %s table %d" % (args.vnet_cidr, num))
        t = state["route_tables"].get(name, {"routes": {}})
        for r in t["routes"].values():
            if r["state"] == "Deleting":
                continue
            pfx, nht = r["prefix"], r["next_hop_type"]
            if nht == "VirtualAppliance":
                dev = link_of_ip.get(r["next_hop_ip"])
                ip_cmds.append("route replace %s via %s dev %s onlink table %d"
                               % (pfx, r["next_hop_ip"], dev, num) if dev else
                               "route replace blackhole %s table %d" % (pfx, num))
            elif nht == "None":
                ip_cmds.append("route replace blackhole %s table %d" % (pfx, num))
            elif nht == "VnetLocal":
                ip_cmds.append("route replace throw %s table %d" % (pfx, num))
    nft = ["table inet vnetsim", "delete table inet vnetsim", "table inet vnetsim {",
           " chain forward_check { type filter hook forward priority 0; policy accept;"]
    for name, link in args.nic.items():
        n = nics.get(name)
        if n is not None and not n["ip_forwarding"]:
            nft.append('  iifname "%s" ip saddr != %s drop' % (link, n["ip"]))
            nft.append('  oifname "%s" ip daddr != %s drop' % (link, n["ip"]))
    nft += [" }", "}"]
    return "\n".join(ip_cmds) + "\n", "\n".join(nft) + "\n"


def kv(text):
    k, _, v = text.partition("=")
    if not k or not v:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return k, v


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--control", required=True)
    p.add_argument("--vnet-cidr", required=True)
    p.add_argument("--table", type=kv, action="append", default=[])
    p.add_argument("--nic", type=kv, action="append", default=[])
    p.add_argument("--once", action="store_true")
    a = p.parse_args(argv)
    a.table = {k: int(v) for k, v in a.table}
    a.nic = dict(a.nic)
    last = None
    while True:
        try:
            with urllib.request.urlopen("http://%s/state" % a.control, timeout=2) as r:
                state = json.load(r)
        except (OSError, ValueError):
            state = None
        if state is not None and state["version"] != last:
            ipb, nft = render(state, a)
            if run(["ip", "-force", "-batch", "-"], ipb) and run(["nft", "-f", "-"], nft):
                last = state["version"]
        if a.once:
            return 0
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
