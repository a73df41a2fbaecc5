#!/usr/bin/python3
"""The simulated GCP network's fabric, driven by the fake GCP's state (the
--on-change hook of tests/fakecloud/gcp.py).

The VPC is one "VPC router" namespace with one veth per instance (built by
tests/sim/t_gcp_flow.sh); its main table holds a /32 per instance and the
default route to the internet.  This script makes the rest follow the fake:

  routes        every route of the network with a nextHopInstance and no
                warning (the instance exists, runs and may forward) becomes
                `DEST via INSTANCE_IP proto 99`; routes it wrote that are no
                longer there are deleted (nothing else is touched)
  canIpForward  table `inet gcpsim` drops, per instance link, packets from
                the instance whose source is not its IP and packets to it
                whose destination is not its IP unless canIpForward is true;
                everything to and from a deleted or stopped instance

  gcpsync.py sync NETNS MAP [STATE]     (STATE defaults to $FAKECLOUD_STATE)
      MAP: JSON {"network": "vpc", "links": {"INSTANCE": "ROUTER_LINK"}}
  gcpsync.py show NETNS                 the routes it wrote
"""

import json
import os
import subprocess
import sys

PROTO = "99"


def run(ns, args, inp=None):
    return subprocess.run(["ip", "netns", "exec", ns] + args, input=inp, text=True,
                          capture_output=True, check=False)


def sync(ns, mp, st):
    net = mp["network"]
    inst = {i["name"]: i for i in st["instances"] if i["network"] == net}
    want = {}
    for r in st["routes"]:
        hop = r.get("nextHopInstance")
        if not hop or not r["network"].endswith("/networks/" + net) or r.get("warnings"):
            continue
        i = inst.get(hop.rsplit("/", 1)[1])
        if i is not None and r["destRange"] not in want:
            want[r["destRange"]] = i["ip"]
    have = {}
    out = run(ns, ["ip", "-j", "route", "show", "proto", PROTO])
    for r in json.loads(out.stdout or "[]"):
        have[r["dst"] if "/" in r["dst"] else r["dst"] + "/32"] = r.get("gateway")
    for dst in have:
        if dst not in want:
            run(ns, ["ip", "route", "del", dst, "proto", PROTO])
    for dst, via in want.items():
        if have.get(dst) != via:
            r = run(ns, ["ip", "route", "replace", dst, "via", via, "proto", PROTO])
            if r.returncode != 0:
                print("gcpsync: %s via %s: %s" % (dst, via, r.stderr.strip()), file=sys.stderr)
                return 1
    rules = []
    for name, link in sorted(mp["links"].items()):
        i = inst.get(name)
        if i is None or i["deleted"] or i["status"] != "RUNNING":
            rules += ['iifname "%s" drop' % link, 'oifname "%s" drop' % link]
        elif not i["can_ip_forward"]:
            rules += ['iifname "%s" ip saddr != %s drop' % (link, i["ip"]),
                      'oifname "%s" ip daddr != %s drop' % (link, i["ip"])]
    nft = ("table inet gcpsim\ndelete table inet gcpsim\ntable inet gcpsim {\n"
           " chain canipforward { type filter hook forward priority -10; policy accept;\n  %s\n }\n}\n"
           % "\n  ".join(rules))
    r = run(ns, ["nft", "-f", "-"], nft)
    if r.returncode != 0:
        print("gcpsync: nft: %s" % r.stderr.strip(), file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "sync":
        with open(argv[2]) as f:
            mp = json.load(f)
        with open(argv[3] if len(argv) > 3 else os.environ["FAKECLOUD_STATE"]) as f:
            st = json.load(f)
        return sync(argv[1], mp, st)
    if len(argv) == 2 and argv[0] == "show":
        out = run(argv[1], ["ip", "route", "show", "proto", PROTO]).stdout
        print(out.rstrip() or "(no cloud routes)")
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
