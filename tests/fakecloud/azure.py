#!/usr/bin/python3
"""Fake Azure for cloudroute's tests: Azure Resource Manager (HTTPS, the
test CA), the Instance Metadata Service with managed-identity tokens (plain
HTTP) and a control endpoint.  Standard library only.  The world and the
resource documents are in azure_world.py; README.md ("Azure") has the
command line and the control API.

ARM request path, in this order (each step answers as ARM does):
  body size -> bearer token (HS256 JWT issued by our IMDS: signature, aud,
  nbf/exp, revocation) -> route to an operation -> api-version of that
  resource provider -> faults -> RBAC (the identity's actions) -> the
  operation under World.lock -> answer (writes: Azure-AsyncOperation and,
  for DELETE, Location; polled a few times before they finish) -> log.
"""

import base64
import fnmatch
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from urllib.parse import parse_qs, urlsplit

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure_world as aw  # noqa: E402
from azure_world import ApiError  # noqa: E402
from fakebase import Handler, RequestLog  # noqa: E402
from faults import Faults  # noqa: E402
from state import write_atomic  # noqa: E402

NETWORK_VERSIONS = ("2020-11-01", "2021-02-01", "2021-05-01", "2021-08-01", "2022-01-01",
                    "2022-05-01", "2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01",
                    "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01",
                    "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01")
COMPUTE_VERSIONS = ("2021-03-01", "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01",
                    "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01",
                    "2024-07-01", "2024-11-01")
IMDS_VERSIONS = ("2017-04-02", "2017-08-01", "2017-12-01", "2018-10-01", "2019-03-11",
                 "2019-06-01", "2019-08-15", "2020-06-01", "2020-09-01", "2021-01-01",
                 "2021-02-01", "2021-05-01", "2021-10-01", "2021-12-13", "2023-07-01")
TOKEN_VERSIONS = ("2018-02-01", "2019-08-01")
AUDIENCES = ("https://management.azure.com/", "https://management.azure.com",
             "https://management.core.windows.net/")
FAULT_KINDS = ("throttle", "busy", "error500", "malformed", "html", "slow", "drop",
               "race412", "opfail", "opretry")

