#!/usr/bin/python3
"""The simulated VCNs' routers, driven by the fake OCI's state: the OCI
counterpart of vpcsync.py, whose router machinery it reuses.

  ocisync.py gen SPEC OUTDIR
      the same SPEC as vpcsync.py (written by topo.sh).  Writes
      OUTDIR/oci-scenario.json (tests/fakecloud/oci.py's scenario: one VCN per
      site with an internet gateway and a default route table, one route
      table per subnet that names one, a VNIC + private IP per host, an
      instance OCID per connector) and OUTDIR/map.json (vpcsync's map
      plus the OCI names).
  ocisync.py sync --map MAP [STATE]
      (the fake's --on-change hook; STATE defaults to $FAKECLOUD_STATE)
      translates the OCI state into vpcsync's model and applies it: each
      route table is a kernel table of the VCN router, the VCN's own CIDR
      routes locally (OCI's implicit VCN routing), a rule to the internet
      gateway goes out of the igw link, a rule to a private IP to that
      VNIC's address (blackhole when the private IP is gone), and a VNIC
      with skipSourceDestCheck false drops what is not its own traffic.
"""

import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vpcsync  # noqa: E402

TENANCY = "ocid1.tenancy.oc1..aaaaaaaasimtenancy"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaasimcompartment"


def oid(kind, name):
    return "ocid1.%s.oc1.sim.%s" % (kind, name)


def gen(spec, outdir):
    sites, subnets, hosts = vpcsync.parse_spec(spec)
    sc = {"region": "us-ashburn-1", "realm_domain": "oraclecloud.com", "tenancy": TENANCY,
          "compartment": COMPARTMENT, "vcns": [], "subnets": [], "routeTables": [],
          "vnics": [], "gateways": []}
    m = {"cache_dir": os.path.join(os.path.abspath(outdir), "ocisync.cache"), "vpcs": {},
         "tables": {}, "vcn": {}, "igw": {}, "subnet_vpc": {}}
    tid = vpcsync.TABLE_BASE
    for s in sites:
        site = s["vpc"][4:]
        vcn, igw = oid("vcn", site), oid("internetgateway", site)
        sc["vcns"].append({"id": vcn, "cidrBlocks": [s["cidr"]]})
        sc["gateways"].append(igw)
        m["vcn"][vcn] = {"vpc": s["vpc"], "cidr": s["cidr"]}
        m["igw"][igw] = "igw-" + site
        m["vpcs"][s["vpc"]] = {"ns": s["ns"], "igw_via": s["igw_via"], "hosts": {}}
    for sn in subnets:
        site = sn["vpc"][4:]
        rt = oid("routetable", sn["rtb"] if sn["rtb"] != "-" else site + "-default")
        if rt not in m["tables"]:
            sc["routeTables"].append({"id": rt, "vcnId": oid("vcn", site), "routeRules": [
                {"destination": "0.0.0.0/0", "destinationType": "CIDR_BLOCK",
                 "networkEntityId": oid("internetgateway", site),
                 "description": "internet", "routeType": "STATIC"}]})
            tid += 1
            m["tables"][rt] = tid
        sc["subnets"].append({"id": oid("subnet", sn["subnet"]), "vcnId": oid("vcn", site),
                              "cidrBlock": sn["cidr"], "routeTableId": rt})
        m["subnet_vpc"][oid("subnet", sn["subnet"])] = sn["vpc"]
    for h in hosts:
        v = {"id": oid("vnic", h["name"]), "subnetId": oid("subnet", h["subnet"]),
             "privateIp": h["ip"], "privateIpId": oid("privateip", h["name"]),
             "skipSourceDestCheck": False}
        if h["role"] == "connector":
            v["instanceId"] = oid("instance", h["name"])
        if h["public"]:
            v["publicIp"] = h["public"]
        sc["vnics"].append(v)
        m["vpcs"][h["vpc"]]["hosts"][h["ip"]] = h["iface"]
    os.makedirs(outdir, exist_ok=True)
    for name, obj in (("oci-scenario.json", sc), ("map.json", m)):
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")


def translate(st, m):
    """The OCI state dump -> vpcsync's (EC2-shaped) state."""
    assoc = {}
    for sid, rt in st["subnets"].items():
        assoc.setdefault(rt, []).append(sid)
    tables = []
    for tid, t in st["routeTables"].items():
        vcn = m["vcn"][t["vcnId"]]
        routes = [{"destination": vcn["cidr"], "gateway_id": "local", "state": "active"}]
        for r in t["rules"]:
            if r.get("destinationType", "CIDR_BLOCK") != "CIDR_BLOCK":
                continue
            dst, tgt = r.get("destination", r.get("cidrBlock")), r["networkEntityId"]
            if tgt in m["igw"]:
                routes.append({"destination": dst, "gateway_id": m["igw"][tgt],
                               "state": "active"})
            elif tgt in st["privateIps"]:
                routes.append({"destination": dst, "network_interface_id":
                               st["privateIps"][tgt], "state": "active"})
            elif tgt.startswith("ocid1.privateip."):
                routes.append({"destination": dst, "network_interface_id": tgt,
                               "state": "blackhole"})
            else:
                routes.append({"destination": dst, "gateway_id": tgt, "state": "active"})
        tables.append({"id": tid, "vpc": vcn["vpc"], "main": False,
                       "associations": assoc.get(tid, []), "routes": routes})
    enis = [{"id": vid, "vpc": m["subnet_vpc"][v["subnetId"]], "ip": v["privateIp"],
             "subnet": v["subnetId"], "instance": v.get("instanceId"),
             "status": "deleted" if v["lifecycleState"] in ("TERMINATED", "DETACHED")
             else "in-use", "source_dest_check": not v["skipSourceDestCheck"]}
            for vid, v in st["vnics"].items()]
    return {"route_tables": tables, "network_interfaces": enis}


def sync(map_path, state_path):
    with open(map_path, encoding="utf-8") as f:
        m = json.load(f)
    with open(state_path, encoding="utf-8") as f:
        st = translate(json.load(f), m)
    fd, tmp = tempfile.mkstemp(prefix="ocisync-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(st, f)
        return vpcsync.sync(map_path, tmp)
    finally:
        os.unlink(tmp)


def main(argv):
    if len(argv) >= 3 and argv[0] == "gen":
        gen(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "sync" and argv[1] == "--map":
        st = argv[3] if len(argv) > 3 else os.environ.get("FAKECLOUD_STATE")
        if not st:
            print("ocisync: no state file", file=sys.stderr)
            return 1
        return sync(argv[2], st)
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
