"""The fake OCI world and its Core Services operations (API version
20160918): GetVnic/UpdateVnic, GetSubnet/ListSubnets, GetPrivateIp/
ListPrivateIps, GetRouteTable/UpdateRouteTable.  Field names and rules follow
the Core Services API reference (Vnic, UpdateVnicDetails, Subnet, PrivateIp,
RouteTable, UpdateRouteTableDetails, RouteRule); unknown fields in a request
body are 400 InvalidParameter, as the real service answers.

Scenario JSON (see scenarios/oci.json):
  {"region", "realm_domain", "tenancy", "compartment",
   "vcns": [{"id", "cidrBlocks"}],
   "subnets": [{"id", "vcnId", "cidrBlock", "routeTableId"}],
   "routeTables": [{"id", "vcnId", "routeRules": [...]}],
   "vnics": [{"id", "subnetId", "privateIp", "privateIpId", "instanceId",
              "skipSourceDestCheck", "publicIp", "lifecycleState"}],
   "privateIps": [{"id", "vnicId", "ipAddress"}]   (extra, e.g. secondaries),
   "pageSize": 50                                   (list items a page without limit),
   "ruleExtra": {"name": value}                     (added to every rule GET returns),
   "gateways": ["ocid1.internetgateway..."]          (valid rule targets)}
"""

import copy
import hashlib
import ipaddress
import json
import threading
import time

RULE_FIELDS = {"cidrBlock", "destination", "destinationType", "networkEntityId",
               "description", "routeType"}
UPDATE_RT_FIELDS = {"definedTags", "displayName", "freeformTags", "routeRules"}
UPDATE_VNIC_FIELDS = {"definedTags", "displayName", "freeformTags", "hostnameLabel",
                      "nsgIds", "skipSourceDestCheck", "routeTableId"}
MAX_RULES = 200


class ScenarioError(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status, code, message):
        Exception.__init__(self, message)
        self.status, self.code, self.message = status, code, message