SEG = r"([^/]+)"
RG = r"/subscriptions/" + SEG + r"/resourcegroups/" + SEG + r"/providers/"
ROUTES = [  # (method, regex on the lower-cased path, op, provider)
    ("GET", RG + r"microsoft\.compute/virtualmachines/" + SEG + r"$", "GetVm", "compute"),
    ("GET", RG + r"microsoft\.compute/virtualmachines/" + SEG + r"/instanceview$",
     "GetVmInstanceView", "compute"),
    ("GET", RG + r"microsoft\.network/networkinterfaces/" + SEG + r"$", "GetNic", "network"),
    ("PUT", RG + r"microsoft\.network/networkinterfaces/" + SEG + r"$", "PutNic", "network"),
    ("GET", r"/subscriptions/" + SEG + r"/providers/microsoft\.network/networkinterfaces$",
     "ListNics", "network"),
    ("GET", RG + r"microsoft\.network/virtualnetworks/" + SEG + r"$", "GetVnet", "network"),
    ("GET", RG + r"microsoft\.network/virtualnetworks/" + SEG + r"/subnets/" + SEG + r"$",
     "GetSubnet", "network"),
    ("GET", RG + r"microsoft\.network/routetables/" + SEG + r"$", "GetRouteTable", "network"),
    ("GET", RG + r"microsoft\.network/routetables/" + SEG + r"/routes$", "ListRoutes",
     "network"),
    ("GET", RG + r"microsoft\.network/routetables/" + SEG + r"/routes/" + SEG + r"$",
     "GetRoute", "network"),
    ("PUT", RG + r"microsoft\.network/routetables/" + SEG + r"/routes/" + SEG + r"$",
     "PutRoute", "network"),
    ("DELETE", RG + r"microsoft\.network/routetables/" + SEG + r"/routes/" + SEG + r"$",
     "DeleteRoute", "network"),
    ("GET", r"/subscriptions/" + SEG + r"/providers/microsoft\.network/locations/" + SEG +
     r"/operations/" + SEG + r"$", "GetOperation", "network"),
    ("GET", r"/subscriptions/" + SEG + r"/providers/microsoft\.network/locations/" + SEG +
     r"/operationresults/" + SEG + r"$", "GetOperationResult", "network"),
]
ACTIONS = {
    "GetVm": ["Microsoft.Compute/virtualMachines/read"],
    "GetVmInstanceView": ["Microsoft.Compute/virtualMachines/read"],
    "GetNic": ["Microsoft.Network/networkInterfaces/read"],
    "ListNics": ["Microsoft.Network/networkInterfaces/read"],
    "PutNic": ["Microsoft.Network/networkInterfaces/write"],
    "GetVnet": ["Microsoft.Network/virtualNetworks/read"],
    "GetSubnet": ["Microsoft.Network/virtualNetworks/subnets/read"],
    "GetRouteTable": ["Microsoft.Network/routeTables/read"],
    "ListRoutes": ["Microsoft.Network/routeTables/routes/read"],
    "GetRoute": ["Microsoft.Network/routeTables/routes/read"],
    "PutRoute": ["Microsoft.Network/routeTables/routes/write"],
    "DeleteRoute": ["Microsoft.Network/routeTables/routes/delete"],
}
MUTATING = ("PutNic", "PutRoute", "DeleteRoute")
POLLS = ("GetOperation", "GetOperationResult")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Fake(RequestLog):
    def __init__(self, args):
        self.args = args
        self.world = aw.load_file(args.scenario, lro_polls=args.lro_polls,
                                  lro_seconds=args.lro_seconds)
        self.secret = os.urandom(32)
        self.revoked = set()            # jti of tokens expired by the control API
        self.tokens = {}                # (vm, identity) -> (token, exp, jti)
        self.issued = set()             # every token ever issued
        self.faults = Faults()
        self.init_log(args.log)
        self.verbose = args.verbose

    # ---- tokens ----------------------------------------------------------
    def issue(self, vm, ident):
        now = int(time.time())
        cached = self.tokens.get((vm["name"], ident["name"]))
        if cached and cached[1] - now > 300 and cached[2] not in self.revoked:
            return cached
        exp = now + self.args.token_lifetime
        payload = {"aud": "https://management.azure.com/",
                   "iss": "https://sts.windows.net/%s/" % self.world.tenant,
                   "iat": now, "nbf": now, "exp": exp, "oid": ident["principal_id"],
                   "appid": ident["client_id"], "tid": self.world.tenant,
                   "jti": str(uuid.uuid4()), "xms_mirid": self.world.vm_id(vm)}
        head = b64u(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "fake"}).encode())
        body = b64u(json.dumps(payload, separators=(",", ":")).encode())
        sig = b64u(hmac.new(self.secret, ("%s.%s" % (head, body)).encode(),
                            hashlib.sha256).digest())
        tok = ("%s.%s.%s" % (head, body, sig), exp, payload["jti"])
        self.tokens[(vm["name"], ident["name"])] = tok
        self.issued.add(tok[0])
        return tok

    def verify(self, header):
        """-> identity dict, or raises ApiError 401."""
        if not header:
            raise ApiError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, tok = header.partition(" ")
        if scheme.lower() != "bearer" or tok.count(".") != 2:
            raise ApiError(401, "AuthenticationFailedInvalidHeader",
                           "Authentication failed. The 'Authorization' header is provided "
                           "in an invalid format.")
        head, body, sig = tok.split(".")
        want = b64u(hmac.new(self.secret, ("%s.%s" % (head, body)).encode(),
                             hashlib.sha256).digest())
        if not hmac.compare_digest(want, sig):
            raise ApiError(401, "InvalidAuthenticationToken",
                           "The access token is invalid (signature).")
        try:
            p = json.loads(b64u_dec(body))
        except ValueError:
            raise ApiError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        now = time.time()
        if p.get("aud") not in AUDIENCES:
            raise ApiError(401, "InvalidAuthenticationTokenAudience",
                           "The access token has been obtained for wrong audience or "
                           "resource '%s'." % p.get("aud"))
        if p.get("exp", 0) < now or p.get("jti") in self.revoked:
            raise ApiError(401, "ExpiredAuthenticationToken",
                           "The access token expiry UTC time is earlier than current UTC "
                           "time.")
        if p.get("nbf", 0) > now + 300:
            raise ApiError(401, "InvalidAuthenticationToken", "The token is not valid yet.")
        for ident in self.world.identities.values():
            if ident["principal_id"] == p.get("oid"):
                return ident
        raise ApiError(401, "InvalidAuthenticationToken", "Unknown principal.")

    # ---- counts ----------------------------------------------------------
    def counts(self):
        with self.log_lock:
            c = {"arm": 0, "reads": 0, "mutating": 0, "polls": 0, "imds": 0, "tokens": 0,
                 "by_op": {}}
            for e in self.entries:
                op = e.get("op", "?")
                c["by_op"][op] = c["by_op"].get(op, 0) + 1
                if e.get("listener") == "imds":
                    c["imds"] += 1
                    c["tokens"] += op == "Token"
                elif op in POLLS:
                    c["polls"] += 1
                else:
                    c["arm"] += 1
                    c["mutating" if op in MUTATING else "reads"] += 1
            return c

    def changed(self):
        if self.args.state_out:
            with self.world.lock:
                d = self.world.dump()
            write_atomic(self.args.state_out, json.dumps(d, indent=1) + "\n")


