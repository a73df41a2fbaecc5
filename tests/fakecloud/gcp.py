#!/usr/bin/python3
"""Fake Google Cloud for cloudroute's tests: the Compute Engine v1 API and
an OAuth 2.0 token endpoint over HTTPS (test CA), the metadata server over
plain HTTP, and a control endpoint.  Standard library only (RSA signatures
of service-account JWTs are verified with `openssl dgst -verify`).

  gcp.py --scenario FILE --api ADDR:PORT --cert F --key F
         [--metadata ADDR:PORT[=ZONE/NAME]]...  [--control ADDR:PORT]
         [--ready-file F] [--log F] [--token-lifetime S] [--op-polls N]
         [--op-seconds S] [--max-page N] [-v]

Compute request path, in order: size and body checks -> bearer token
(issued by this fake's metadata server or token endpoint, unexpired, with a
compute scope) -> method and query parameters (unknown ones are 400, as
Google's front end answers) -> faults -> IAM deny list -> the method under
State.lock -> answer -> request log (never a token).  See
tests/fakecloud/README-gcp.md for the scenario and control API.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qsl, urlsplit

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
from fakebase import host_port as addr, listen, tls_context  # noqa: E402
from gcpstate import ApiError, ScenarioError, load_file  # noqa: E402

STD_PARAMS = {"alt", "fields", "prettyPrint", "quotaUser", "userIp", "key", "$.xgafv"}
METHOD_PARAMS = {
    "instances.get": set(), "routes.get": set(), "globalOperations.get": set(),
    "globalOperations.wait": set(), "zoneOperations.get": set(), "zoneOperations.wait": set(),
    "instances.update": {"requestId", "minimalAction", "mostDisruptiveAllowedAction"},
    "routes.list": {"filter", "maxResults", "pageToken", "orderBy", "returnPartialSuccess"},
    "routes.insert": {"requestId"}, "routes.delete": {"requestId"},
}
PERMISSION = {
    "instances.get": "compute.instances.get", "instances.update": "compute.instances.update",
    "routes.list": "compute.routes.list", "routes.get": "compute.routes.get",
    "routes.insert": "compute.routes.create", "routes.delete": "compute.routes.delete",
    "globalOperations.get": "compute.globalOperations.get",
    "globalOperations.wait": "compute.globalOperations.get",
    "zoneOperations.get": "compute.zoneOperations.get",
    "zoneOperations.wait": "compute.zoneOperations.get",
}
MUTATING = {"instances.update", "routes.insert", "routes.delete"}
SCOPES_OK = ("https://www.googleapis.com/auth/compute",
             "https://www.googleapis.com/auth/cloud-platform")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Fake(fakebase.RequestLog):
    def __init__(self, args):
        self.args = args
        self.verbose = args.verbose
        self.state = load_file(args.scenario, args.op_polls, args.op_seconds)
        self.tokens = {}              # token -> {"email", "expires", "scopes"}
        self.md_tokens = {}           # email -> token (the metadata server's cache)
        self.faults = []
        self.init_log(args.log)
        self.tmp = tempfile.mkdtemp(prefix="fakegcp-")
        self.pubkeys = {}             # email -> (key id, public key file)
        self.hook_failures = 0
        self.request_ids = {}         # (method, requestId) -> operation name
        self.refuse_filter = False    # POST /filter: routes.list takes no filter
        for email, sa in self.state.service_accounts.items():
            if sa.get("key_file"):
                self.load_key(email, sa["key_file"])

    def changed(self):
        """After a change (under State.lock, before the answer that shows
        it): --state-out and --on-change, so that a simulated network follows
        the cloud before the client learns of the change."""
        a = self.args
        if not a.state_out:
            return
        data = json.dumps(self.state.dump(), indent=1, sort_keys=True) + "\n"
        tmp = a.state_out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
        os.rename(tmp, a.state_out)
        if a.on_change:
            r = subprocess.run(a.on_change, shell=True, timeout=60, check=False,
                               env=dict(os.environ, FAKECLOUD_STATE=a.state_out))
            if r.returncode != 0:
                self.hook_failures += 1
                print("gcp.py: --on-change exited %d" % r.returncode, file=sys.stderr)

    def load_key(self, email, path):
        with open(path, encoding="utf-8") as f:
            k = json.load(f)
        pub = os.path.join(self.tmp, hashlib.sha256(email.encode()).hexdigest() + ".pem")
        r = subprocess.run(["openssl", "pkey", "-pubout", "-out", pub],
                           input=k["private_key"].encode(), capture_output=True, check=False)
        if r.returncode != 0:
            raise ScenarioError("%s: cannot derive the public key: %s" % (path, r.stderr))
        self.pubkeys[email] = (k.get("private_key_id", ""), pub)

    # ---- counts --------------------------------------------------------
    def counts(self):
        ents = self.log_since(0)
        c = {"total": len(ents), "compute": 0, "metadata": 0, "token": 0, "mutating": 0,
             "mutations_ok": 0, "by_method": {}, "by_status": {},
             "hook_failures": self.hook_failures}
        for e in ents:
            c[e["service"]] += 1
            m = e.get("method") or "?"
            c["by_method"][m] = c["by_method"].get(m, 0) + 1
            c["by_status"][str(e["status"])] = c["by_status"].get(str(e["status"]), 0) + 1
            if e.get("mutating"):
                c["mutating"] += 1
                c["mutations_ok"] += e["status"] == 200
        return c

    # ---- tokens --------------------------------------------------------
    def issue(self, email, scopes):
        tok = "ya29.fake-" + secrets.token_urlsafe(48)
        self.tokens[tok] = {"email": email, "expires": time.time() + self.args.token_lifetime,
                            "scopes": list(scopes)}
        return tok

    def metadata_token(self, inst):
        """The metadata server hands out its cached token while it has more
        than 5 minutes left, as the real one does."""
        email = inst["service_account"]
        with self.state.lock:
            tok = self.md_tokens.get(email)
            t = self.tokens.get(tok)
            if t is None or t["expires"] - time.time() < min(300, self.args.token_lifetime / 2):
                tok = self.issue(email, inst["scopes"])
                self.md_tokens[email] = tok
            return tok, int(self.tokens[tok]["expires"] - time.time())

    def bearer(self, headers):
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise ApiError(401, "required", "Login Required.")
        tok = auth[7:].strip()
        with self.state.lock:
            for k, t in self.tokens.items():
                if hmac.compare_digest(k, tok):
                    if t["expires"] <= time.time():
                        break
                    if not any(s in SCOPES_OK for s in t["scopes"]):
                        raise ApiError(403, "insufficientPermissions",
                                       "Request had insufficient authentication scopes.")
                    return t
        raise ApiError(401, "authError", "Request had invalid authentication credentials. "
                       "Expected OAuth 2 access token, login cookie or other valid "
                       "authentication credential.")

    def verify_jwt(self, assertion, audience):
        """-> email; raises ValueError with the reason."""
        parts = assertion.split(".")
        if len(parts) != 3:
            raise ValueError("assertion is not a compact JWS")

        def b64(s):
            if "=" in s or "+" in s or "/" in s:
                raise ValueError("not base64url without padding")
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        hdr, claims, sig = json.loads(b64(parts[0])), json.loads(b64(parts[1])), b64(parts[2])
        if hdr.get("alg") != "RS256" or hdr.get("typ", "JWT") != "JWT":
            raise ValueError("alg must be RS256")
        email = claims.get("iss")
        if email not in self.pubkeys:
            raise ValueError("Invalid JWT: unknown issuer")
        kid, pub = self.pubkeys[email]
        if hdr.get("kid") not in (None, kid):
            raise ValueError("Invalid JWT Signature (key id)")
        now = time.time()
        if claims.get("aud") != audience:
            raise ValueError("Invalid JWT: audience %r, expected %r" % (claims.get("aud"),
                                                                        audience))
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or abs(iat - now) > 300 or \
                exp <= now or exp - iat > 3600:
            raise ValueError("Invalid JWT: Token must be a short-lived token (60 minutes) and "
                             "in a reasonable timeframe")
        if not claims.get("scope"):
            raise ValueError("Invalid JWT: no scope")
        with tempfile.NamedTemporaryFile(dir=self.tmp) as sf:
            sf.write(sig)
            sf.flush()
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
                                sf.name], input=(parts[0] + "." + parts[1]).encode(),
                               capture_output=True, check=False)
        if r.returncode != 0:
            raise ValueError("Invalid JWT Signature.")
        return email, claims["scope"].split()

    # ---- faults --------------------------------------------------------
    def take_fault(self, method):
        return fakebase.take_listed(self.faults, self.state.lock, method)


def page_token(offset, flt):
    return base64.urlsafe_b64encode(json.dumps(
        {"o": offset, "f": hashlib.sha256(flt.encode()).hexdigest()[:16]}).encode()).decode()


def parse_page_token(tok, flt):
    try:
        d = json.loads(base64.urlsafe_b64decode(tok.encode()))
        if d["f"] == hashlib.sha256(flt.encode()).hexdigest()[:16] and d["o"] >= 0:
            return int(d["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(400, "invalid", "Invalid value for field 'pageToken': '%s'." % tok)


def route_method(verb, rest):
    """(method, args) for 'zones/z/instances/n' etc., or raises 404."""
    p = rest.split("/")
    table = [
        ("GET", ["zones", None, "instances", None], "instances.get"),
        ("PUT", ["zones", None, "instances", None], "instances.update"),
        ("GET", ["global", "routes"], "routes.list"),
        ("POST", ["global", "routes"], "routes.insert"),
        ("GET", ["global", "routes", None], "routes.get"),
        ("DELETE", ["global", "routes", None], "routes.delete"),
        ("GET", ["global", "operations", None], "globalOperations.get"),
        ("POST", ["global", "operations", None, "wait"], "globalOperations.wait"),
        ("GET", ["zones", None, "operations", None], "zoneOperations.get"),
        ("POST", ["zones", None, "operations", None, "wait"], "zoneOperations.wait"),
    ]
    for v, pat, m in table:
        if v == verb and len(pat) == len(p) and all(a is None or a == b for a, b in zip(pat, p)):
            return m, [b for a, b in zip(pat, p) if a is None]
    raise ApiError(404, "notFound", "The requested URL /%s was not found on this server."
                   % rest)


UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")


def call(app, method, args, q, body, user):
    """One method; a write repeated with the same requestId answers the
    first write's operation (as it is now) instead of running again."""
    st = app.state
    rid = q.get("requestId")
    if rid is not None and method in MUTATING:
        if not UUID_RE.match(rid) or rid.strip("0-") == "":
            raise ApiError(400, "invalid", "Invalid value for field 'requestId': '%s'. "
                           "The request ID must be a valid UUID" % rid)
        done = app.request_ids.get((method, rid))
        if done is not None:
            return dict(st.ops[done]["op"])
        res = call_one(app, method, args, q, body, user)
        app.request_ids[(method, rid)] = res["name"]
        return res
    return call_one(app, method, args, q, body, user)


