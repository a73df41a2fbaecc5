"""The fake GCP world: one project with networks, instances, routes,
operations and service accounts, loaded from a JSON scenario, and the
Compute Engine v1 operations on it.  Standard library only.

Resource shapes follow the Compute Engine v1 reference (compute#instance,
compute#route, compute#routeList, compute#operation) and its error envelope
{"error": {"code", "message", "errors": [{"message", "domain", "reason"}],
"status"}}.  Writes answer an Operation at once; its effect is applied when
the operation becomes DONE, which happens after `op_polls` reads/waits of it
(or `op_seconds` seconds), as the real service does some time later.
"""

import base64
import hashlib
import ipaddress
import json
import re
import threading
import time

HOST = "https://www.googleapis.com/compute/v1/"
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

ROUTE_FIELDS = {"kind", "id", "creationTimestamp", "name", "description", "network",
                "tags", "destRange", "priority", "nextHopInstance", "nextHopIp",
                "nextHopNetwork", "nextHopGateway", "nextHopPeering", "nextHopIlb",
                "warnings", "nextHopVpnTunnel", "nextHopHub", "selfLink", "routeType",
                "asPaths", "routeStatus", "params"}
ROUTE_INPUT_HOPS = ("nextHopInstance", "nextHopIp", "nextHopGateway", "nextHopIlb",
                    "nextHopVpnTunnel")


