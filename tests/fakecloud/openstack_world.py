"""The fake OpenStack's world: Keystone (users, projects, application
credentials, tokens with an expiry) and Neutron (networks, subnets, ports
with allowed_address_pairs / port_security_enabled / revision_number,
routers with extra routes and the extraroute-atomic actions), validated as
the Neutron API reference and neutron-lib's validators do.  Standard library
only.  Every method runs under World.lock (the caller takes it).

Errors are raised as ApiError(status, type, message) and answered as
{"NeutronError": {"type", "message", "detail": ""}}.
"""

import copy
import ipaddress
import json
import re
import secrets
import threading
import time
import uuid
from urllib.parse import urlencode

MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", re.I)
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface")
PORT_FILTERS = {"id", "device_id", "device_owner", "network_id", "mac_address",
                "name", "status", "project_id", "tenant_id", "fields", "limit", "marker",
                "sort_key", "sort_dir", "page_reverse"}
PAGING = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
PORT_UPDATABLE = {"name", "description", "admin_state_up", "allowed_address_pairs",
                  "port_security_enabled", "security_groups", "fixed_ips",
                  "device_id", "device_owner", "binding:host_id", "extra_dhcp_opts",
                  "mac_address", "qos_policy_id", "dns_name", "tags"}
PORT_READONLY = {"id", "network_id", "status", "revision_number", "created_at",
                 "updated_at", "project_id", "tenant_id"}


class ApiError(Exception):
    def __init__(self, status, etype, message):
        Exception.__init__(self, message)
        self.status, self.type, self.message = status, etype, message

    def body(self):
        return {"NeutronError": {"type": self.type, "message": self.message, "detail": ""}}


class ScenarioError(Exception):
    pass


def now():
    return time.time()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def bad(msg, etype="HTTPBadRequest"):
    return ApiError(400, etype, msg)