def call_one(app, method, args, q, body, user):
    st = app.state
    if method == "instances.get":
        return st.instance_json(st.get_instance(*args))
    if method == "instances.update":
        mda = q.get("mostDisruptiveAllowedAction", "RESTART")
        if mda not in ("NO_EFFECT", "REFRESH", "RESTART"):
            raise ApiError(400, "invalid", "Invalid value for field "
                           "'mostDisruptiveAllowedAction': '%s'." % mda)
        return st.update_instance(args[0], args[1], body, user)
    if method == "routes.list":
        return list_page(app, q)
    if method == "routes.get":
        return st.get_route(args[0])
    if method == "routes.insert":
        return st.insert_route(body, user)
    if method == "routes.delete":
        return st.delete_route(args[0], user)
    if method.startswith("globalOperations"):
        return st.poll_op(args[0], None)
    return st.poll_op(args[1], args[0])


def list_page(app, q):
    from gcpstate import parse_filter
    flt = q.get("filter", "")
    try:
        mx = int(q.get("maxResults", "500"))
    except ValueError:
        mx = -1
    if not 0 <= mx <= 500:
        raise ApiError(400, "invalid", "Invalid value for field 'maxResults': '%s'. Must be "
                       "less than or equal to 500" % q.get("maxResults"))
    mx = min(mx or 500, app.args.max_page)
    if flt and app.refuse_filter:
        raise ApiError(400, "invalid", "Invalid value for field 'filter': '%s'." % flt)
    items = app.state.list_routes(parse_filter(flt) if flt else [])
    off = parse_page_token(q["pageToken"], flt) if q.get("pageToken") else 0
    out = {"kind": "compute#routeList", "id": "projects/%s/global/routes" % app.state.project,
           "items": items[off:off + mx],
           "selfLink": "https://www.googleapis.com/compute/v1/projects/%s/global/routes"
           % app.state.project}
    if not out["items"]:
        del out["items"]
    if off + mx < len(items):
        out["nextPageToken"] = page_token(off + mx, flt)
    return out