class ApiError(Exception):
    """An error answer: HTTP status, reason (errors[0].reason), message."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

    def __init__(self, code, reason, message):
        Exception.__init__(self, message)
        self.code, self.reason, self.message = code, reason, message

    def body(self):
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global",
                                      "reason": self.reason}],
                          "status": self.STATUS.get(self.code, "UNKNOWN")}}


class ScenarioError(Exception):
    pass


def now_rfc3339(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000-00:00"


def fingerprint():
    return base64.b64encode(hashlib.sha256(str(time.time_ns()).encode()).digest()[:8]).decode()


def tail(url):
    """Resource path from a URL or partial URL: 'projects/p/...'."""
    i = url.find("projects/")
    return url[i:] if i >= 0 else url


class State:
    def __init__(self, sc, op_polls=2, op_seconds=5.0):
        self.lock = threading.RLock()
        self.version = 0
        self.on_change = None         # called (under the lock) after every change
        self.route_warnings = True    # computed next-hop warnings in route lists
        self.op_polls, self.op_seconds = op_polls, op_seconds
        known = {"project", "project_number", "networks", "instances", "routes",
                 "service_accounts", "route_quota", "deny", "deny_ip_forward", "comment"}
        bad = set(sc) - known
        if bad:
            raise ScenarioError("unknown scenario keys: %s" % ", ".join(sorted(bad)))
        self.project = sc["project"]
        self.number = str(sc.get("project_number", "123456789012"))
        self.route_quota = int(sc.get("route_quota", 250))
        self.deny = {k: set(v) for k, v in sc.get("deny", {}).items()}
        self.deny_ip_forward = bool(sc.get("deny_ip_forward", False))
        self.networks = {}
        for n in sc.get("networks", []):
            self.networks[n["name"]] = {"name": n["name"], "subnets": list(n.get("subnets", []))}
        self.instances = {}
        self.next_id = 4000000000000000000
        for i in sc.get("instances", []):
            self.add_instance(i)
        self.service_accounts = {s["email"]: dict(s) for s in sc.get("service_accounts", [])}
        self.routes = {}
        self.ops = {}
        self.op_seq = 0
        for n in self.networks.values():
            for c in n["subnets"]:
                self.routes["default-route-" + hashlib.sha256(
                    (n["name"] + c).encode()).hexdigest()[:16]] = self.route_obj({
                        "name": "", "network": self.net_url(n["name"]), "destRange": c,
                        "nextHopNetwork": self.net_url(n["name"]), "priority": 0,
                        "description": "Default local route to the subnetwork %s." % c},
                        "SUBNET")
        for name in list(self.routes):
            self.routes[name]["name"] = name
            self.routes[name]["selfLink"] = HOST + "projects/%s/global/routes/%s" % (
                self.project, name)
        for r in sc.get("routes", []):
            body = {k: v for k, v in r.items() if k not in ("next_hop_instance",)}
            if "next_hop_instance" in r:
                body["nextHopInstance"] = self.inst_url(r["next_hop_instance"])
            body["network"] = self.net_url(r.get("network", next(iter(self.networks))))
            self.check_route(body, loading=True)
            self.routes[body["name"]] = self.route_obj(body, "STATIC")

    # ---- resources ------------------------------------------------------
    def add_instance(self, i):
        self.next_id += 1
        inst = {
            "name": i["name"], "zone": i["zone"], "id": str(i.get("id", self.next_id)),
            "network": i.get("network", "vpc"), "ip": i["ip"],
            "external_ip": i.get("external_ip"), "can_ip_forward": bool(i.get("can_ip_forward")),
            "status": i.get("status", "RUNNING"), "fingerprint": fingerprint(),
            "service_account": i.get("service_account"),
            "scopes": i.get("scopes", ["https://www.googleapis.com/auth/compute"]),
            "subnetwork": i.get("subnetwork", "hq"), "deleted": bool(i.get("deleted")),
        }
        self.instances[(inst["zone"], inst["name"])] = inst
        return inst

    def net_url(self, name):
        return HOST + "projects/%s/global/networks/%s" % (self.project, name)

    def inst_url(self, zone_name):
        zone, name = zone_name.split("/") if "/" in zone_name else (None, zone_name)
        for (z, n), inst in self.instances.items():
            if n == name and (zone is None or z == zone):
                return HOST + "projects/%s/zones/%s/instances/%s" % (self.project, z, n)
        return HOST + "projects/%s/zones/%s/instances/%s" % (self.project, zone or "x", name)

    def instance_by_url(self, url):
        m = re.match(r"^projects/([^/]+)/zones/([^/]+)/instances/([^/]+)$", tail(url))
        if not m or m.group(1) != self.project:
            return None
        inst = self.instances.get((m.group(2), m.group(3)))
        return inst if inst and not inst["deleted"] else None

    def instance_json(self, inst):
        z = inst["zone"]
        ni = {"kind": "compute#networkInterface", "network": self.net_url(inst["network"]),
              "subnetwork": HOST + "projects/%s/regions/%s/subnetworks/%s" % (
                  self.project, z.rsplit("-", 1)[0], inst["subnetwork"]),
              "networkIP": inst["ip"], "name": "nic0", "fingerprint": "a3m3Tx5E3WM=",
              "stackType": "IPV4_ONLY"}
        if inst["external_ip"]:
            ni["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                    "name": "External NAT", "natIP": inst["external_ip"],
                                    "networkTier": "PREMIUM"}]
        return {
            "kind": "compute#instance", "id": inst["id"], "name": inst["name"],
            "creationTimestamp": "2026-11-30T02:20:00.000-08:00",
            "machineType": HOST + "projects/%s/zones/%s/machineTypes/e2-small" % (self.project, z),
            "status": inst["status"], "zone": HOST + "projects/%s/zones/%s" % (self.project, z),
            "canIpForward": inst["can_ip_forward"], "networkInterfaces": [ni],
            "disks": [{"kind": "compute#attachedDisk", "type": "PERSISTENT", "boot": True,
                       "mode": "READ_WRITE", "deviceName": "persistent-disk-0", "index": 0,
                       "source": HOST + "projects/%s/zones/%s/disks/%s" % (
                           self.project, z, inst["name"]), "autoDelete": True}],
            "metadata": {"kind": "compute#metadata", "fingerprint": "Q3e0ixHR0Qc="},
            "serviceAccounts": [{"email": inst["service_account"], "scopes": inst["scopes"]}]
            if inst["service_account"] else [],
            "selfLink": self.inst_url("%s/%s" % (z, inst["name"])),
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True,
                           "preemptible": False},
            "labelFingerprint": "42WmSpB8rSM=", "deletionProtection": False,
            "fingerprint": inst["fingerprint"],
        }

    def route_obj(self, body, rtype):
        r = dict(body)
        r.setdefault("priority", 1000)
        r.update({"kind": "compute#route", "routeType": rtype,
                  "id": str(int(hashlib.sha256(r.get("name", "").encode()).hexdigest()[:15], 16)),
                  "creationTimestamp": now_rfc3339()})
        if r.get("name"):
            r["selfLink"] = HOST + "projects/%s/global/routes/%s" % (self.project, r["name"])
        return r

    def route_view(self, r):
        """A route as listed: warnings computed from its next hop now."""
        r = dict(r)
        if "nextHopInstance" in r and self.route_warnings:
            inst = self.instance_by_url(r["nextHopInstance"])
            w = None
            if inst is None:
                w = ("NEXT_HOP_INSTANCE_NOT_FOUND", "Next hop instance '%s' does not exist."
                     % r["nextHopInstance"])
            elif inst["status"] != "RUNNING":
                w = ("NEXT_HOP_NOT_RUNNING", "Next hop instance '%s' is not running."
                     % r["nextHopInstance"])
            elif not inst["can_ip_forward"]:
                w = ("NEXT_HOP_CANNOT_IP_FORWARD", "Next hop instance '%s' cannot ip forward."
                     % r["nextHopInstance"])
            if w:
                r["warnings"] = [{"code": w[0], "message": w[1],
                                  "data": [{"key": "instance",
                                            "value": r["nextHopInstance"].rsplit("/", 1)[1]}]}]
        return r

    def check_route(self, body, loading=False):
        bad = set(body) - ROUTE_FIELDS
        if bad:
            raise ApiError(400, "invalid", "Invalid JSON payload received. Unknown name \"%s\""
                           " at 'route': Cannot find field." % sorted(bad)[0])
        name = body.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.name': '%s'. "
                           "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
                           % name)
        try:
            net = ipaddress.ip_network(body.get("destRange", ""), strict=True)
        except ValueError:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.destRange': "
                           "'%s'. Must be a valid CIDR." % body.get("destRange"))
        body["destRange"] = str(net)
        nw = tail(str(body.get("network", "")))
        m = re.match(r"^projects/([^/]+)/global/networks/([^/]+)$", nw)
        if not m or m.group(1) != self.project or m.group(2) not in self.networks:
            raise ApiError(404, "notFound", "The resource '%s' was not found" % nw)
        body["network"] = self.net_url(m.group(2))
        hops = [h for h in ROUTE_INPUT_HOPS if h in body]
        if len(hops) != 1:
            raise ApiError(400, "invalid", "Invalid value for field 'resource': exactly one "
                           "next hop must be specified")
        pr = body.get("priority", 1000)
        if not isinstance(pr, int) or isinstance(pr, bool) or not 0 <= pr <= 65535:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.priority'")
        if "description" in body and not isinstance(body["description"], str):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.description'")
        if "nextHopInstance" in body and not loading:
            inst = self.instance_by_url(str(body["nextHopInstance"]))
            if inst is None:
                raise ApiError(404, "notFound", "The resource '%s' was not found"
                               % tail(str(body["nextHopInstance"])))
            if inst["network"] != m.group(2):
                raise ApiError(400, "invalid", "Next hop instance is not on network %s"
                               % m.group(2))
            body["nextHopInstance"] = self.inst_url("%s/%s" % (inst["zone"], inst["name"]))

    # ---- operations -----------------------------------------------------
    def new_op(self, kind, target, zone, effect, user):
        self.op_seq += 1
        name = "operation-%d-%s" % (int(time.time() * 1000), hashlib.sha256(
            str(self.op_seq).encode()).hexdigest()[:12])
        op = {"kind": "compute#operation", "id": str(7000000000000000000 + self.op_seq),
              "name": name, "operationType": kind, "targetLink": target,
              "status": "RUNNING", "user": user, "progress": 0,
              "insertTime": now_rfc3339(), "startTime": now_rfc3339(),
              "selfLink": HOST + "projects/%s/%s/operations/%s" % (
                  self.project, "zones/" + zone if zone else "global", name)}
        if zone:
            op["zone"] = HOST + "projects/%s/zones/%s" % (self.project, zone)
        self.ops[name] = {"op": op, "polls": 0, "t0": time.time(), "effect": effect,
                          "zone": zone}
        return dict(op)

    def poll_op(self, name, zone):
        """One read of an operation; it finishes after op_polls reads."""
        o = self.ops.get(name)
        if o is None or o["zone"] != zone:
            raise ApiError(404, "notFound", "The resource 'projects/%s/%s/operations/%s' was "
                           "not found" % (self.project, "zones/" + zone if zone else "global",
                                          name))
        self.finish_due()
        if o["op"]["status"] != "DONE":
            o["polls"] += 1
            if o["polls"] >= self.op_polls:
                self.finish(o)
        return dict(o["op"])

    def finish_due(self):
        for o in self.ops.values():
            if o["op"]["status"] != "DONE" and time.time() - o["t0"] >= self.op_seconds:
                self.finish(o)

    def finish(self, o):
        try:
            o["effect"]()
        except ApiError as e:
            o["op"]["error"] = {"errors": [{"code": e.reason, "message": e.message}]}
            o["op"]["httpErrorStatusCode"] = e.code
            o["op"]["httpErrorMessage"] = ApiError.STATUS.get(e.code, "ERROR")
        o["op"].update({"status": "DONE", "progress": 100, "endTime": now_rfc3339()})
        self.changed()

    def changed(self):
        self.version += 1
        if self.on_change:
            self.on_change()

    # ---- Compute methods ------------------------------------------------
    def get_instance(self, zone, name):
        inst = self.instances.get((zone, name))
        if inst is None or inst["deleted"]:
            raise ApiError(404, "notFound", "The resource 'projects/%s/zones/%s/instances/%s' "
                           "was not found" % (self.project, zone, name))
        return inst

    def update_instance(self, zone, name, body, user):
        inst = self.get_instance(zone, name)
        if not isinstance(body, dict) or body.get("name") != name:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.name'")
        for f in ("networkInterfaces", "disks"):
            if f not in body:
                raise ApiError(400, "invalid", "Invalid value for field 'resource.%s': "
                               "an update must carry the whole instance" % f)
        if body.get("fingerprint") != inst["fingerprint"]:
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match "
                           "current metadata fingerprint.")
        want = body.get("canIpForward", False)
        if not isinstance(want, bool):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.canIpForward'")
        if want and not inst["can_ip_forward"] and self.deny_ip_forward:
            raise ApiError(412, "conditionNotMet", "Constraint constraints/compute."
                           "vmCanIpForward violated for project %s. The instance is not "
                           "allowed to enable IP forwarding." % self.number)

        def effect():
            if inst["can_ip_forward"] != want:
                inst["can_ip_forward"] = want
                inst["fingerprint"] = fingerprint()
        return self.new_op("update", self.inst_url("%s/%s" % (zone, name)), zone, effect, user)

    def list_routes(self, flt):
        self.finish_due()
        out = []
        for name in sorted(self.routes):
            v = self.route_view(self.routes[name])
            if all(match(v, f) for f in flt):
                out.append(v)
        return out

    def get_route(self, name):
        self.finish_due()
        if name not in self.routes:
            raise ApiError(404, "notFound", "The resource 'projects/%s/global/routes/%s' was "
                           "not found" % (self.project, name))
        return self.route_view(self.routes[name])

    def pending_insert(self, name):
        return any(o["op"]["status"] != "DONE" and o["op"]["operationType"] == "insert" and
                   o["op"]["targetLink"].endswith("/routes/" + name) for o in self.ops.values())

    def insert_route(self, body, user):
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Invalid JSON payload received.")
        for k in ("selfLink", "id", "creationTimestamp", "warnings", "routeType"):
            body.pop(k, None)
        if body.pop("kind", "compute#route") != "compute#route":
            raise ApiError(400, "invalid", "Invalid value for field 'resource.kind'")
        self.check_route(body)
        name = body["name"]
        if name in self.routes or self.pending_insert(name):
            raise ApiError(409, "alreadyExists", "The resource 'projects/%s/global/routes/%s'"
                           " already exists" % (self.project, name))

        def effect():
            if name in self.routes:
                raise ApiError(409, "RESOURCE_ALREADY_EXISTS", "The resource 'projects/%s/"
                               "global/routes/%s' already exists" % (self.project, name))
            if sum(1 for r in self.routes.values() if r["routeType"] != "SUBNET") >= \
                    self.route_quota:
                raise ApiError(403, "QUOTA_EXCEEDED", "Quota 'ROUTES' exceeded.  Limit: "
                               "%d.0 globally." % self.route_quota)
            self.routes[name] = self.route_obj(body, "STATIC")
        return self.new_op("insert", HOST + "projects/%s/global/routes/%s" % (
            self.project, name), None, effect, user)

    def delete_route(self, name, user):
        r = self.get_route(name)
        if r["routeType"] == "SUBNET":
            raise ApiError(400, "invalid", "The subnetwork route '%s' cannot be deleted." % name)

        def effect():
            if name not in self.routes:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "The resource 'projects/%s/global/"
                               "routes/%s' was not found" % (self.project, name))
            del self.routes[name]
        return self.new_op("delete", r["selfLink"], None, effect, user)

    def dump(self):
        with self.lock:
            self.finish_due()
            return {"version": self.version, "project": self.project,
                    "instances": [{"name": i["name"], "zone": i["zone"], "id": i["id"],
                                   "ip": i["ip"], "network": i["network"],
                                   "status": i["status"], "deleted": i["deleted"],
                                   "can_ip_forward": i["can_ip_forward"],
                                   "fingerprint": i["fingerprint"]}
                                  for i in self.instances.values()],
                    "routes": [self.route_view(self.routes[n]) for n in sorted(self.routes)],
                    "operations": {n: o["op"]["status"] for n, o in self.ops.items()}}


FILTER_FIELDS = {"name", "network", "destRange", "description", "nextHopInstance",
                 "nextHopIp", "nextHopGateway", "priority", "routeType"}
FILTER_RE = re.compile(r'\s*\(?\s*([A-Za-z]+)\s*(=|!=|eq|ne)\s*("((?:[^"\\]|\\.)*)"|[^\s()]+)'
                       r'\s*\)?\s*')


def parse_filter(s):
    """AIP-160 'field = "value"' (several, each in parentheses, ANDed), or the
    older 'field eq regex' form.  -> list of (field, op, value)."""
    out, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = FILTER_RE.match(s, pos)
        if not m or m.end() == pos:
            raise ApiError(400, "invalid", "Invalid value for field 'filter': '%s'." % s)
        field, op, raw, quoted = m.group(1), m.group(2), m.group(3), m.group(4)
        if field not in FILTER_FIELDS:
            raise ApiError(400, "invalid", "Invalid value for field 'filter': unknown field "
                           "'%s'." % field)
        val = quoted.replace('\\"', '"') if quoted is not None else raw
        out.append((field, op, val))
        pos = m.end()
        if pos < len(s) and s[pos:pos + 4].upper() == "AND ":
            pos += 4
    if len(out) > 1 and "(" not in s:
        raise ApiError(400, "invalid", "Invalid value for field 'filter': several expressions "
                       "must each be in parentheses.")
    return out


def match(obj, f):
    field, op, val = f
    have = str(obj.get(field, ""))
    if op in ("eq", "ne"):
        hit = re.fullmatch(val, have) is not None
        return hit if op == "eq" else not hit
    if field in ("network", "nextHopInstance", "nextHopGateway") and val.startswith("http"):
        hit = tail(have) == tail(val) and have == val
    else:
        hit = have == val
    return hit if op == "=" else not hit


def load_file(path, op_polls, op_seconds):
    with open(path, encoding="utf-8") as f:
        try:
            sc = json.load(f)
        except json.JSONDecodeError as e:
            raise ScenarioError("%s:%d:%d: %s" % (path, e.lineno, e.colno, e.msg))
    try:
        return State(sc, op_polls, op_seconds)
    except (KeyError, ValueError, ApiError) as e:
        raise ScenarioError("%s: %s" % (path, e))
