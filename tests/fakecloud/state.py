"""The fake cloud's in-memory VPC: loaded from a JSON scenario (format in
README.md), changed by the EC2 operations and the control endpoint, dumped as
JSON in the same format (plus computed route states) for the network
simulation.  Also the credential store: static keys from the scenario and
temporary keys issued to instance roles through IMDS.

Locking: every reader and writer holds State.lock (an RLock).  A mutation
calls bump(), which raises `version`; the server runs the change hooks after
the request, outside the lock.
"""

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import tempfile
import threading
import time

TARGETS = ("gateway_id", "network_interface_id", "instance_id",
           "nat_gateway_id", "transit_gateway_id", "vpc_peering_connection_id",
           "egress_only_internet_gateway_id", "local_gateway_id",
           "carrier_gateway_id")
ORIGINS = ("CreateRouteTable", "CreateRoute", "EnableVgwRoutePropagation")
# EC2 instance state codes (DescribeInstances instanceState/code).
INSTANCE_CODES = {"pending": 0, "running": 16, "shutting-down": 32,
                  "terminated": 48, "stopping": 64, "stopped": 80}


class ScenarioError(Exception):
    pass


def _check_keys(obj, where, required, optional=()):
    if not isinstance(obj, dict):
        raise ScenarioError("%s: expected an object" % where)
    for k in required:
        if k not in obj:
            raise ScenarioError("%s: missing key '%s'" % (where, k))
    for k in obj:
        if k not in required and k not in optional:
            raise ScenarioError("%s: unknown key '%s'" % (where, k))


def norm_cidr(text, where="cidr"):
    """Canonical text of a network; host bits set is an error."""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except (ValueError, TypeError) as e:
        raise ScenarioError("%s: '%s' is not a CIDR block (%s)" % (where, text, e))