class Handler(fakebase.Handler):
    timeout = 60
    service = "compute"

    def answer(self, status, obj, ctype="application/json; charset=UTF-8", extra=()):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj, indent=1) + "\n").encode()
        self.send_body(status, data, ctype, extra)

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        if not n.isdigit() or int(n) > 1 << 20:
            raise ApiError(413, "badRequest", "Request too large")
        return self.rfile.read(int(n))


class ApiHandler(Handler):
    def do_any(self, verb):
        u = urlsplit(self.path)
        ent = {"service": "compute", "verb": verb, "path": u.path, "status": 0,
               "source": self.client_address[0]}
        try:
            body = self.read_body()
            if u.path == "/token" and verb == "POST":
                ent["service"], ent["method"] = "token", "token"
                return self.token(body, ent)
            pre = "/compute/v1/projects/%s/" % self.app.state.project
            if not u.path.startswith(pre):
                raise ApiError(404, "notFound", "The resource '%s' was not found" % u.path)
            method, args = route_method(verb, u.path[len(pre):])
            ent["method"], ent["mutating"] = method, method in MUTATING
            tok = self.app.bearer(self.headers)
            q = {}
            for k, v in parse_qsl(u.query, keep_blank_values=True):
                if k in q:
                    raise ApiError(400, "invalid", "Parameter %s given twice" % k)
                if k not in STD_PARAMS and k not in METHOD_PARAMS[method]:
                    raise ApiError(400, "badRequest", "Invalid JSON payload received. "
                                   "Unknown name \"%s\": Cannot bind query parameter." % k)
                q[k] = v
            obj = self.json_body(verb, method, body)
            f = self.app.take_fault(method)
            if f and self.fault(f, ent):
                return
            if PERMISSION[method] in self.app.state.deny.get(tok["email"], set()):
                raise ApiError(403, "forbidden", "Required '%s' permission for 'projects/%s'"
                               % (PERMISSION[method], self.app.state.project))
            with self.app.state.lock:
                res = call(self.app, method, args, q, obj, tok["email"])
            if f and f["kind"] == "lost":      # done, but the answer never arrives
                ent["status"], ent["fault"] = -1, "lost"
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            ent["status"] = 200
            self.answer(200, res)
        except ApiError as e:
            ent["status"], ent["reason"] = e.code, e.reason
            self.answer(e.code, e.body())
        finally:
            self.app.log_event(ent)

    def json_body(self, verb, method, body):
        if method in ("routes.insert", "instances.update"):
            ct = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ct != "application/json":
                raise ApiError(400, "parseError", "Content-Type must be application/json")
            try:
                return json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ApiError(400, "parseError", "Invalid JSON payload received. %s" % e)
        if body:
            raise ApiError(400, "badRequest", "The request body must be empty for %s" % method)
        return None

    def fault(self, f, ent):
        k = f["kind"]
        ent["fault"] = k
        extra = [("Retry-After", str(f["retry_after"]))] if f.get("retry_after") is not None \
            else []
        if k == "slow":
            time.sleep(f.get("delay_ms", 1000) / 1000.0)
            return False
        if k == "lost":       # handled after the method ran
            return False
        if k == "stale":      # someone else updated the instance meanwhile
            with self.app.state.lock:
                for inst in self.app.state.instances.values():
                    inst["fingerprint"] = "changed" + inst["fingerprint"][:5]
            return False
        if k == "drop":
            ent["status"] = -1
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if k == "garbage":
            ent["status"] = 200
            self.answer(200, b'{"kind": "compute#routeList", "items": [{"name": "cut')
            return True
        if k == "html":
            ent["status"] = f.get("status", 502)
            self.answer(ent["status"], b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                        "text/html; charset=UTF-8")
            return True
        e = {"429": ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded"),
             "ratelimit": ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded"),
             "503": ApiError(503, "backendError", "Backend Error"),
             # Another operation is changing the network (a 400 to retry).
             "notready": ApiError(400, "resourceNotReady", "The resource 'projects/%s/global/"
                                  "networks/%s' is not ready" % (self.app.state.project,
                                                                 "vpc")),
             "500": ApiError(500, "backendError", "Internal Error")}[k]
        ent["status"], ent["reason"] = e.code, e.reason
        self.answer(e.code, e.body(), extra=extra)
        return True

    def token(self, body, ent):
        try:
            form = dict(parse_qsl(body.decode("ascii"), strict_parsing=True))
            if (self.headers.get("Content-Type") or "").split(";")[0] != \
                    "application/x-www-form-urlencoded":
                raise ValueError("Content-Type must be application/x-www-form-urlencoded")
            if form.get("grant_type") != JWT_GRANT:
                raise ValueError("Invalid grant_type")
            aud = "https://%s/token" % self.headers.get("Host", "")
            email, scopes = self.app.verify_jwt(form.get("assertion", ""), aud)
        except (ValueError, UnicodeDecodeError, KeyError) as e:
            ent["status"] = 400
            return self.answer(400, {"error": "invalid_grant", "error_description": str(e)})
        f = self.app.take_fault("token")
        if f and self.fault(f, ent):
            return None
        with self.app.state.lock:
            tok = self.app.issue(email, scopes)
        ent["status"] = 200
        return self.answer(200, {"access_token": tok, "expires_in": self.app.args.token_lifetime,
                                 "token_type": "Bearer"})

    def do_GET(self):
        self.do_any("GET")

    def do_POST(self):
        self.do_any("POST")

    def do_PUT(self):
        self.do_any("PUT")

    def do_DELETE(self):
        self.do_any("DELETE")

    def do_PATCH(self):
        self.do_any("PATCH")


