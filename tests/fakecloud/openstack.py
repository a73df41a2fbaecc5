#!/usr/bin/python3
"""Fake OpenStack for cloudroute's tests: Keystone v3 and Neutron v2.0 over
HTTPS (the test CA of mkca.sh) on one listener, the Nova metadata service
on plain HTTP, and a control endpoint.  Standard library only; the world
and its validation are in openstack_world.py.

  openstack.py --scenario FILE --api ADDR:PORT --cert F --key F
               [--metadata ADDR:PORT=UUID]... [--control ADDR:PORT]
               [--token-ttl SECONDS] [--on-change CMD] [--ready-file F] [--log F] [-v]

Paths on the API listener:
  POST /identity/v3/auth/tokens       201, X-Subject-Token, token + catalog
  GET  /networking/v2.0/ports[?filters]      (also /networking-internal/...)
  GET|PUT /networking/v2.0/ports/{id}        PUT honours If-Match: revision_number=N
  GET  /networking/v2.0/routers[/{id}]
  PUT  /networking/v2.0/routers/{id}         (a whole-routes PUT is counted)
  PUT  /networking/v2.0/routers/{id}/add_extraroutes | remove_extraroutes
Every Neutron request needs a valid, unexpired X-Auth-Token (else 401).

Control (plain HTTP, JSON): GET /health /state /counts; POST /reset,
/fault {"kind", "count", "paths"?: [substr], "methods"?: [..], "retry_after"?,
"delay_ms"?, "apply"?}, /faults/clear, /expire-tokens, /token-ttl {"seconds"},
/extensions {"extraroute_atomic": false} (the add/remove_extraroutes actions
answer 404, as on a Neutron without that extension)
(for tokens issued from now on), /mutate {"op":
"add_routes"|"remove_routes", "router", "routes"}, {"op": "set_pairs",
"port", "pairs"} or {"op": "set_security_groups", "port", "security_groups"}.  Fault kinds: throttle (429), unavailable (503), error500,
garbage (200, not JSON), conflict (409), stale (412), unauthorized (401, the
token revoked), slow (delay, then the request runs).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
from fakebase import host_port, listen  # noqa: E402
from openstack_world import ApiError, ScenarioError, World  # noqa: E402

NEUTRON_PREFIXES = ("/networking-internal", "/networking-admin", "/networking")
UNAUTH = {"error": {"code": 401, "title": "Unauthorized",
                    "message": "The request you have made requires authentication."}}


class Fake(fakebase.RequestLog):
    def __init__(self, args):
        with open(args.scenario) as f:
            self.world = World(json.load(f), args.token_ttl)
        self.args = args
        self.api_base = ""
        self.lock = threading.Lock()       # the faults
        self.faults = []
        self.hook_lock = threading.Lock()
        self.verbose = args.verbose
        self.init_log(args.log)

    def hook(self, version_before):
        """--on-change CMD with $FAKECLOUD_STATE, before the answer is sent."""
        if not self.args.on_change or self.world.version == version_before:
            return
        with self.hook_lock:
            with self.world.lock:
                data = json.dumps(self.world.dump(), indent=1)
            fd, path = tempfile.mkstemp(prefix="openstack-fake-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                f.write(data)
            try:
                r = subprocess.run(self.args.on_change, shell=True, timeout=60,
                                   env=dict(os.environ, FAKECLOUD_STATE=path))
                if r.returncode != 0:
                    print("openstack-fake: --on-change exited %d" % r.returncode,
                          file=sys.stderr)
            except subprocess.TimeoutExpired:
                print("openstack-fake: --on-change timed out", file=sys.stderr)
            finally:
                os.unlink(path)

    def counts(self):
        c = {"total": 0, "keystone": 0, "neutron": 0, "metadata": 0, "mutating": 0,
             "mutations_ok": 0, "whole_routes_put": 0, "security_groups_sent": 0,
             "by_action": {}, "by_status": {}}
        for e in self.log_since(0):
            c["total"] += 1
            c[e["service"]] += 1
            a = e["action"]
            c["by_action"][a] = c["by_action"].get(a, 0) + 1
            s = str(e["status"])
            c["by_status"][s] = c["by_status"].get(s, 0) + 1
            if e.get("mutating"):
                c["mutating"] += 1
                if 200 <= e["status"] < 300:
                    c["mutations_ok"] += 1
            c["whole_routes_put"] += e.get("whole_routes_put", 0)
            c["security_groups_sent"] += e.get("security_groups_sent", 0)
        return c

    def take_fault(self, method, path):
        return fakebase.take_listed(self.faults, self.lock, method, path)


def action_name(method, path):
    """GET /ports, PUT /routers/add_extraroutes, ... (ids dropped)."""
    parts = [p for p in path.split("/") if p]
    keep = [p for p in parts if p in ("ports", "routers", "add_extraroutes",
                                      "remove_extraroutes", "tokens")]
    if parts and parts[-1] not in keep and keep:
        keep[-1] += "/{id}"
    return "%s /%s" % (method, "/".join(keep))


def make_api_handler(fake):
    w = fake.world

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenStack"

        def log_message(self, fmt, *a):
            if fake.args.verbose:
                sys.stderr.write("openstack-fake: " + fmt % a + "\n")

        def send(self, status, obj, extra=(), raw=None):
            data = raw if raw is not None else (json.dumps(obj).encode() if obj is not None
                                                else b"")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Openstack-Request-Id", "req-%d" % time.time_ns())
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = self.headers.get("Content-Length")
            if n is None:
                return None
            n = int(n)
            if n > 1 << 20:
                raise ApiError(413, "HTTPRequestEntityTooLarge", "Request is too large.")
            raw = self.rfile.read(n)
            if not raw:
                return None
            ct = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ct != "application/json":
                raise ApiError(415, "HTTPUnsupportedMediaType",
                               "The server could not comply with the request since it is "
                               "either malformed or otherwise incorrect.")
            try:
                return json.loads(raw)
            except ValueError:
                raise ApiError(400, "HTTPBadRequest", "Malformed JSON in request body.")

        def do_GET(self):
            self.handle_any("GET")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def handle_any(self, method):
            u = urlsplit(self.path)
            ent = {"service": "keystone" if u.path.startswith("/identity") else "neutron",
                   "method": method, "path": u.path, "action": action_name(method, u.path),
                   "mutating": method != "GET" and not u.path.startswith("/identity"),
                   "source": self.client_address[0]}
            status = 500
            try:
                status = self.route(method, u, ent)
            except ApiError as e:
                status = e.status
                ent["code"] = e.type
                self.send(e.status, e.body())
            except (ValueError, KeyError, TypeError) as e:
                status = 400
                self.send(400, ApiError(400, "HTTPBadRequest", str(e)).body())
            ent["status"] = status
            fake.log_event(ent)

        def route(self, method, u, ent):
            if u.path == "/identity/v3/auth/tokens" and method == "POST":
                return self.tokens()
            for pre in NEUTRON_PREFIXES:
                if u.path.startswith(pre + "/v2.0/"):
                    return self.neutron(method, u.path[len(pre) + 5:], u.query, ent)
            raise ApiError(404, "HTTPNotFound", "The resource could not be found.")

        def tokens(self):
            body = self.body()
            f = fake.take_fault("POST", "/identity")
            if f and f["kind"] in ("throttle", "unavailable", "error500"):
                return self.fault_answer(f)
            with w.lock:
                tok = w.issue_token(body)
                if tok is None:
                    self.send(401, UNAUTH)
                    return 401
                out = w.token_body(tok, fake.api_base)
            self.send(201, out, extra=[("X-Subject-Token", tok)])
            return 201

        def fault_answer(self, f):
            k = f["kind"]
            extra = [("Retry-After", str(f["retry_after"]))] if "retry_after" in f else []
            if k == "garbage":
                self.send(200, None, raw=b"<html>proxy error</html>")
                return 200
            status, etype = {"throttle": (429, "HTTPTooManyRequests"),
                             "unavailable": (503, "HTTPServiceUnavailable"),
                             "error500": (500, "HTTPInternalServerError"),
                             "conflict": (409, "Conflict"),
                             "stale": (412, "RevisionNumberConstraintFailed")}[k]
            self.send(status, ApiError(status, etype, "fault injected: %s" % k).body(),
                      extra=extra)
            return status

        def authed(self):
            tok = self.headers.get("X-Auth-Token")
            with w.lock:
                info = w.token_info(tok) if tok else None
            return info

        def neutron(self, method, path, query, ent):
            info = self.authed()
            if info is None:
                self.send(401, UNAUTH, extra=[("WWW-Authenticate",
                                               "Keystone uri='%s/identity'" % fake.api_base)])
                return 401
            body = self.body() if method in ("PUT", "POST") else None
            if isinstance(body, dict):
                if "security_groups" in json.dumps(body):
                    ent["security_groups_sent"] = 1
            f = fake.take_fault(method, path)
            if f and f["kind"] == "unauthorized":
                with w.lock:
                    w.tokens.pop(self.headers.get("X-Auth-Token"), None)
                self.send(401, UNAUTH)
                return 401
            if f and f["kind"] == "slow":
                if f.get("apply"):
                    status, out = self.neutron_op(info, method, path, query, body, ent)
                    time.sleep(f.get("delay_ms", 1000) / 1000.0)
                    self.send(status, out)
                    return status
                time.sleep(f.get("delay_ms", 1000) / 1000.0)
            elif f:
                return self.fault_answer(f)
            v0 = w.version
            status, out = self.neutron_op(info, method, path, query, body, ent)
            fake.hook(v0)
            self.send(status, out)
            return status

        def neutron_base(self):
            pre = next(p for p in NEUTRON_PREFIXES if self.path.startswith(p + "/v2.0/"))
            return fake.api_base + pre + "/v2.0"

        def neutron_op(self, info, method, path, query, body, ent):
            q = parse_qs(query, keep_blank_values=True)
            m = re.fullmatch(r"/(ports|routers)(?:/([^/]+))?(?:/([a-z_]+))?", path)
            if not m:
                raise ApiError(404, "HTTPNotFound", "The resource could not be found.")
            kind, rid, act = m.groups()
            im = self.headers.get("If-Match")
            if_match = None
            if im is not None:
                mm = re.fullmatch(r"revision_number=(\d+)", im.strip())
                if not mm:
                    raise ApiError(400, "HTTPBadRequest", "If-Match header must be "
                                   "revision_number=N")
                if_match = int(mm.group(1))
            with w.lock:
                if kind == "ports" and rid is None and method == "GET":
                    return 200, w.list_ports(info, q, self.neutron_base())
                if kind == "ports" and rid and act is None and method == "GET":
                    return 200, {"port": w.get_port(info, rid)}
                if kind == "ports" and rid and act is None and method == "PUT":
                    return 200, w.update_port(info, rid, body, if_match)
                if kind == "routers" and rid is None and method == "GET":
                    return 200, {"routers": [r for r in w.routers.values()]}
                if kind == "routers" and rid and act is None and method == "GET":
                    return 200, {"router": w.get_router(info, rid)}
                if kind == "routers" and rid and act is None and method == "PUT":
                    if isinstance(body, dict) and "routes" in (body.get("router") or {}):
                        ent["whole_routes_put"] = 1
                    return 200, w.update_router(info, rid, body)
                if kind == "routers" and rid and act in ("add_extraroutes",
                                                         "remove_extraroutes") \
                        and method == "PUT":
                    if not w.extraroute_atomic:
                        # Neutron without the extension has no such action.
                        raise ApiError(404, "HTTPNotFound", "The resource could not be "
                                       "found.")
                    return 200, w.router_routes(info, rid, body, act == "add_extraroutes")
            raise ApiError(405, "HTTPMethodNotAllowed", "The method is not allowed for "
                           "the requested URL.")

    return H


def make_meta_handler(fake, instance):
    class M(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            inst = fake.world.instances.get(instance, {})
            docs = {"/openstack": "latest", "/openstack/": "latest",
                    "/openstack/latest/meta_data.json": json.dumps({
                        "uuid": instance, "name": inst.get("name", "vm"),
                        "hostname": inst.get("name", "vm") + ".novalocal",
                        "availability_zone": inst.get("availability_zone", "nova"),
                        "project_id": inst.get("project", ""), "launch_index": 0,
                        "meta": {}, "devices": [], "keys": []})}
            data = docs.get(path)
            status = 200 if data is not None else 404
            data = (data or "Not Found").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200
                             else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            fake.log_event({"service": "metadata", "method": "GET", "path": path,
                      "action": "GET " + path, "status": status, "mutating": False})
    return M


def make_control_handler(fake):
    w = fake.world

    class C(fakebase.ControlHandler):

        def version(self):
            return w.version

        def state(self):
            with w.lock:
                return w.dump()

        def counts(self):
            return fake.counts()

        def pending_faults(self):
            with fake.lock:
                return [dict(f) for f in fake.faults]

        def add_fault(self, body):
            body.setdefault("count", 1)
            with fake.lock:
                fake.faults.append(body)
            return body

        def clear_faults(self):
            with fake.lock:
                fake.faults = []

        def route(self, p, body):
            if p == "/token-ttl":
                with w.lock:
                    w.token_ttl = int(body["seconds"])
                return 200, {"ok": True}
            if p == "/extensions":
                with w.lock:
                    w.extraroute_atomic = bool(body["extraroute_atomic"])
                return 200, {"ok": True}
            if p == "/expire-tokens":
                with w.lock:
                    w.expire_tokens()
                return 200, {"ok": True}
            if p == "/mutate":
                v0 = w.version
                obj, status = self.mutate(body)
                fake.hook(v0)
                return status, obj
            return 404, {"error": "not found"}

        def mutate(self, b):
            with w.lock:
                if b["op"] in ("add_routes", "remove_routes"):
                    r = w.routers[b["router"]]
                    for x in b["routes"]:
                        if b["op"] == "add_routes" and x not in r["routes"]:
                            r["routes"].append(dict(x))
                        elif b["op"] == "remove_routes" and x in r["routes"]:
                            r["routes"].remove(x)
                    r["revision_number"] += 1
                elif b["op"] == "set_pairs":
                    pt = w.ports[b["port"]]
                    pt["allowed_address_pairs"] = [dict(x, mac_address=x.get(
                        "mac_address", pt["mac_address"])) for x in b["pairs"]]
                    pt["revision_number"] += 1
                elif b["op"] == "set_security_groups":
                    pt = w.ports[b["port"]]
                    pt["security_groups"] = list(b["security_groups"])
                    pt["revision_number"] += 1
                else:
                    return {"error": "unknown op"}, 400
                w.changed()
            return {"ok": True}, 200

    C.app = fake
    return C


def main(argv):
    ap = fakebase.arg_parser("fake OpenStack (Keystone + Neutron + metadata)",
                             "Keystone + Neutron HTTPS listener ADDR:PORT (required)")
    ap.add_argument("--metadata", action="append", default=[])
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--on-change", help="sh -c CMD at start and after every change "
                    "($FAKECLOUD_STATE names the state dump)")
    args = ap.parse_args(argv)
    if not (args.api and args.cert and args.key):
        ap.error("--api, --cert and --key are required")
    try:
        fake = Fake(args)
    except (OSError, ValueError, KeyError, ScenarioError) as e:
        print("openstack-fake: bad scenario: %s" % e, file=sys.stderr)
        return 78
    servers, ready = [], {"pid": os.getpid(), "metadata": []}
    try:
        ready["api"] = listen(servers, args.api, make_api_handler(fake),
                              fakebase.tls_context(args.cert, args.key))
        fake.api_base = "https://%s:%d" % (args.api[0], ready["api"]["port"])
        for m in args.metadata:
            addr, _, inst = m.partition("=")
            ready["metadata"].append(dict(listen(servers, host_port(addr),
                                                 make_meta_handler(fake, inst)), uuid=inst))
        if args.control:
            ready["control"] = listen(servers, args.control, make_control_handler(fake))
    except OSError as e:
        print("openstack-fake: cannot listen: %s" % e, file=sys.stderr)
        return 1
    fakebase.run(servers, ready, args.ready_file, lambda: fake.hook(-1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
