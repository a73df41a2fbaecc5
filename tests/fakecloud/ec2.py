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

import argparse
import datetime as dt
import hmac
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import control  # noqa: E402
import ec2ops  # noqa: E402
import imds  # noqa: E402
import sigv4  # noqa: E402
from faults import Faults  # noqa: E402
from state import ScenarioError, load_file, write_atomic  # noqa: E402

SECRET_PARAMS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")


class Fake:
    """Everything the handlers share."""

    def __init__(self, args):
        self.state = load_file(args.scenario, args.cred_lifetime)
        if args.region:
            self.state.region = args.region
        self.args = args
        self.verbose = args.verbose
        self.tokens = imds.TokenStore()
        self.faults = Faults()
        self.log_lock = threading.Lock()
        self.hook_lock = threading.Lock()
        self.entries = []
        self.seq = 0
        self.hook_failures = 0
        self.log_file = open(args.log, "a", encoding="utf-8") if args.log else None

    # ---- request log ---------------------------------------------------
    def log_event(self, ent):
        with self.log_lock:
            self.seq += 1
            ent = dict(ent, seq=self.seq, time=round(time.time(), 3))
            self.entries.append(ent)
            if len(self.entries) > 100000:
                del self.entries[:10000]
            if self.log_file:
                self.log_file.write(json.dumps(ent, sort_keys=True,
                                               separators=(",", ":")) + "\n")
                self.log_file.flush()

    def reset_log(self):
        with self.log_lock:
            self.entries = []
            if self.log_file:
                self.log_file.write('{"event":"reset"}\n')
                self.log_file.flush()

    def log_snapshot(self, since):
        with self.log_lock:
            ents = [dict(e) for e in self.entries]
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

    class ApiHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "AmazonEC2"
        sys_version = ""
        timeout = 30

        def setup(self):
            # TLS handshake here, in the request's thread, with a timeout:
            # a stuck client must not block the accept loop.
            self.request.settimeout(10)
            self.request.do_handshake()
            BaseHTTPRequestHandler.setup(self)

        def log_message(self, fmt, *args):
            if app.verbose:
                BaseHTTPRequestHandler.log_message(self, fmt, *args)

        def send(self, status, body, ctype="text/xml;charset=UTF-8", extra=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

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

    return ApiHandler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, tls=None):
        host = addr[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(addr, handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout)):
            return                      # bad client, not our bug
        super().handle_error(request, client_address)


def host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected ADDR:PORT, got '%s'" % text)
    return host.strip("[]"), int(port)


def imds_spec(text):
    addr, _, inst = text.partition("=")
    return host_port(addr), inst or None


def parse_args(argv):
    p = argparse.ArgumentParser(description="fake EC2 API + IMDSv2 for tests")
    p.add_argument("--scenario", required=True, help="scenario JSON file")
    p.add_argument("--api", type=host_port, help="EC2 API HTTPS listener ADDR:PORT")
    p.add_argument("--cert", help="server certificate (PEM) for --api")
    p.add_argument("--key", help="server private key (PEM) for --api")
    p.add_argument("--imds", type=imds_spec, action="append", default=[],
                   metavar="ADDR:PORT[=INSTANCE_ID]",
                   help="IMDS listener; without an instance id the client's "
                        "source address picks the instance (repeatable)")
    p.add_argument("--control", type=host_port, help="control listener ADDR:PORT")
    p.add_argument("--region", help="override the scenario's region")
    p.add_argument("--cred-lifetime", type=int, metavar="SECONDS",
                   help="lifetime of role credentials issued by IMDS")
    p.add_argument("--clock-skew", type=int, default=300, metavar="SECONDS",
                   help="accepted X-Amz-Date skew (default 300)")
    p.add_argument("--log", help="append the request log here as JSON lines")
    p.add_argument("--state-out", help="write the state JSON here after every change")
    p.add_argument("--on-change", metavar="CMD",
                   help="shell command run after every change, with "
                        "FAKECLOUD_STATE naming the state JSON file")
    p.add_argument("--ready-file", help="written (JSON with the bound ports) "
                   "once every listener is up")
    p.add_argument("--max-body", type=int, default=65536)
    p.add_argument("--verbose", "-v", action="store_true")
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
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(args.cert, args.key)
            s = Server(args.api, make_api_handler(app), tls)
            servers.append(s)
            ready["api"] = {"addr": args.api[0], "port": s.server_address[1]}
        for n, (addr, inst) in enumerate(args.imds):
            if inst and inst not in app.state.instances:
                raise ValueError("--imds: unknown instance %s" % inst)
            s = Server(addr, imds.make_handler(app, "imds%d" % n, inst))
            servers.append(s)
            ready["imds"].append({"addr": addr[0], "port": s.server_address[1],
                                  "instance": inst})
        if args.control:
            s = Server(args.control, control.make_handler(app))
            servers.append(s)
            ready["control"] = {"addr": args.control[0], "port": s.server_address[1]}
    except (OSError, ValueError, ssl.SSLError) as e:
        print("fakecloud: %s" % e, file=sys.stderr)
        for s in servers:
            s.server_close()
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                daemon=True) for s in servers]
    for t in threads:
        t.start()
    app.changed()                   # initial state for --state-out/--on-change
    if args.ready_file:
        write_atomic(args.ready_file, json.dumps(ready) + "\n")
    print("fakecloud: ready %s" % json.dumps(ready), file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    if app.log_file:
        app.log_file.close()
    print("fakecloud: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