class MetadataHandler(Handler):
    instance = None       # (zone, name) or None: the instance owning the client address

    def md(self, text, status=200, ctype="application/text"):
        self.answer(status, text.encode() if isinstance(text, str) else text, ctype,
                    [("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM")])

    def do_GET(self):
        u = urlsplit(self.path)
        ent = {"service": "metadata", "method": "GET " + u.path, "status": 0,
               "source": self.client_address[0]}
        try:
            st = self.app.state
            if self.headers.get("Metadata-Flavor") != "Google" or \
                    self.headers.get("X-Forwarded-For"):
                ent["status"] = 403
                return self.md("Missing Metadata-Flavor:Google header.\n", 403, "text/html")
            with st.lock:
                inst = st.instances.get(self.instance) if self.instance else next(
                    (i for i in st.instances.values() if i["ip"] == self.client_address[0]),
                    None)
            if inst is None or not u.path.startswith("/computeMetadata/v1/"):
                ent["status"] = 404
                return self.md("Not Found\n", 404, "text/html")
            val = self.lookup(inst, u.path[len("/computeMetadata/v1/"):])
            if val is None:
                ent["status"] = 404
                return self.md("Not Found\n", 404, "text/html")
            ent["status"] = 200
            if isinstance(val, dict):
                return self.md(json.dumps(val), ctype="application/json")
            return self.md(val)
        finally:
            self.app.log_event(ent)

    def lookup(self, inst, p):
        st = self.app.state
        sa = inst["service_account"]
        nic = "instance/network-interfaces/0/"
        vals = {
            "project/project-id": st.project, "project/numeric-project-id": st.number,
            "instance/id": inst["id"], "instance/name": inst["name"],
            "instance/hostname": "%s.%s.c.%s.internal" % (inst["name"], inst["zone"], st.project),
            "instance/zone": "projects/%s/zones/%s" % (st.number, inst["zone"]),
            "instance/network-interfaces/": "0/\n",
            nic + "ip": inst["ip"], nic + "network": "projects/%s/networks/%s" % (
                st.number, inst["network"]),
            nic + "mac": "42:01:0a:00:00:0a", nic + "subnetmask": "255.255.192.0",
            nic + "gateway": "10.0.0.1",
        }
        if inst["external_ip"]:
            vals[nic + "access-configs/0/external-ip"] = inst["external_ip"]
            vals[nic + "access-configs/0/type"] = "ONE_TO_ONE_NAT"
        if sa:
            vals["instance/service-accounts/"] = "default/\n%s/\n" % sa
            for who in ("default", sa):
                vals["instance/service-accounts/%s/email" % who] = sa
                vals["instance/service-accounts/%s/scopes" % who] = "\n".join(inst["scopes"])
                vals["instance/service-accounts/%s/" % who] = "aliases\nemail\nscopes\ntoken\n"
            if p in ("instance/service-accounts/default/token",
                     "instance/service-accounts/%s/token" % sa):
                tok, left = self.app.metadata_token(inst)
                return {"access_token": tok, "expires_in": left, "token_type": "Bearer"}
        return vals.get(p)