class Reply(Exception):
    def __init__(self, status, obj=None, headers=None, raw=None):
        super().__init__(status)
        self.status, self.obj, self.headers, self.raw = status, obj, headers or {}, raw


def arm_error(e):
    return Reply(e.status, {"error": {"code": e.code, "message": e.message}},
                 {"WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/'
                  '", error="invalid_token"'} if e.status == 401 else None)


def check_version(q, provider, path):
    v = q.get("api-version")
    if not v:
        raise ApiError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for "
                       "all requests.")
    known = COMPUTE_VERSIONS if provider == "compute" else NETWORK_VERSIONS
    if v[0] not in known:
        m = re.search(r"(?i)/providers/microsoft\.\w+/(\w+)", path)
        rtype = m.group(1) if m else "?"
        raise ApiError(400, "NoRegisteredProviderFound" if provider == "compute" else
                       "InvalidApiVersionParameter",
                       "No registered resource provider found for location 'westeurope' and "
                       "API version '%s' for type '%s'. The supported api-versions are '%s'."
                       % (v[0], rtype, ", ".join(known)))
    return v[0]


def allowed(ident, action):
    for a in ident.get("actions", []):
        if fnmatch.fnmatchcase(action.lower(), a.lower()) and \
                action.lower() not in [d.lower() for d in ident.get("deny", [])]:
            return True
    return False


def rbac(app, ident, op, scope, extra=(), linked_from=None):
    for action in list(ACTIONS.get(op, [])) + list(extra):
        if not allowed(ident, action) and linked_from:
            raise ApiError(403, "LinkedAuthorizationFailed",
                           "The client '%s' with object id '%s' has permission to perform "
                           "action '%s' on scope '%s'; however, it does not have permission "
                           "to perform action(s) '%s' on the linked scope(s) '%s' or the "
                           "linked scope(s) are invalid." % (
                               ident["principal_id"], ident["principal_id"], linked_from[0],
                               linked_from[1], action, scope))
        if not allowed(ident, action):
            raise ApiError(403, "AuthorizationFailed",
                           "The client '%s' with object id '%s' does not have authorization "
                           "to perform action '%s' over scope '%s' or the scope is invalid. "
                           "If access was recently granted, please refresh your credentials."
                           % (ident["principal_id"], ident["principal_id"], action, scope))