def iso8601(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _short_hash(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:17]


def _tags(obj, where):
    tags = obj.get("tags", {})
    if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ScenarioError("%s: tags must map strings to strings" % where)
    return dict(tags)


class State:
    def __init__(self, scenario, cred_lifetime=None, clock=time.time):
        self.lock = threading.RLock()
        self.clock = clock
        self.version = 0
        self.vpcs, self.subnets, self.route_tables = {}, {}, {}
        self.instances, self.enis, self.roles, self.keys = {}, {}, {}, {}
        self.instance_creds = {}
        self.started = int(clock())
        self._load(scenario)
        if cred_lifetime is not None:
            self.cred_lifetime = cred_lifetime

    # ---- loading -------------------------------------------------------
    def _load(self, sc):
        _check_keys(sc, "scenario", ("region", "vpcs"),
                    ("account_id", "availability_zone", "subnets",
                     "route_tables", "instances", "network_interfaces", "roles",
                     "access_keys", "credential_lifetime", "route_limit",
                     "version", "comment"))
        self.region = sc["region"]
        self.account = sc.get("account_id", "123456789012")
        self.az = sc.get("availability_zone", self.region + "a")
        self.cred_lifetime = int(sc.get("credential_lifetime", 21600))
        self.route_limit = int(sc.get("route_limit", 50))
        for i, v in enumerate(sc["vpcs"]):
            w = "vpcs[%d]" % i
            _check_keys(v, w, ("id", "cidr"), ("tags",))
            self.vpcs[v["id"]] = {"id": v["id"], "cidr": norm_cidr(v["cidr"], w),
                                  "tags": _tags(v, w)}
        for i, s in enumerate(sc.get("subnets", [])):
            w = "subnets[%d]" % i
            _check_keys(s, w, ("id", "vpc", "cidr"), ("availability_zone", "tags"))
            self._need(self.vpcs, s["vpc"], w)
            self.subnets[s["id"]] = {"id": s["id"], "vpc": s["vpc"],
                                     "cidr": norm_cidr(s["cidr"], w),
                                     "availability_zone":
                                         s.get("availability_zone", self.az),
                                     "tags": _tags(s, w)}
        for i, r in enumerate(sc.get("roles", [])):
            w = "roles[%d]" % i
            _check_keys(r, w, ("name",), ("deny", "tag_keys"))
            self.roles[r["name"]] = {"name": r["name"],
                                     "deny": set(r.get("deny", [])),
                                     "tag_keys": r.get("tag_keys")}
        for i, inst in enumerate(sc.get("instances", [])):
            w = "instances[%d]" % i
            _check_keys(inst, w, ("id",), ("state", "role", "instance_type", "tags"))
            if inst.get("role") is not None:
                self._need(self.roles, inst["role"], w)
            st = inst.get("state", "running")
            if st not in INSTANCE_CODES:
                raise ScenarioError("%s: bad state '%s'" % (w, st))
            self.instances[inst["id"]] = {
                "id": inst["id"], "state": st, "role": inst.get("role"),
                "instance_type": inst.get("instance_type", "t3.micro"),
                "tags": _tags(inst, w)}
        for i, e in enumerate(sc.get("network_interfaces", [])):
            self._load_eni(e, "network_interfaces[%d]" % i)
        for i, t in enumerate(sc.get("route_tables", [])):
            self._load_table(t, "route_tables[%d]" % i)
        for vpc in self.vpcs:
            mains = [t for t in self.route_tables.values()
                     if t["vpc"] == vpc and t["main"]]
            if len(mains) > 1:
                raise ScenarioError("vpc %s has %d main route tables" % (vpc, len(mains)))
        for i, k in enumerate(sc.get("access_keys", [])):
            w = "access_keys[%d]" % i
            _check_keys(k, w, ("access_key_id", "secret_access_key"),
                        ("session_token", "expires", "deny", "tag_keys", "role"))
            exp = k.get("expires")
            if exp is not None:
                exp = dt.datetime.strptime(exp, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=dt.timezone.utc).timestamp()
            self.keys[k["access_key_id"]] = {
                "id": k["access_key_id"], "secret": k["secret_access_key"],
                "token": k.get("session_token"), "expires": exp,
                "role": k.get("role"), "instance": None,
                "deny": set(k.get("deny", [])), "tag_keys": k.get("tag_keys")}

    def _need(self, table, key, where):
        if key not in table:
            raise ScenarioError("%s: unknown reference '%s'" % (where, key))

    def _load_eni(self, e, w):
        _check_keys(e, w, ("id", "subnet", "ip", "mac"),
                    ("instance", "device_index", "source_dest_check", "tags",
                     "description", "status", "public_ip"))
        self._need(self.subnets, e["subnet"], w)
        sub = self.subnets[e["subnet"]]
        try:
            ip = ipaddress.ip_address(e["ip"])
        except ValueError:
            raise ScenarioError("%s: bad ip '%s'" % (w, e["ip"]))
        if ip not in ipaddress.ip_network(sub["cidr"]):
            raise ScenarioError("%s: %s is not in %s" % (w, ip, sub["cidr"]))
        if e.get("instance") is not None:
            self._need(self.instances, e["instance"], w)
        pub = e.get("public_ip")
        if pub is not None:
            try:
                pub = str(ipaddress.ip_address(pub))
            except ValueError:
                raise ScenarioError("%s: bad public_ip '%s'" % (w, pub))
        self.enis[e["id"]] = {
            "public_ip": pub,
            "id": e["id"], "subnet": e["subnet"], "vpc": sub["vpc"],
            "ip": str(ip), "mac": e["mac"].lower(),
            "instance": e.get("instance"),
            "device_index": int(e.get("device_index", 0)),
            "source_dest_check": bool(e.get("source_dest_check", True)),
            "tags": _tags(e, w), "description": e.get("description", ""),
            "deleted": False}

    def _load_table(self, t, w):
        _check_keys(t, w, ("id", "vpc"), ("main", "associations", "routes", "tags"))
        self._need(self.vpcs, t["vpc"], w)
        table = {"id": t["id"], "vpc": t["vpc"], "main": bool(t.get("main", False)),
                 "associations": [], "routes": [], "tags": _tags(t, w)}
        for sub in t.get("associations", []):
            self._need(self.subnets, sub, w)
            if self.subnets[sub]["vpc"] != t["vpc"]:
                raise ScenarioError("%s: subnet %s is in another VPC" % (w, sub))
            for other in self.route_tables.values():
                if sub in other["associations"]:
                    raise ScenarioError("%s: subnet %s already associated with %s"
                                        % (w, sub, other["id"]))
            table["associations"].append(sub)
        for j, r in enumerate(t.get("routes", [])):
            rw = "%s.routes[%d]" % (w, j)
            _check_keys(r, rw, ("destination",), TARGETS + ("origin", "state"))
            route = {"destination": norm_cidr(r["destination"], rw),
                     "origin": r.get("origin", "CreateRoute")}
            if route["origin"] not in ORIGINS:
                raise ScenarioError("%s: bad origin '%s'" % (rw, route["origin"]))
            targets = [k for k in TARGETS if k in r]
            if len(targets) != 1:
                raise ScenarioError("%s: exactly one target needed" % rw)
            route[targets[0]] = r[targets[0]]
            if r.get("state") == "blackhole":
                route["forced_blackhole"] = True
            if any(x["destination"] == route["destination"] for x in table["routes"]):
                raise ScenarioError("%s: duplicate destination" % rw)
            table["routes"].append(route)
        vpc_cidr = self.vpcs[t["vpc"]]["cidr"]
        if not any(r["destination"] == vpc_cidr for r in table["routes"]):
            table["routes"].insert(0, {"destination": vpc_cidr, "gateway_id": "local",
                                       "origin": "CreateRouteTable"})
        self.route_tables[t["id"]] = table

    # ---- queries -------------------------------------------------------
    def now(self):
        return self.clock()

    def bump(self):
        self.version += 1

    def assoc_id(self, rtb, subnet=None):
        return "rtbassoc-" + _short_hash(rtb, subnet or "main")

    def instance_running(self, inst_id):
        inst = self.instances.get(inst_id)
        return inst is not None and inst["state"] == "running"

    def eni_live(self, eni_id):
        eni = self.enis.get(eni_id)
        return eni is not None and not eni["deleted"]

    def route_instance(self, route):
        """The instance a route reaches, as DescribeRouteTables shows it."""
        if route.get("instance_id"):
            return route["instance_id"]
        eni = self.enis.get(route.get("network_interface_id") or "")
        if eni and not eni["deleted"] and eni["instance"]:
            return eni["instance"]
        return None

    def route_state(self, route):
        """blackhole when the target ENI is gone or its instance is not
        running (AWS behaviour), or when the scenario forces it."""
        if route.get("forced_blackhole"):
            return "blackhole"
        eni_id = route.get("network_interface_id")
        if eni_id:
            eni = self.enis.get(eni_id)
            if eni is None or eni["deleted"]:
                return "blackhole"
            if eni["instance"] and not self.instance_running(eni["instance"]):
                return "blackhole"
        elif route.get("instance_id"):
            if not self.instance_running(route["instance_id"]):
                return "blackhole"
        return "active"

    def primary_eni(self, inst_id):
        enis = [e for e in self.enis.values()
                if e["instance"] == inst_id and not e["deleted"]]
        enis.sort(key=lambda e: e["device_index"])
        return enis[0] if enis else None

    def instance_by_ip(self, ip):
        for e in self.enis.values():
            if e["ip"] == ip and e["instance"] and not e["deleted"]:
                return e["instance"]
        return None

    # ---- mutations not reached through the EC2 API ---------------------
    def terminate(self, inst_id):
        """Instance gone: its ENIs are deleted (DeleteOnTermination), so the
        routes to them turn into blackholes.  Returns the previous state."""
        inst = self.instances[inst_id]
        prev = inst["state"]
        inst["state"] = "terminated"
        for e in self.enis.values():
            if e["instance"] == inst_id:
                e["deleted"] = True
        self.bump()
        return prev

    # ---- credentials ---------------------------------------------------
    def role_credentials(self, inst_id):
        """Current role credentials of an instance, issuing fresh ones when
        none are valid for longer than the refresh margin (real IMDS rotates
        them well before Expiration; old keys stay valid until they expire)."""
        inst = self.instances[inst_id]
        if not inst["role"]:
            return None
        now = self.now()
        margin = min(300.0, self.cred_lifetime / 2.0)
        cur = self.keys.get(self.instance_creds.get(inst_id, ""))
        if cur and cur["expires"] - now > margin:
            return cur
        akid = "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                                for _ in range(16))
        key = {"id": akid,
               "secret": base64.b64encode(secrets.token_bytes(30)).decode(),
               # Real tokens are long base64 with '+', '/' and '=': clients
               # must carry them through untouched.
               "token": "IQoJb3JpZ2luX2Vj" +
                        base64.b64encode(secrets.token_bytes(180)).decode(),
               "expires": now + self.cred_lifetime, "issued": now,
               "role": inst["role"], "instance": inst_id,
               "deny": set(), "tag_keys": None}
        self.keys[akid] = key
        self.instance_creds[inst_id] = akid
        return key

    def expire_credentials(self, inst_id=None):
        """Make temporary credentials expire now; returns how many."""
        n = 0
        for k in self.keys.values():
            if k["token"] and (inst_id is None or k["instance"] == inst_id):
                k["expires"] = self.now() - 1
                n += 1
        return n

    def denied(self, key, action):
        role = self.roles.get(key.get("role") or "")
        return action in key["deny"] or (role is not None and action in role["deny"])

    def allowed_tag_keys(self, key):
        if key.get("tag_keys") is not None:
            return key["tag_keys"]
        role = self.roles.get(key.get("role") or "")
        return role["tag_keys"] if role else None

    # ---- dump ----------------------------------------------------------
    def dump(self):
        """Full state in scenario format (no secrets) + computed fields."""
        with self.lock:
            tables = []
            for t in self.route_tables.values():
                routes = []
                for r in t["routes"]:
                    d = {k: v for k, v in r.items() if k != "forced_blackhole"}
                    d["state"] = self.route_state(r)
                    inst = self.route_instance(r)
                    if inst and "instance_id" not in d:
                        d["reaches_instance"] = inst
                    routes.append(d)
                tables.append({"id": t["id"], "vpc": t["vpc"], "main": t["main"],
                               "associations": list(t["associations"]),
                               "routes": routes, "tags": dict(t["tags"])})
            enis = [{"id": e["id"], "subnet": e["subnet"], "vpc": e["vpc"],
                     "ip": e["ip"], "mac": e["mac"], "instance": e["instance"],
                     "device_index": e["device_index"],
                     "source_dest_check": e["source_dest_check"],
                     "tags": dict(e["tags"]), "description": e["description"],
                     "status": "deleted" if e["deleted"] else
                               ("in-use" if e["instance"] else "available")}
                    for e in self.enis.values()]
            return {
                "version": self.version, "region": self.region,
                "account_id": self.account, "availability_zone": self.az,
                "vpcs": [dict(v) for v in self.vpcs.values()],
                "subnets": [dict(s) for s in self.subnets.values()],
                "route_tables": tables, "network_interfaces": enis,
                "instances": [dict(i) for i in self.instances.values()],
                "roles": [{"name": r["name"], "deny": sorted(r["deny"]),
                           "tag_keys": r["tag_keys"]} for r in self.roles.values()],
            }


def write_atomic(path, data):
    """temp file in the same directory, fsync, rename."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fakecloud-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_file(path, cred_lifetime=None):
    with open(path, encoding="utf-8") as f:
        try:
            sc = json.load(f)
        except json.JSONDecodeError as e:
            raise ScenarioError("%s:%d:%d: %s" % (path, e.lineno, e.colno, e.msg))
    return State(sc, cred_lifetime)