FAULT_KINDS = ("429", "ratelimit", "503", "500", "garbage", "html", "drop", "slow", "stale",
               "lost", "notready")


class ControlHandler(fakebase.ControlHandler):
    api_errors = (ApiError, StopIteration)

    def state(self):
        return self.app.state.dump()

    def counts(self):
        return self.app.counts()

    def pending_faults(self):
        return list(self.app.faults)

    def add_fault(self, b):
        if b.get("kind") not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r" % b.get("kind"))
        f = dict(b, count=int(b.get("count", 1)))
        self.app.faults.append(f)
        return f

    def clear_faults(self):
        self.app.faults = []

    def post_lock(self):
        return self.app.state.lock

    def api_error(self, e):
        if isinstance(e, ApiError):
            return e.code, e.body()
        return 400, {"error": str(e)}

    def route(self, path, b):
        app, st = self.app, self.app.state
        if path == "/instance":
            inst = next(i for i in st.instances.values() if i["name"] == b["name"])
            for k in ("status", "can_ip_forward", "deleted"):
                if k in b:
                    inst[k] = b[k]
            st.changed()
        elif path == "/mutate":
            self.mutate(b)
        elif path == "/expire-tokens":
            for t in app.tokens.values():
                t["expires"] = time.time() - 1
        elif path == "/filter":
            app.refuse_filter = bool(b.get("refuse"))
        elif path == "/quota":
            st.route_quota = int(b["routes"])
        elif path == "/org-policy":
            st.deny_ip_forward = bool(b.get("deny_ip_forward"))
        elif path == "/deny":
            st.deny[b["email"]] = set(b.get("permissions", []))
        else:
            return 404, {"error": "no such control path"}
        return 200, {"ok": True}

    def mutate(self, b):
        """Changes the world as the cloud itself (no auth, not logged), at once."""
        st = self.app.state
        if b["method"] == "routes.insert":
            body = dict(b["body"])
            if "next_hop_instance" in body:
                body["nextHopInstance"] = st.inst_url(body.pop("next_hop_instance"))
            body.setdefault("network", st.net_url(next(iter(st.networks))))
            op = st.insert_route(body, "control")
        elif b["method"] == "routes.delete":
            op = st.delete_route(b["name"], "control")
        else:
            raise ValueError("unknown method %r" % b["method"])
        st.finish(st.ops[op["name"]])
        if "error" in st.ops[op["name"]]["op"]:
            raise ValueError(json.dumps(st.ops[op["name"]]["op"]["error"]))