class World:
    def __init__(self, sc, token_ttl):
        self.lock = threading.RLock()
        self.token_ttl = token_ttl
        self.region = sc.get("region", "RegionOne")
        self.max_routes = sc.get("max_routes", 30)
        self.max_pairs = sc.get("max_allowed_address_pair", 10)
        self.page_size = sc.get("page_size")        # Neutron's pagination_max_limit
        self.extraroute_atomic = sc.get("extraroute_atomic", True)
        self.users = {u["id"]: dict(u) for u in sc.get("users", [])}
        self.projects = {p["id"]: dict(p) for p in sc.get("projects", [])}
        self.appcreds = {a["id"]: dict(a) for a in sc.get("application_credentials", [])}
        self.subnets = {s["id"]: dict(s) for s in sc.get("subnets", [])}
        self.networks = {n["id"]: dict(n) for n in sc.get("networks", [])}
        self.instances = {i["uuid"]: dict(i) for i in sc.get("instances", [])}
        self.ports, self.routers, self.tokens = {}, {}, {}
        self.version = 0
        for p in sc.get("ports", []):
            self.add_port(p)
        for r in sc.get("routers", []):
            self.add_router(r)

    # ---- scenario ----------------------------------------------------------
    def add_port(self, p):
        for k in ("id", "network", "mac"):
            if k not in p:
                raise ScenarioError("port needs %s: %r" % (k, p))
        port = {
            "id": p["id"], "name": p.get("name", ""), "network_id": p["network"],
            "mac_address": p["mac"].lower(), "admin_state_up": True, "status": "ACTIVE",
            "device_id": p.get("device_id", ""), "device_owner": p.get("device_owner", ""),
            "fixed_ips": [{"subnet_id": f["subnet"], "ip_address": f["ip"]}
                          for f in p.get("fixed_ips", [])],
            "allowed_address_pairs": [dict(x) for x in p.get("allowed_address_pairs", [])],
            "port_security_enabled": p.get("port_security_enabled", True),
            "security_groups": list(p.get("security_groups", ["sg-default"])),
            "project_id": p.get("project", ""), "tenant_id": p.get("project", ""),
            "revision_number": 1, "description": "", "tags": [],
        }
        for x in port["allowed_address_pairs"]:
            x.setdefault("mac_address", port["mac_address"])
        self.ports[port["id"]] = port

    def add_router(self, r):
        rt = {"id": r["id"], "name": r.get("name", r["id"]), "status": "ACTIVE",
              "admin_state_up": True, "routes": [dict(x) for x in r.get("routes", [])],
              "external_gateway_info": None, "project_id": r.get("project", ""),
              "tenant_id": r.get("project", ""), "revision_number": 1,
              "distributed": False, "ha": False, "description": "", "tags": []}
        self.routers[rt["id"]] = rt
        for i, itf in enumerate(r.get("interfaces", [])):
            sn = self.subnets[itf["subnet"]]
            self.add_port({"id": itf.get("port_id", "%s-if%d" % (r["id"], i)),
                           "network": sn["network"], "device_id": r["id"],
                           "device_owner": itf.get("owner", "network:router_interface"),
                           "mac": itf.get("mac", "fa:16:3e:00:%02x:%02x" % (len(self.ports) // 256,
                                                                          len(self.ports) % 256)),
                           "fixed_ips": [{"subnet": itf["subnet"], "ip": itf["ip"]}],
                           "security_groups": []})

    def changed(self):
        self.version += 1

    # ---- Keystone ------------------------------------------------------------
    def domain_matches(self, d, obj):
        if not isinstance(d, dict) or not d:
            raise bad("domain must be an object with id or name")
        dom = obj.get("domain", "default")
        if "id" in d:
            return d["id"] == dom
        return d.get("name", "").lower() == ("default" if dom == "default" else dom)

    def find_user(self, u):
        if not isinstance(u, dict):
            raise bad("user must be an object")
        if "id" in u:
            return self.users.get(u["id"])
        if "name" not in u or "domain" not in u:
            raise bad("user needs id, or name and domain")
        for x in self.users.values():
            if x["name"] == u["name"] and self.domain_matches(u["domain"], x):
                return x
        return None

    def auth_password(self, pw, scope):
        u = self.find_user(pw.get("user"))
        if u is None or not isinstance(pw["user"].get("password"), str) or \
                not secrets.compare_digest(pw["user"]["password"], u["password"]):
            return None
        proj = None
        if scope is not None:
            p = scope.get("project") if isinstance(scope, dict) else None
            if not isinstance(p, dict):
                raise bad("only project scope is supported here")
            if "id" in p:
                proj = self.projects.get(p["id"])
            else:
                if "domain" not in p:
                    raise bad("project name needs a domain")
                proj = next((x for x in self.projects.values() if x["name"] == p.get("name")
                             and self.domain_matches(p["domain"], x)), None)
            if proj is None or proj["id"] not in u.get("projects", []):
                return None
        return {"user": u, "project": proj, "appcred": None, "methods": ["password"]}

    def auth_appcred(self, ac, scope):
        if scope is not None:
            raise bad("application credentials cannot request a scope")
        if not isinstance(ac, dict) or not isinstance(ac.get("secret"), str):
            raise bad("application_credential needs a secret")
        if "id" in ac:
            a = self.appcreds.get(ac["id"])
        else:
            u = self.find_user(ac.get("user"))
            a = next((x for x in self.appcreds.values() if u and x["user"] == u["id"]
                      and x["name"] == ac.get("name")), None)
        if a is None or not secrets.compare_digest(ac["secret"], a["secret"]):
            return None
        if a.get("expires_at") is not None and a["expires_at"] <= now():
            return None
        return {"user": self.users[a["user"]], "project": self.projects[a["project"]],
                "appcred": a, "methods": ["application_credential"]}

    def issue_token(self, body):
        try:
            auth = body["auth"]
            ident = auth["identity"]
            methods = ident["methods"]
        except (KeyError, TypeError):
            raise bad("Expecting to find identity in auth", "ValidationError")
        if not isinstance(methods, list) or len(methods) != 1:
            raise bad("methods must be a list with one method")
        m = methods[0]
        if m not in ident:
            raise bad("Expecting to find %s in identity" % m)
        scope = auth.get("scope")
        if m == "password":
            who = self.auth_password(ident[m], scope)
        elif m == "application_credential":
            who = self.auth_appcred(ident[m], scope)
        else:
            raise ApiError(401, "Unauthorized", "Unsupported auth method %s" % m)
        if who is None:
            return None
        tok = "gAAAAA" + secrets.token_urlsafe(140)
        t = now()
        self.tokens[tok] = dict(who, issued=t, expires=t + self.token_ttl)
        return tok

    def token_info(self, tok):
        info = self.tokens.get(tok)
        if info is None or info["expires"] <= now():
            return None
        return info

    def expire_tokens(self):
        for v in self.tokens.values():
            v["expires"] = now() - 1

    def token_body(self, tok, api_base):
        info = self.tokens[tok]
        u, p = info["user"], info["project"]
        body = {"token": {
            "methods": info["methods"], "expires_at": iso(info["expires"]),
            "issued_at": iso(info["issued"]), "audit_ids": [uuid.uuid4().hex[:22]],
            "user": {"id": u["id"], "name": u["name"],
                     "domain": {"id": u.get("domain", "default"), "name": "Default"},
                     "password_expires_at": None}}}
        if p is not None:
            body["token"]["project"] = {"id": p["id"], "name": p["name"],
                                        "domain": {"id": p.get("domain", "default"),
                                                   "name": "Default"}}
            body["token"]["roles"] = [{"id": "r-member", "name": "member"}]
            body["token"]["catalog"] = self.catalog(api_base)
        if info["appcred"] is not None:
            body["token"]["application_credential"] = {
                "id": info["appcred"]["id"], "name": info["appcred"].get("name", ""),
                "restricted": True}
        return body

    def catalog(self, base):
        def ep(itf, url, region=None):
            region = region or self.region
            return {"id": uuid.uuid4().hex, "interface": itf, "region": region,
                    "region_id": region, "url": url}
        return [
            {"type": "identity", "name": "keystone", "id": uuid.uuid4().hex,
             "endpoints": [ep("public", base + "/identity")]},
            {"type": "compute", "name": "nova", "id": uuid.uuid4().hex,
             "endpoints": [ep("public", base + "/compute/v2.1")]},
            {"type": "network", "name": "neutron", "id": uuid.uuid4().hex,
             "endpoints": [ep("public", base + "/networking"),
                           ep("internal", base + "/networking-internal/"),
                           ep("admin", base + "/networking-admin"),
                           ep("public", base + "/networking-other-region", "RegionX")]},
        ]

    # ---- Neutron: ports --------------------------------------------------------
    def project_of(self, info):
        return info["project"]["id"] if info["project"] else None

    def visible_port(self, info, p):
        return not p["project_id"] or p["project_id"] == self.project_of(info)

    def list_ports(self, info, query, base):
        """Filters (repeated = OR); pages as Neutron does: sorted by id, a
        "next" link whenever a page is full (so the last may be empty)."""
        for k in query:
            if k not in PORT_FILTERS and not k.startswith("fixed_ips"):
                raise bad("[%s] is invalid attribute for filtering" % k)
        out = []
        for p in sorted(self.ports.values(), key=lambda x: x["id"]):
            if not self.visible_port(info, p):
                continue
            if all(str(p.get(k, "")) in v for k, v in query.items() if k not in PAGING):
                out.append(copy.deepcopy(p))
        limit = self.page_size
        if "limit" in query:
            try:
                limit = int(query["limit"][0])
            except ValueError:
                raise bad("Limit must be an integer 0 or greater and not '%s'"
                          % query["limit"][0])
            if self.page_size:
                limit = min(limit, self.page_size)
        if "marker" in query:
            ids = [p["id"] for p in out]
            if query["marker"][0] not in ids:
                raise ApiError(404, "PortNotFound", "Port %s could not be found."
                               % query["marker"][0])
            out = out[ids.index(query["marker"][0]) + 1:]
        if not limit or len(out) < limit:
            return {"ports": out}
        out = out[:limit]
        q = [(k, x) for k, v in query.items() if k not in ("limit", "marker") for x in v]
        q += [("limit", str(limit)), ("marker", out[-1]["id"])]
        return {"ports": out, "ports_links": [{"rel": "next", "href": base + "/ports?" +
                                               urlencode(q)}]}

    def get_port(self, info, pid):
        p = self.ports.get(pid)
        if p is None or not self.visible_port(info, p):
            raise ApiError(404, "PortNotFound", "Port %s could not be found." % pid)
        return p

    def check_pairs(self, port, pairs):
        if not isinstance(pairs, list):
            raise bad("Invalid input for allowed_address_pairs. Reason: '%r' is not a "
                      "list." % (pairs,))
        seen, out = set(), []
        for x in pairs:
            if not isinstance(x, dict):
                raise bad("Invalid input for allowed_address_pairs. Reason: "
                          "Allowed address pairs must be a list of dictionaries.")
            extra = set(x) - {"ip_address", "mac_address"}
            if extra:
                raise bad("Unrecognized attribute(s) '%s'" % ", ".join(sorted(extra)))
            ip = x.get("ip_address")
            if not isinstance(ip, str):
                raise ApiError(400, "AllowedAddressPairsMissingIP",
                               "AllowedAddressPair must contain ip_address")
            try:
                ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise bad("Invalid input for ip_address. Reason: '%s' is not a valid IP "
                          "address." % ip)
            mac = x.get("mac_address", port["mac_address"])
            if not isinstance(mac, str) or not MAC_RE.match(mac):
                raise bad("Invalid input for mac_address. Reason: '%s' is not a valid MAC "
                          "address." % mac)
            key = (ip, mac.lower())
            if key in seen:
                raise ApiError(400, "DuplicateAddressPairInRequest",
                               "Request contains duplicate address pair: mac_address %s "
                               "ip_address %s." % (mac, ip))
            seen.add(key)
            out.append({"ip_address": ip, "mac_address": mac.lower()})
        if len(out) > self.max_pairs:
            raise ApiError(400, "AllowedAddressPairExhausted",
                           "The number of allowed address pair exceeds the maximum %d."
                           % self.max_pairs)
        return out

    def update_port(self, info, pid, body, if_match):
        p = self.get_port(info, pid)
        if not isinstance(body, dict) or set(body) != {"port"} or \
                not isinstance(body["port"], dict):
            raise bad("Resource body required")
        upd = body["port"]
        ro = set(upd) & PORT_READONLY
        if ro:
            raise bad("Attribute '%s' not allowed in PUT" % sorted(ro)[0])
        unknown = set(upd) - PORT_UPDATABLE
        if unknown:
            raise bad("Unrecognized attribute(s) '%s'" % ", ".join(sorted(unknown)))
        if if_match is not None and if_match != p["revision_number"]:
            raise ApiError(412, "RevisionNumberConstraintFailed",
                           "Constrained to %d, but current revision is %d"
                           % (if_match, p["revision_number"]))
        new = copy.deepcopy(p)
        if "allowed_address_pairs" in upd:
            new["allowed_address_pairs"] = self.check_pairs(p, upd["allowed_address_pairs"])
        if "port_security_enabled" in upd:
            if not isinstance(upd["port_security_enabled"], bool):
                raise bad("Invalid input for port_security_enabled.")
            new["port_security_enabled"] = upd["port_security_enabled"]
        if "security_groups" in upd:
            new["security_groups"] = list(upd["security_groups"] or [])
        for k in ("name", "description", "admin_state_up"):
            if k in upd:
                new[k] = upd[k]
        if not new["port_security_enabled"]:
            if new["security_groups"]:
                raise ApiError(409, "PortSecurityPortHasSecurityGroup",
                               "Port has security group associated. Cannot disable port "
                               "security or ip address until security group is removed")
            if new["allowed_address_pairs"]:
                raise ApiError(409, "AddressPairAndPortSecurityRequired",
                               "Port Security must be enabled in order to have allowed "
                               "address pairs on a port.")
        if new != p:
            new["revision_number"] = p["revision_number"] + 1
            self.ports[pid] = new
            self.changed()
        return {"port": copy.deepcopy(self.ports[pid])}

    # ---- Neutron: routers ------------------------------------------------------
    def get_router(self, info, rid):
        r = self.routers.get(rid)
        if r is None or (r["project_id"] and r["project_id"] != self.project_of(info)):
            raise ApiError(404, "RouterNotFound", "Router %s could not be found" % rid)
        return r

    def router_subnets(self, rid):
        out = []
        for p in self.ports.values():
            if p["device_id"] == rid and p["device_owner"] in ROUTER_OWNERS:
                for f in p["fixed_ips"]:
                    sn = self.subnets.get(f["subnet_id"])
                    if sn:
                        out.append((ipaddress.ip_network(sn["cidr"]), f["ip_address"]))
        return out

    def check_routes(self, rid, body):
        if not isinstance(body, dict) or set(body) != {"router"} or \
                not isinstance(body["router"], dict):
            raise bad("Resource body required")
        extra = set(body["router"]) - {"routes"}
        if extra or "routes" not in body["router"]:
            raise bad("Unrecognized attribute(s) '%s'" % ", ".join(sorted(extra))
                      if extra else "Request body must contain routes")
        routes = body["router"]["routes"]
        if not isinstance(routes, list):
            raise bad("Invalid input for routes. Reason: '%r' is not a list." % (routes,))
        ifs = self.router_subnets(rid)
        out = []
        for x in routes:
            if not isinstance(x, dict) or set(x) != {"destination", "nexthop"}:
                raise bad("Invalid input for routes. Reason: Validation of dictionary's "
                          "keys failed. Expected keys: {'destination', 'nexthop'}")
            d, nh = x["destination"], x["nexthop"]
            try:
                net = ipaddress.ip_network(d, strict=True)
            except (ValueError, TypeError):
                raise bad("Invalid input for routes. Reason: '%s' is not a valid IP "
                          "subnet." % d)
            if str(net) != d:
                raise bad("Invalid input for routes. Reason: '%s' isn't a recommended "
                          "CIDR, '%s' is recommended" % (d, net))
            try:
                nha = ipaddress.ip_address(nh)
            except (ValueError, TypeError):
                raise bad("Invalid input for routes. Reason: '%s' is not a valid IP "
                          "address." % nh)
            if not any(nha in n and str(nha) != ip for (n, ip) in ifs):
                raise ApiError(400, "InvalidRoutes", "Invalid format for routes: %s, the "
                               "nexthop is not connected with router" % json.dumps(x))
            out.append({"destination": d, "nexthop": nh})
        return out

    def router_routes(self, info, rid, body, add):
        r = self.get_router(info, rid)
        routes = self.check_routes(rid, body)
        cur = list(r["routes"])
        if add:
            for x in routes:
                if x not in cur:
                    cur.append(x)
            if len(cur) > self.max_routes:
                raise ApiError(400, "RoutesExhausted", "Unable to complete operation for "
                               "%s. The number of routes exceeds the maximum %d."
                               % (rid, self.max_routes))
        else:
            cur = [x for x in cur if x not in routes]
        if cur != r["routes"]:
            r["routes"] = cur
            r["revision_number"] += 1
            self.changed()
        return {"router": copy.deepcopy(r)}

    def update_router(self, info, rid, body):
        r = self.get_router(info, rid)
        upd = body.get("router") if isinstance(body, dict) else None
        if not isinstance(upd, dict):
            raise bad("Resource body required")
        unknown = set(upd) - {"name", "description", "admin_state_up", "routes"}
        if unknown:
            raise bad("Unrecognized attribute(s) '%s'" % ", ".join(sorted(unknown)))
        if "routes" in upd:
            r["routes"] = self.check_routes(rid, {"router": {"routes": upd["routes"]}})
        for k in ("name", "description", "admin_state_up"):
            if k in upd:
                r[k] = upd[k]
        r["revision_number"] += 1
        self.changed()
        return {"router": copy.deepcopy(r)}

    def dump(self):
        return {"version": self.version, "ports": copy.deepcopy(list(self.ports.values())),
                "routers": copy.deepcopy(list(self.routers.values()))}