def not_found():
    return ApiError(404, "NotAuthorizedOrNotFound",
                    "Authorization failed or requested resource not found.")


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class World:
    def __init__(self, sc):
        self.lock = threading.RLock()
        try:
            self.region = sc["region"]
            self.realm_domain = sc.get("realm_domain", "oraclecloud.com")
            self.tenancy = sc["tenancy"]
            self.compartment = sc["compartment"]
            # A list call without limit gets this many items a page (the
            # service's own default is not documented: clients must follow
            # opc-next-page whatever it is).
            self.page_size = int(sc.get("pageSize", 50))
            # Members a newer service adds to every rule it returns (read
            # only: UpdateRouteTable still refuses them, as it refuses any
            # member RouteRule lacks).
            self.rule_extra = dict(sc.get("ruleExtra", {}))
            self.vcns = {v["id"]: dict(v) for v in sc["vcns"]}
            self.subnets = {s["id"]: dict(s) for s in sc["subnets"]}
            self.tables = {}
            for t in sc["routeTables"]:
                self.tables[t["id"]] = {"id": t["id"], "vcnId": t["vcnId"],
                                        "rules": copy.deepcopy(t.get("routeRules", [])),
                                        "version": 1}
            self.vnics = {}
            self.pips = {}
            for v in sc["vnics"]:
                self.vnics[v["id"]] = dict(v, lifecycleState=v.get("lifecycleState",
                                                                   "AVAILABLE"),
                                           skipSourceDestCheck=bool(
                                               v.get("skipSourceDestCheck", False)))
                self.pips[v["privateIpId"]] = {"id": v["privateIpId"], "vnicId": v["id"],
                                               "ipAddress": v["privateIp"], "isPrimary": True,
                                               "subnetId": v["subnetId"]}
            for p in sc.get("privateIps", []):
                self.pips[p["id"]] = dict(p, isPrimary=False,
                                          subnetId=self.vnics[p["vnicId"]]["subnetId"])
            self.gateways = set(sc.get("gateways", []))
            # The reading of the API reference that refuses cidrBlock beside
            # destination in a write (GetRouteTable still returns both).
            self.strict_cidr = bool(sc.get("strict_cidr", False))
        except (KeyError, TypeError) as e:
            raise ScenarioError("bad OCI scenario: %r" % (e,))
        for s in self.subnets.values():
            if s["routeTableId"] not in self.tables or s["vcnId"] not in self.vcns:
                raise ScenarioError("subnet %s: unknown route table or VCN" % s["id"])

    # ---- models ----------------------------------------------------------
    def etag(self, t):
        h = hashlib.sha256(("%s:%d" % (t["id"], t["version"])).encode()).hexdigest()
        return h[:32]

    def table_doc(self, t):
        return {"compartmentId": self.compartment, "definedTags": {}, "freeformTags": {},
                "displayName": t["id"].rsplit(".", 1)[-1], "id": t["id"],
                "lifecycleState": "AVAILABLE",
                "routeRules": [dict(copy.deepcopy(r), **self.rule_extra) for r in t["rules"]],
                "timeCreated": "2026-01-01T00:00:00.000Z", "vcnId": t["vcnId"]}

    def vnic_doc(self, v):
        d = {"availabilityDomain": "Uocm:US-ASHBURN-AD-1", "compartmentId": self.compartment,
             "definedTags": {}, "freeformTags": {}, "displayName": v["id"].rsplit(".", 1)[-1],
             "hostnameLabel": None, "id": v["id"], "isPrimary": True,
             "lifecycleState": v["lifecycleState"], "macAddress": "02:00:17:00:00:01",
             "nsgIds": [], "privateIp": v["privateIp"],
             "skipSourceDestCheck": v["skipSourceDestCheck"], "subnetId": v["subnetId"],
             "timeCreated": "2026-01-01T00:00:00.000Z"}
        if v.get("publicIp"):
            d["publicIp"] = v["publicIp"]
        return d

    def subnet_doc(self, s):
        return {"availabilityDomain": None, "cidrBlock": s["cidrBlock"],
                "compartmentId": self.compartment, "definedTags": {}, "freeformTags": {},
                "dhcpOptionsId": "ocid1.dhcpoptions.oc1.fake", "displayName": s["id"].rsplit(".", 1)[-1],
                "id": s["id"], "lifecycleState": "AVAILABLE",
                "prohibitPublicIpOnVnic": False, "routeTableId": s["routeTableId"],
                "securityListIds": [], "vcnId": s["vcnId"],
                "virtualRouterIp": str(next(ipaddress.ip_network(s["cidrBlock"]).hosts())),
                "timeCreated": "2026-01-01T00:00:00.000Z"}

    def pip_doc(self, p):
        return {"availabilityDomain": "Uocm:US-ASHBURN-AD-1", "compartmentId": self.compartment,
                "definedTags": {}, "freeformTags": {}, "displayName": p["id"].rsplit(".", 1)[-1],
                "hostnameLabel": None, "id": p["id"], "ipAddress": p["ipAddress"],
                "isPrimary": p["isPrimary"], "subnetId": p["subnetId"], "vnicId": p["vnicId"],
                "timeCreated": "2026-01-01T00:00:00.000Z"}

    # ---- operations ------------------------------------------------------
    def get_vnic(self, vid):
        with self.lock:
            v = self.vnics.get(vid)
            if v is None:
                raise not_found()
            return self.vnic_doc(v), None

    def update_vnic(self, vid, body):
        d = self.body_object(body, UPDATE_VNIC_FIELDS, "UpdateVnicDetails")
        with self.lock:
            v = self.vnics.get(vid)
            if v is None:
                raise not_found()
            if "skipSourceDestCheck" in d:
                if not isinstance(d["skipSourceDestCheck"], bool):
                    raise ApiError(400, "InvalidParameter",
                                   "skipSourceDestCheck must be a boolean")
                v["skipSourceDestCheck"] = d["skipSourceDestCheck"]
            return self.vnic_doc(v), None

    def get_subnet(self, sid):
        with self.lock:
            s = self.subnets.get(sid)
            if s is None:
                raise not_found()
            return self.subnet_doc(s), None

    def list_subnets(self, q):
        comp = q.get("compartmentId")
        if not comp:
            raise ApiError(400, "MissingParameter", "compartmentId is required")
        with self.lock:
            if comp != self.compartment:
                return [], None
            out = [self.subnet_doc(s) for s in sorted(self.subnets.values(),
                                                       key=lambda s: s["id"])
                   if not q.get("vcnId") or s["vcnId"] == q["vcnId"]]
        return self.page(out, q)

    def page(self, items, q):
        try:
            limit = int(q.get("limit", str(self.page_size)))
            start = int(q.get("page", "0"))
        except ValueError:
            raise ApiError(400, "InvalidParameter", "bad limit or page")
        if not 1 <= limit <= 1000 or start < 0:
            raise ApiError(400, "InvalidParameter", "limit must be 1..1000")
        nxt = str(start + limit) if start + limit < len(items) else None
        return items[start:start + limit], nxt

    def list_private_ips(self, q):
        vid = q.get("vnicId")
        if not vid and not q.get("subnetId"):
            raise ApiError(400, "MissingParameter", "one of vnicId, subnetId is required")
        with self.lock:
            out = [self.pip_doc(p) for p in sorted(self.pips.values(), key=lambda p: p["id"])
                   if (not vid or p["vnicId"] == vid) and
                   (not q.get("subnetId") or p["subnetId"] == q["subnetId"])]
        return self.page(out, q)

    def get_private_ip(self, pid):
        with self.lock:
            p = self.pips.get(pid)
            if p is None:
                raise not_found()
            return self.pip_doc(p), None

    def get_table(self, tid):
        with self.lock:
            t = self.tables.get(tid)
            if t is None:
                raise not_found()
            return self.table_doc(t), self.etag(t)

    def update_table(self, tid, body, if_match):
        d = self.body_object(body, UPDATE_RT_FIELDS, "UpdateRouteTableDetails")
        with self.lock:
            t = self.tables.get(tid)
            if t is None:
                raise not_found()
            if if_match is not None and if_match != self.etag(t):
                raise ApiError(412, "NoEtagMatch",
                               "The resource's etag does not match the if-match header")
            if "routeRules" in d:
                rules = self.check_rules(d["routeRules"], t)
                t["rules"] = rules
                t["version"] += 1
            return self.table_doc(t), self.etag(t)

    # ---- validation ------------------------------------------------------
    def body_object(self, body, allowed, what):
        try:
            d = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "InvalidParameter", "%s: malformed JSON" % what)
        if not isinstance(d, dict):
            raise ApiError(400, "InvalidParameter", "%s must be an object" % what)
        extra = set(d) - allowed
        if extra:
            raise ApiError(400, "InvalidParameter",
                           "%s: unknown field(s) %s" % (what, ", ".join(sorted(extra))))
        return d

    def check_rules(self, rules, t):
        if not isinstance(rules, list) or len(rules) > MAX_RULES:
            raise ApiError(400, "InvalidParameter", "routeRules must be a list of at most %d"
                           % MAX_RULES)
        old = [json.dumps(r, sort_keys=True) for r in t["rules"]]
        seen = set()
        for i, r in enumerate(rules):
            if not isinstance(r, dict):
                raise ApiError(400, "InvalidParameter", "routeRules[%d] is not an object" % i)
            extra = set(r) - RULE_FIELDS
            if extra:
                raise ApiError(400, "InvalidParameter", "routeRules[%d]: unknown field(s) %s"
                               % (i, ", ".join(sorted(extra))))
            dst = self.rule_destination(r, i)
            if dst in seen:
                raise ApiError(400, "InvalidParameter",
                               "routeRules[%d]: duplicate destination %s" % (i, dst))
            seen.add(dst)
            tgt = r.get("networkEntityId")
            if not isinstance(tgt, str) or not tgt:
                raise ApiError(400, "InvalidParameter",
                               "routeRules[%d]: networkEntityId is required" % i)
            if "description" in r and (not isinstance(r["description"], str) or
                                       len(r["description"]) > 255):
                raise ApiError(400, "InvalidParameter",
                               "routeRules[%d]: description must be a string of at most "
                               "255 characters" % i)
            if json.dumps(r, sort_keys=True) in old:
                continue             # unchanged rules are never re-validated
            self.check_target(tgt, i)
        return copy.deepcopy(rules)

    def rule_destination(self, r, i):
        cb, dst, typ = r.get("cidrBlock"), r.get("destination"), r.get("destinationType")
        if cb is not None and dst is not None and self.strict_cidr:
            raise ApiError(400, "InvalidParameter", "routeRules[%d]: cidrBlock is deprecated; "
                           "requests with both cidrBlock and destination are rejected" % i)
        if cb is not None and dst is not None and cb != dst:
            raise ApiError(400, "InvalidParameter", "routeRules[%d]: cidrBlock and "
                           "destination disagree" % i)
        if dst is not None and typ is None:
            raise ApiError(400, "InvalidParameter",
                           "routeRules[%d]: destinationType is required with destination" % i)
        if typ not in (None, "CIDR_BLOCK", "SERVICE_CIDR_BLOCK"):
            raise ApiError(400, "InvalidParameter", "routeRules[%d]: bad destinationType" % i)
        v = dst if dst is not None else cb
        if not isinstance(v, str):
            raise ApiError(400, "InvalidParameter", "routeRules[%d]: destination missing" % i)
        if typ == "SERVICE_CIDR_BLOCK":
            return "svc:" + v
        try:
            return str(ipaddress.ip_network(v, strict=True))
        except ValueError:
            raise ApiError(400, "InvalidParameter",
                           "routeRules[%d]: %r is not a CIDR block" % (i, v))

    def check_target(self, tgt, i):
        if tgt.startswith("ocid1.privateip."):
            p = self.pips.get(tgt)
            if p is None:
                raise ApiError(400, "InvalidParameter",
                               "routeRules[%d]: private IP %s not found" % (i, tgt))
            if not self.vnics[p["vnicId"]]["skipSourceDestCheck"]:
                raise ApiError(400, "InvalidParameter", "routeRules[%d]: the VNIC of private "
                               "IP %s must skip the source/destination check" % (i, tgt))
        elif tgt not in self.gateways:
            raise ApiError(400, "InvalidParameter",
                           "routeRules[%d]: unknown route target %s" % (i, tgt))

    # ---- cloud-side changes (control endpoint) ----------------------------
    def mutate(self, m):
        op = m.get("op")
        with self.lock:
            if op == "add_rule":
                t = self.tables[m["table"]]
                t["rules"].insert(int(m.get("index", len(t["rules"]))), m["rule"])
                t["version"] += 1
            elif op == "set_rules":
                t = self.tables[m["table"]]
                t["rules"] = m["rules"]
                t["version"] += 1
            elif op == "remove_rule":
                t = self.tables[m["table"]]
                t["rules"] = [r for r in t["rules"] if r.get("destination",
                                                           r.get("cidrBlock")) != m["destination"]]
                t["version"] += 1
            elif op == "delete_private_ip":
                self.pips.pop(m["id"], None)
            elif op == "vnic_state":
                self.vnics[m["vnic"]]["lifecycleState"] = m["state"]
            elif op == "skip_sdc":
                self.vnics[m["vnic"]]["skipSourceDestCheck"] = bool(m["value"])
            elif op == "strict_cidr":
                self.strict_cidr = bool(m["value"])
            elif op == "set_route_table":
                self.subnets[m["subnet"]]["routeTableId"] = m["table"]
            else:
                raise ValueError("unknown mutate op %r" % op)

    def dump(self):
        with self.lock:
            return {"routeTables": {k: {"rules": copy.deepcopy(t["rules"]), "etag": self.etag(t),
                                        "vcnId": t["vcnId"]}
                                    for k, t in self.tables.items()},
                    "vnics": {k: {"skipSourceDestCheck": v["skipSourceDestCheck"],
                                  "lifecycleState": v["lifecycleState"],
                                  "privateIp": v["privateIp"], "subnetId": v["subnetId"],
                                  "instanceId": v.get("instanceId")}
                              for k, v in self.vnics.items()},
                    "privateIps": {k: p["vnicId"] for k, p in self.pips.items()},
                    "subnets": {k: s["routeTableId"] for k, s in self.subnets.items()}}