def main(argv):
    ap = fakebase.arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--metadata", action="append", default=[])
    ap.add_argument("--token-lifetime", type=int, default=3599)
    ap.add_argument("--op-polls", type=int, default=2)
    ap.add_argument("--op-seconds", type=float, default=5.0)
    ap.add_argument("--max-page", type=int, default=500)
    ap.add_argument("--no-route-warnings", action="store_true",
                    help="route lists carry no next-hop warnings")
    ap.add_argument("--state-out", help="state JSON, rewritten after every change")
    ap.add_argument("--on-change", help="sh -c CMD after every change ($FAKECLOUD_STATE)")
    args = ap.parse_args(argv)
    try:
        app = Fake(args)
    except (ScenarioError, OSError, KeyError) as e:
        print("gcp.py: bad scenario: %s" % e, file=sys.stderr)
        return 78
    servers, ready = [], {"pid": os.getpid(), "metadata": []}
    app.state.on_change = app.changed
    app.state.route_warnings = not args.no_route_warnings
    with app.state.lock:
        app.changed()                 # the initial state, before anyone asks

    def serve(handler, a, tls=None, **attrs):
        return listen(servers, a, type(handler.__name__, (handler,), dict(attrs, app=app)),
                      tls)
    try:
        if args.api:
            ready["api"] = serve(ApiHandler, args.api, tls_context(args.cert, args.key))
        for m in args.metadata:
            a, _, who = m.partition("=")
            inst = None
            if who:
                z, _, n = who.rpartition("/")
                inst = next(((i["zone"], i["name"]) for i in app.state.instances.values()
                             if i["name"] == n and (not z or i["zone"] == z)), None)
                if inst is None:
                    raise ValueError("no instance %s" % who)
            ready["metadata"].append(dict(serve(MetadataHandler, addr(a), instance=inst),
                                          instance=who))
        if args.control:
            ready["control"] = serve(ControlHandler, args.control)
    except (OSError, ValueError, ssl.SSLError) as e:
        print("gcp.py: %s" % e, file=sys.stderr)
        return 1
    fakebase.run(servers, ready, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
