#!/usr/bin/python3
"""Fake AWS EC2 Query API (HTTPS) + IMDSv2 (HTTP) + control endpoint, for
cloudroute's tests.  Standard library only.  See README.md for the command
line, the scenario format and the control API.

Request path of the EC2 listener, in this order:
  size check -> form/query parameters -> SigV4 verification (every request:
  sigv4.verify re-derives the signature from what was received) -> key
  expiry and session token -> Action/Version/parameter check -> faults ->
  IAM stand-in (deny lists) -> operation under State.lock -> change hooks
  (before the answer is sent, so a test sees the network already changed)
  -> answer -> request log.
"""

import datetime as dt
import hmac
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qsl

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import control  # noqa: E402
import ec2ops  # noqa: E402
import imds  # noqa: E402
from fakebase import (Handler, RequestLog, arg_parser, listen, listener_spec,  # noqa: E402
                      run, tls_context)
import sigv4  # noqa: E402
from faults import Faults  # noqa: E402
from state import ScenarioError, load_file, write_atomic  # noqa: E402

SECRET_PARAMS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")


class Fake(RequestLog):
    """Everything the handlers share."""

    def __init__(self, args):
        self.state = load_file(args.scenario, args.cred_lifetime)
        if args.region:
            self.state.region = args.region
        self.args = args
        self.verbose = args.verbose
        self.tokens = imds.TokenStore()
        self.faults = Faults()
        self.hook_lock = threading.Lock()
        self.hook_failures = 0
        self.init_log(args.log, reset_mark=True)

    def log_snapshot(self, since):
        ents = self.log_since(0)
        c = {"total": 0, "ec2": 0, "imds": 0, "mutating": 0, "mutations_ok": 0,
             "by_action": {}, "by_code": {}, "hook_failures": self.hook_failures}
        for e in ents:
            c["total"] += 1
            c[e["service"]] += 1
            if e["service"] != "ec2":
                continue
            a = e.get("action") or "?"
            c["by_action"][a] = c["by_action"].get(a, 0) + 1
            if e.get("code"):
                c["by_code"][e["code"]] = c["by_code"].get(e["code"], 0) + 1
            if e.get("mutating"):
                c["mutating"] += 1
                if e["status"] == 200:
                    c["mutations_ok"] += 1
        return {"entries": [e for e in ents if e["seq"] > since], "counts": c}

    # ---- change hooks --------------------------------------------------
    def changed(self):
        """After a mutation: --state-out and --on-change.  The dump is taken
        inside hook_lock, so the last hook to run always sees the latest
        state, whatever the order of concurrent mutations."""
        a = self.args
        if not a.state_out and not a.on_change:
            return
        with self.hook_lock:
            data = json.dumps(self.state.dump(), indent=1, sort_keys=True) + "\n"
            path = a.state_out
            if path:
                write_atomic(path, data)
            if not a.on_change:
                return
            if not path:
                fd, path = tempfile.mkstemp(prefix="fakecloud-state-", suffix=".json")
                with os.fdopen(fd, "w") as f:
                    f.write(data)
            try:
                r = subprocess.run(a.on_change, shell=True, timeout=60,
                                   env=dict(os.environ, FAKECLOUD_STATE=path))
                if r.returncode != 0:
                    self.hook_failures += 1
                    print("fakecloud: --on-change exited %d" % r.returncode,
                          file=sys.stderr)
            except subprocess.TimeoutExpired:
                self.hook_failures += 1
                print("fakecloud: --on-change timed out", file=sys.stderr)
            finally:
                if not a.state_out:
                    os.unlink(path)

    # ---- authentication ------------------------------------------------
    def authenticate(self, method, path, query, headers, body):
        """-> key record; raises sigv4.AuthError."""
        st = self.state
        with st.lock:
            def secret_of(akid):
                k = st.keys.get(akid)
                return k["secret"] if k else None
            now = dt.datetime.fromtimestamp(st.now(), dt.timezone.utc)
            akid = sigv4.verify(method, path, query, headers, body, secret_of,
                                st.region, "ec2", now, self.args.clock_skew)
            key = st.keys[akid]
            tok = [v for (n, v) in headers if n.lower() == "x-amz-security-token"]
            signed = sigv4.parse_authorization(
                [v for (n, v) in headers if n.lower() == "authorization"][0]
            )["SignedHeaders"].split(";")
            if key["token"]:
                if len(tok) != 1 or not hmac.compare_digest(tok[0], key["token"]):
                    raise sigv4.AuthError("AuthFailure", 401,
                                          "The security token included in the "
                                          "request is invalid")
                if "x-amz-security-token" not in signed:
                    raise sigv4.AuthError("AuthFailure", 401,
                                          "X-Amz-Security-Token must be signed")
            elif tok:
                raise sigv4.AuthError("AuthFailure", 401,
                                      "The security token included in the "
                                      "request is invalid")
            if key["expires"] is not None and key["expires"] <= st.now():
                raise sigv4.AuthError("ExpiredToken", 403,
                                      "The security token included in the "
                                      "request is expired")
            return key