class Arm:
    """One ARM request (the handler's state for it)."""

    def __init__(self, app, h):
        self.app, self.h, self.w = app, h, app.world
        u = urlsplit(h.path)
        self.path, self.q = u.path, parse_qs(u.query, keep_blank_values=True)
        self.base = "https://" + (h.headers.get("Host") or "localhost")

    def op_urls(self, oid, ver):
        p = "%s/subscriptions/%s/providers/Microsoft.Network/locations/%s" % (
            self.base, self.w.sub, self.w.location)
        return ("%s/operations/%s?api-version=%s" % (p, oid, ver),
                "%s/operationResults/%s?api-version=%s" % (p, oid, ver))

    def lro(self, status, obj, finish, ver, fault, location=False):
        oid = self.w.start_op(finish)
        if fault and fault["kind"] in ("opfail", "opretry"):
            self.w.ops[oid]["fail"] = fault["kind"]
        a, loc = self.op_urls(oid, ver)
        hdr = {"Azure-AsyncOperation": a, "Retry-After": str(self.app.args.lro_retry_after)}
        if location:
            hdr["Location"] = loc
        return Reply(status, obj, hdr)

    def body(self):
        ct = (self.h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ct != "application/json":
            raise ApiError(415, "UnsupportedMediaType",
                           "The content media type '%s' is not supported. Only "
                           "'application/json' is supported." % ct)
        try:
            return json.loads(self.h.raw_body or b"")
        except ValueError:
            raise ApiError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.")

    def run(self, op, m, ident, ver, fault):
        w, g = self.w, m.groups()
        sub = g[0]
        if sub.lower() != w.sub.lower():
            raise ApiError(404, "SubscriptionNotFound",
                           "The subscription '%s' could not be found." % sub)
        if op in POLLS:
            o = w.poll_op(g[2])
            hdr = {"Retry-After": str(self.app.args.lro_retry_after)}
            if op == "GetOperation":
                body = {"status": o["status"]}
                if o["status"] == "Failed" and o["fail"] == "opretry":
                    # A resource it references was still Updating: nothing
                    # changed, the same request may be sent again.
                    body["error"] = {"code": "RetryableError",
                                     "message": "A retryable error occurred.",
                                     "details": [{"code": "ReferencedResourceNotProvisioned",
                                                  "message": "Cannot proceed with operation "
                                                  "because a resource it uses is not in "
                                                  "Succeeded state (injected)."}]}
                elif o["status"] == "Failed":
                    body["error"] = {"code": "InternalServerError",
                                     "message": "The operation failed (injected)."}
                return Reply(200, body, hdr if o["status"] == "InProgress" else None)
            if o["status"] == "InProgress":
                return Reply(202, None, dict(hdr, Location=self.base + self.h.path))
            if o["status"] == "Failed":
                raise ApiError(500, "InternalServerError", "The operation failed (injected).")
            return Reply(204)
        scope = self.path
        if op == "ListNics":
            rbac(self.app, ident, op, scope)
            return self.list_nics()
        rg = g[1]
        if op in ("GetVm", "GetVmInstanceView"):
            v = w.get(w.vms, rg, g[2], "Microsoft.Compute/virtualMachines")
            rbac(self.app, ident, op, scope)
            return Reply(200, w.vm_json(v) if op == "GetVm" else w.instance_view(v))
        if op in ("GetNic", "PutNic"):
            n = w.get(w.nics, rg, g[2], "Microsoft.Network/networkInterfaces")
            if op == "GetNic":
                rbac(self.app, ident, op, scope)
                return Reply(200, w.nic_json(n))
            return self.put_nic(n, ident, ver, fault)
        if op in ("GetVnet", "GetSubnet"):
            v = w.get(w.vnets, rg, g[2], "Microsoft.Network/virtualNetworks")
            rbac(self.app, ident, op, scope)
            if op == "GetVnet":
                return Reply(200, w.vnet_json(v))
            _, s = w.find_subnet(g[2], g[3])
            if s is None:
                raise ApiError(404, "NotFound", "Resource %s not found." % scope)
            return Reply(200, w.subnet_json(v, s))
        t = w.get(w.tables, rg, g[2], "Microsoft.Network/routeTables")
        rbac(self.app, ident, op, scope)
        if op == "GetRouteTable":
            return Reply(200, w.table_json(t))
        if op == "ListRoutes":
            return Reply(200, {"value": [w.route_json(t, r) for r in t["routes"].values()]})
        return self.route_op(op, t, g[3], ver, fault)

    def list_nics(self):
        w = self.w
        nics = sorted(w.nics.values(), key=lambda n: n["name"])
        start = 0
        if "$skiptoken" in self.q:
            try:
                start = int(self.q["$skiptoken"][0])
            except ValueError:
                raise ApiError(400, "InvalidSkipToken", "bad $skiptoken")
        page = nics[start:start + self.app.args.page_size]
        out = {"value": [w.nic_json(n) for n in page]}
        if start + len(page) < len(nics):
            out["nextLink"] = "%s%s?api-version=%s&$skiptoken=%d" % (
                self.base, self.path, self.q["api-version"][0], start + len(page))
        return Reply(200, out)

    def put_nic(self, n, ident, ver, fault):
        w = self.w
        if n["state"] == "Updating":
            raise ApiError(409, "RetryableErrorDueToAnotherOperation",
                           "Operation PutNetworkInterfaceOperation (%s) is not allowed: "
                           "another operation on this or a dependent resource is in "
                           "progress." % n["name"])
        rbac(self.app, ident, "PutNic", self.path)
        body = self.body()
        cfgs = (body.get("properties") or {}).get("ipConfigurations") \
            if isinstance(body, dict) else None
        sids = [((c.get("properties") or {}).get("subnet") or {}).get("id", "")
                for c in cfgs or [] if isinstance(c, dict)]
        for sid in sids:
            rbac(self.app, ident, "", sid,
                 ["Microsoft.Network/virtualNetworks/subnets/join/action"],
                 linked_from=(ACTIONS["PutNic"][0], self.path))
        _, done = w.put_nic(n, body, self.h.headers.get("If-Match"),
                            self.h.headers.get("If-None-Match"))
        return self.lro(200, w.nic_json(n), done, ver, fault)

    def route_op(self, op, t, name, ver, fault):
        w = self.w
        if op == "GetRoute":
            r = t["routes"].get(aw.key(name))
            if r is None:
                raise ApiError(404, "NotFound", "Resource %s not found." % self.path)
            return Reply(200, w.route_json(t, r))
        if op == "PutRoute":
            created, r, done = w.put_route(t, name, self.body(), self.h.headers.get("If-Match"),
                                           self.h.headers.get("If-None-Match"))
            return self.lro(201 if created else 200, w.route_json(t, r), done, ver, fault)
        done = w.delete_route(t, name, self.h.headers.get("If-Match"))
        if done is None:
            return Reply(204)
        return self.lro(202, None, done, ver, fault, location=True)


def apply_fault(app, f, op, arm):
    k = f["kind"]
    if k == "throttle":
        return Reply(429, {"error": {"code": "SubscriptionRequestsThrottled",
                                     "message": "Number of requests for subscription exceeded "
                                     "the limit. Please try again later."}},
                     {"Retry-After": str(f.get("retry_after") or 1)})
    if k == "busy":
        return Reply(409, {"error": {"code": "RetryableErrorDueToAnotherOperation",
                                     "message": "Operation is not allowed because another "
                                     "operation on the resource is in progress."}},
                     {"Retry-After": str(f.get("retry_after") or 1)})
    if k == "error500":
        return Reply(500, {"error": {"code": "InternalServerError",
                                     "message": "An error occurred (injected)."}})
    if k == "malformed":
        return Reply(200, raw=b'{"name": "x", "id": "/subscriptions/", "properties": {"rou')
    if k == "html":
        return Reply(f["status"], raw=b"<!DOCTYPE html><html><head><title>502 Bad Gateway"
                     b"</title></head><body><h1>Bad Gateway</h1></body></html>",
                     headers={"Content-Type": "text/html"})
    if k == "race412":
        # Another writer got there first: the resource's etag moves on.
        m = re.search(r"(?i)/(networkinterfaces|routetables)/([^/]+)(?:/routes/([^/]+))?$",
                      arm.path)
        with app.world.lock:
            if m and m.group(1).lower() == "networkinterfaces" and \
                    aw.key(m.group(2)) in app.world.nics:
                app.world.nics[aw.key(m.group(2))]["etag"] = aw.etag()
            elif m and aw.key(m.group(2)) in app.world.tables:
                t = app.world.tables[aw.key(m.group(2))]
                t["etag"] = aw.etag()
                if m.group(3) and aw.key(m.group(3)) in t["routes"]:
                    t["routes"][aw.key(m.group(3))]["etag"] = t["etag"]
        return None
    return None                          # opfail, opretry: carried by the operation


def make_arm_handler(app):

    class H(Handler):

        def send(self, rep):
            data = rep.raw if rep.raw is not None else (
                b"" if rep.obj is None else json.dumps(rep.obj).encode())
            self.send_response(rep.status)
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.send_header("x-ms-correlation-request-id", str(uuid.uuid4()))
            if data and "Content-Type" not in rep.headers:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for k, v in rep.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n > 65536:
                self.close_connection = True
                return self.send(Reply(413, {"error": {"code": "RequestEntityTooLarge",
                                                       "message": "too large"}}))
            self.raw_body = self.rfile.read(n) if n else b""
            arm = Arm(app, self)
            self.cur_op, status, ver = "?", 0, None
            try:
                rep, _, ver = self.dispatch(arm)
            except ApiError as e:
                rep = arm_error(e)
            except Reply as r:
                rep = r
            if rep is None:
                self.close_connection = True
                status = 0
            else:
                status = rep.status
                self.send(rep)
            op = self.cur_op
            app.log_event({"listener": "arm", "method": self.command, "path": arm.path,
                           "op": op, "status": status, "api_version": ver})
            if op in MUTATING or op in POLLS:
                app.changed()

        def dispatch(self, arm):
            lp = arm.path.lower()
            for method, rx, op, prov in ROUTES:
                m = re.match(rx, lp)
                if m and method == self.command:
                    break
            else:
                raise ApiError(404 if self.command == "GET" else 405, "InvalidResourceType"
                               if self.command == "GET" else "MethodNotAllowed",
                               "No route for %s %s" % (self.command, arm.path))
            m = re.match(rx, arm.path, re.IGNORECASE)
            self.cur_op = op
            ident = app.verify(self.headers.get("Authorization"))
            ver = check_version(arm.q, prov, arm.path)
            delay, fault = app.faults.take(op)
            if delay:
                time.sleep(delay / 1000.0)
            if fault is not None and fault["kind"] == "drop":
                return None, op, ver
            if fault is not None and not fault["apply"]:
                rep = apply_fault(app, fault, op, arm)
                if rep is not None:
                    return rep, op, ver
            with app.world.lock:
                app.world.settle_ops()
                try:
                    rep = arm.run(op, m, ident, ver, fault)
                except ApiError as e:
                    rep = arm_error(e)
            if fault is not None and fault["apply"]:
                rep = apply_fault(app, fault, op, arm) or rep
            return rep, op, ver

        do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = handle_any

    H.app = app
    return H


def make_imds_handler(app, vm_name):

    class H(Handler):
        timeout = 10

        def reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return status

        def do_GET(self):
            u = urlsplit(self.path)
            q = parse_qs(u.query)
            op = "Token" if u.path == "/metadata/identity/oauth2/token" else "Instance"
            status = self.serve(u.path, q, op)
            app.log_event({"listener": "imds", "method": "GET", "path": u.path,
                           "op": op, "status": status})

        def serve(self, path, q, op):
            if self.headers.get("X-Forwarded-For"):
                return self.reply(400, {"error": "Bad request. X-Forwarded-For header is "
                                                 "not allowed"})
            if self.headers.get("Metadata") != "true":
                return self.reply(400, {"error": "Bad request. Required metadata header "
                                                 "not specified"})
            delay, fault = app.faults.take("Imds" + op)
            if fault is not None and fault["kind"] in ("throttle", "error500"):
                return self.reply(429 if fault["kind"] == "throttle" else 500,
                                  {"error": "Too many requests" if fault["kind"] == "throttle"
                                   else "Internal error"})
            versions = TOKEN_VERSIONS if op == "Token" else IMDS_VERSIONS
            v = q.get("api-version", [None])[0]
            if v not in versions:
                return self.reply(400, {"error": "Bad request. api-version was not specified "
                                        "in the request or is invalid",
                                        "newest-versions": list(versions[-3:])})
            with app.world.lock:
                vm = app.world.vms.get(aw.key(vm_name))
                if op == "Token":
                    return self.token(vm, q)
                if path not in ("/metadata/instance", "/metadata/instance/"):
                    return self.reply(404, {"error": "Not found"})
                return self.reply(200, self.instance(vm))

        def instance(self, vm):
            w = app.world
            ifs = []
            for name in vm.get("nics", []):
                n = w.nics.get(aw.key(name))
                if n is None:
                    continue
                _, s = w.find_subnet(n["vnet"], n["subnet"])
                net, _, plen = s["prefix"].partition("/")
                ifs.append({"ipv4": {"ipAddress": [{"privateIpAddress": n["ip"],
                                                    "publicIpAddress": n.get("public_ip", "")}],
                                     "subnet": [{"address": net, "prefix": plen}]},
                            "ipv6": {"ipAddress": []},
                            "macAddress": n["mac"].replace("-", "").upper()})
            return {"compute": {"azEnvironment": "AzurePublicCloud", "location": w.location,
                                "name": vm["name"], "resourceGroupName": vm["resource_group"],
                                "resourceId": w.vm_id(vm), "subscriptionId": w.sub,
                                "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, vm["name"])),
                                "vmSize": "Standard_B2s", "zone": "", "tags": "",
                                "osType": "Linux"},
                    "network": {"interface": ifs}}

        def token(self, vm, q):
            res = q.get("resource", [None])[0]
            if res not in AUDIENCES:
                return self.reply(400, {"error": "invalid_resource", "error_description":
                                        "AADSTS500011: The resource principal named %s was "
                                        "not found in the tenant." % res})
            w = app.world
            cid = q.get("client_id", [None])[0]
            if cid:
                idents = [w.identities[u] for u in vm.get("user_identities", [])
                          if w.identities[u]["client_id"].lower() == cid.lower()]
            elif vm.get("identity"):
                idents = [w.identities[vm["identity"]]]
            elif len(vm.get("user_identities", [])) == 1:
                idents = [w.identities[vm["user_identities"][0]]]
            else:
                idents = []
            if not idents:
                return self.reply(400, {"error": "invalid_request",
                                        "error_description": "Identity not found"})
            tok, exp, _ = app.issue(vm, idents[0])
            now = int(time.time())
            return self.reply(200, {"access_token": tok, "client_id": idents[0]["client_id"],
                                    "expires_in": str(exp - now), "expires_on": str(exp),
                                    "ext_expires_in": str(exp - now), "not_before": str(now),
                                    "resource": res, "token_type": "Bearer"})

    H.app = app
    return H


if __name__ == "__main__":
    import azure_control
    sys.exit(azure_control.main(sys.argv[1:]))