def parse_params(query, body, content_type):
    """Query string and form body -> dict; a name given twice is an error."""
    pairs = []
    try:
        pairs += parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                           errors="strict")
        if body:
            ct = (content_type or "").split(";")[0].strip().lower()
            if ct != "application/x-www-form-urlencoded":
                raise ec2ops.ApiError("InvalidParameterValue",
                                      "Content-Type must be application/"
                                      "x-www-form-urlencoded, not '%s'" % ct)
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                               errors="strict")
    except (UnicodeDecodeError, ValueError) as e:
        raise ec2ops.ApiError("MalformedQueryString", "malformed parameters: %s" % e)
    params = {}
    for k, v in pairs:
        if k in params:
            raise ec2ops.ApiError("InvalidParameterValue",
                                  "The parameter %s is given more than once" % k)
        params[k] = v
    return params


def make_api_handler(app):

    class ApiHandler(Handler):
        server_version = "AmazonEC2"
        sys_version = ""

        def setup(self):
            # TLS handshake here, in the request's thread, with a timeout:
            # a stuck client must not block the accept loop.
            self.request.settimeout(10)
            self.request.do_handshake()
            Handler.setup(self)

        def send(self, status, body, ctype="text/xml;charset=UTF-8", extra=()):
            self.send_body(status, body, ctype, extra)

        def do_GET(self):
            self.handle_api()

        def do_POST(self):
            self.handle_api()

        def read_body(self):
            if self.command == "GET":
                return b""
            n = self.headers.get("Content-Length")
            if n is None or not n.isdigit():
                raise ec2ops.ApiError("MissingParameter",
                                      "Content-Length is required", 411)
            if int(n) > app.args.max_body:
                self.close_connection = True
                raise ec2ops.ApiError("RequestEntityTooLarge",
                                      "Request body larger than %d bytes"
                                      % app.args.max_body, 413)
            return self.rfile.read(int(n))

        def handle_api(self):
            rid = str(uuid.uuid4())
            ent = {"service": "ec2", "action": None, "params": {}, "key": None,
                   "source": self.client_address[0], "mutating": False,
                   "received": round(time.time(), 3)}
            try:
                status, body, extra = self.process(rid, ent)
            except (sigv4.AuthError, ec2ops.ApiError) as e:
                status, body, extra = e.status, ec2ops.error_xml(
                    e.code, e.message, rid), ()
                ent["code"] = e.code
            except Exception:           # a bug in the fake: say so loudly
                traceback.print_exc()
                status, body, extra = 500, ec2ops.error_xml(
                    "InternalError", "fake cloud bug, see its stderr", rid), ()
                ent["code"] = "FakeBug"
            ent["status"] = status
            if status is None:          # "drop" fault
                self.close_connection = True
            elif isinstance(body, tuple):   # fault with its own content type
                self.send(status, body[1], body[0], extra)
            else:
                self.send(status, body, extra=extra)
            app.log_event(ent)

        def process(self, rid, ent):
            body = self.read_body()
            path, _, query = self.path.partition("?")
            params = parse_params(query, body, self.headers.get("Content-Type"))
            ent["action"] = params.get("Action")
            ent["params"] = {k: v for k, v in params.items()
                             if k not in SECRET_PARAMS and k not in ("Action", "Version")}
            ent["mutating"] = ent["action"] in ec2ops.MUTATING
            if path != "/":
                raise ec2ops.ApiError("InvalidAction", "no such path %s" % path, 404)
            key = app.authenticate(self.command, path, query,
                                   list(self.headers.items()), body)
            ent["key"] = key["id"]
            action = ec2ops.check_request(params)
            delay, fault = app.faults.take(action)
            if delay:
                time.sleep(delay / 1000.0)
            if fault and fault["kind"] == "hang":
                ent["fault"] = "hang"
                time.sleep(300)        # the client gives up first
                return None, b"", ()
            if fault and fault["kind"] == "race":
                ent["fault"] = "race"
                answer = self.run(action, params, key, rid)
                self.race(fault["mutate"])
                return 200, answer, ()
            if fault:
                ent["fault"] = fault["kind"]
                if fault["apply"]:
                    self.run(action, params, key, rid)
                return self.fault_answer(fault, action, rid, ent)
            return 200, self.run(action, params, key, rid), ()

        def run(self, action, params, key, rid):
            st = app.state
            with st.lock:
                v0 = st.version
                try:
                    nodes = ec2ops.dispatch(st, action, params, key)
                finally:
                    changed = st.version != v0
            if changed:
                app.changed()
            return ec2ops.response_xml(action, rid, nodes)

        def race(self, spec):
            st = app.state
            with st.lock:
                v0 = st.version
                try:
                    ec2ops.control_call(st, spec)
                except ec2ops.ApiError as e:
                    print("fakecloud: race mutation failed: %s %s" % (e.code, e.message),
                          file=sys.stderr)
                changed = st.version != v0
            if changed:
                app.changed()

        def fault_answer(self, f, action, rid, ent):
            extra = [("Retry-After", str(f["retry_after"]))] if f["retry_after"] else []
            k = f["kind"]
            if k == "throttle":
                ent["code"] = "RequestLimitExceeded"
                return 503, ec2ops.error_xml("RequestLimitExceeded",
                                             "Request limit exceeded.", rid), extra
            if k == "error500":
                ent["code"] = "InternalError"
                return 500, ec2ops.error_xml("InternalError",
                                             "An internal error has occurred", rid), extra
            if k == "malformed":
                whole = ec2ops.response_xml(action, rid, [("return", True)]) \
                    if action in ec2ops.MUTATING else \
                    ec2ops.response_xml(action, rid, [("routeTableSet", [
                        ("item", [("routeTableId", "rtb-0cut0ff")])])])
                return 200, whole[:len(whole) * 2 // 3], ()
            if k == "html":
                st = f["status"]
                page = ("<html>\r\n<head><title>%d Bad Gateway</title></head>\r\n"
                        "<body>\r\n<center><h1>%d Bad Gateway</h1></center>\r\n"
                        "</body>\r\n</html>\r\n" % (st, st))
                return st, ("text/html", page), extra
            return None, None, ()          # drop

    ApiHandler.app = app
    return ApiHandler


def parse_args(argv):
    p = arg_parser("fake EC2 API + IMDSv2 for tests", "EC2 API HTTPS listener ADDR:PORT")
    p.add_argument("--imds", type=listener_spec, action="append", default=[],
                   metavar="ADDR:PORT[=INSTANCE_ID]",
                   help="IMDS listener; without an instance id the client's "
                        "source address picks the instance (repeatable)")
    p.add_argument("--region", help="override the scenario's region")
    p.add_argument("--cred-lifetime", type=int, metavar="SECONDS",
                   help="lifetime of role credentials issued by IMDS")
    p.add_argument("--clock-skew", type=int, default=300, metavar="SECONDS",
                   help="accepted X-Amz-Date skew (default 300)")
    p.add_argument("--state-out", help="write the state JSON here after every change")
    p.add_argument("--on-change", metavar="CMD",
                   help="shell command run after every change, with "
                        "FAKECLOUD_STATE naming the state JSON file")
    p.add_argument("--max-body", type=int, default=65536)
    a = p.parse_args(argv)
    if a.api and not (a.cert and a.key):
        p.error("--api needs --cert and --key")
    if not (a.api or a.imds or a.control):
        p.error("nothing to listen on: give --api, --imds or --control")
    return a


def main(argv):
    args = parse_args(argv)
    try:
        app = Fake(args)
    except (ScenarioError, OSError, ValueError) as e:
        print("fakecloud: %s" % e, file=sys.stderr)
        return 78
    servers, ready = [], {"pid": os.getpid(), "imds": []}
    try:
        if args.api:
            ready["api"] = listen(servers, args.api, make_api_handler(app),
                                  tls_context(args.cert, args.key))
        for n, (addr, inst) in enumerate(args.imds):
            if inst and inst not in app.state.instances:
                raise ValueError("--imds: unknown instance %s" % inst)
            ready["imds"].append(dict(listen(servers, addr, imds.make_handler(
                app, "imds%d" % n, inst)), instance=inst))
        if args.control:
            ready["control"] = listen(servers, args.control, control.make_handler(app))
    except (OSError, ValueError, ssl.SSLError) as e:
        print("fakecloud: %s" % e, file=sys.stderr)
        for s in servers:
            s.server_close()
        return 1
    # app.changed(): the initial state for --state-out/--on-change
    run(servers, ready, args.ready_file, app.changed, "fakecloud")
    if app.log_file:
        app.log_file.close()
    print("fakecloud: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
