"""What every fake cloud server of tests/fakecloud shares: the threaded
listener (TLS handshake in the request's thread, IPv4 or IPv6), ADDR:PORT
arguments, the TLS context from mkca.sh's certificates, the request log
(memory plus an optional JSON-lines file), the JSON control endpoint
(GET /health /state /counts /log /faults, POST /reset /fault /faults/clear
and whatever a fake adds) and the main loop (ready file, SIGTERM, shutdown).

Only the plumbing lives here: what a fake checks on its cloud API (auth,
versions, fields) stays in that fake.
"""

import argparse
import contextlib
import json
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from state import write_atomic

MAX_CONTROL_BODY = 65536


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


def arg_parser(description, api="the cloud API's HTTPS listener ADDR:PORT"):
    """The options every fake has; a fake adds its own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scenario", required=True, help="scenario JSON file")
    p.add_argument("--api", type=host_port, help=api)
    p.add_argument("--cert", help="server certificate (PEM) of the HTTPS listeners")
    p.add_argument("--key", help="server private key (PEM) of the HTTPS listeners")
    p.add_argument("--control", type=host_port, help="control listener ADDR:PORT")
    p.add_argument("--log", help="append the request log here as JSON lines")
    p.add_argument("--ready-file", help="written (JSON with the bound ports) "
                   "once every listener is up")
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def listener_spec(text):
    """ADDR:PORT[=NAME] of a metadata listener -> ((addr, port), NAME or None)."""
    addr, _, name = text.partition("=")
    return host_port(addr), name or None


def take_listed(faults, lock, method, path=None):
    """For the fakes that keep their faults as a list of dicts: the first
    with a count left (-1: forever) whose "methods" (and, when path is
    given, "paths" substrings) match; its count goes down."""
    with lock:
        for f in faults:
            if f["count"] == 0 or (f.get("methods") and method not in f["methods"]):
                continue
            if path is not None and f.get("paths") and not any(p in path for p in f["paths"]):
                continue
            if f["count"] > 0:
                f["count"] -= 1
            return dict(f)
    return None


def tls_context(cert, key):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(cert, key)
    return tls


def listen(servers, addr, handler, tls=None):
    """A Server on addr, appended to servers; -> its {"addr", "port"}."""
    s = Server(addr, handler, tls)
    servers.append(s)
    return {"addr": addr[0], "port": s.server_address[1]}


def run(servers, ready, ready_file, started=None, name=None):
    """Serves until SIGTERM/SIGINT: threads, then started(), then the
    ready file (and "NAME: ready {...}" on stderr when name is given)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    if started:
        started()
    if ready_file:
        write_atomic(ready_file, json.dumps(ready) + "\n")
    if name:
        print("%s: ready %s" % (name, json.dumps(ready)), file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()


class RequestLog:
    """The request log of a fake: log_lock guards entries; seq only grows."""

    def init_log(self, path, reset_mark=False):
        self.log_lock = threading.Lock()
        self.entries, self.seq = [], 0
        self.reset_mark = reset_mark
        self.log_file = open(path, "a", encoding="utf-8") if path else None

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
            if self.log_file and self.reset_mark:
                self.log_file.write('{"event":"reset"}\n')
                self.log_file.flush()

    def log_since(self, since=0):
        with self.log_lock:
            return [dict(e) for e in self.entries if e["seq"] > since]


class Handler(BaseHTTPRequestHandler):
    """Base of every listener: HTTP/1.1, a timeout, the access log only with
    --verbose (`app.verbose`; `app` is set by the subclass), JSON answers."""
    protocol_version = "HTTP/1.1"
    timeout = 30
    app = None

    def log_message(self, fmt, *args):
        if getattr(self.app, "verbose", False):
            BaseHTTPRequestHandler.log_message(self, fmt, *args)

    def send_body(self, status, data, ctype, extra=()):
        """One answer: data (bytes or str), its type, then extra headers."""
        data = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj):
        self.send_body(status, json.dumps(obj, indent=1, sort_keys=True) + "\n",
                       "application/json")

    def body_bytes(self, cap):
        """The body (b"" without one), or None: Content-Length bad or over cap."""
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if not 0 <= n <= cap:
            return None
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.body_bytes(MAX_CONTROL_BODY)
        if raw is None:
            self.close_connection = True
            raise ValueError("body missing or too large")
        obj = json.loads(raw or b"{}")
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        return obj


class ControlHandler(Handler):
    """The control endpoint.  A fake's subclass gives state() and counts(),
    reset()/add_fault()/clear_faults() where its faults are not a
    faults.Faults, extra GET paths in get_extra(), and its own POST paths
    in route(path, req) -> (status, reply)."""
    api_errors = ()             # the fake's ApiError: its status and body

    def state(self):
        raise NotImplementedError

    def counts(self):
        raise NotImplementedError

    def version(self):
        return self.app.state.version

    def log_reply(self, since):
        return {"entries": self.app.log_since(since)}

    def get_extra(self, path, q):
        return None

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        if u.path == "/health":
            v = self.version()
            return self.send_json(200, {"ok": True} if v is None else
                                  {"ok": True, "version": v})
        if u.path == "/state":
            return self.send_json(200, self.state())
        if u.path == "/counts":
            return self.send_json(200, {"counts": self.counts()})
        if u.path == "/log":
            return self.send_json(200, self.log_reply(int(q.get("since", ["0"])[0])))
        if u.path == "/faults":
            return self.send_json(200, {"faults": self.pending_faults()})
        reply = self.get_extra(u.path, q)
        if reply is not None:
            return self.send_json(200, reply)
        self.send_json(404, {"error": "no such endpoint %s" % u.path})

    # faults.Faults by default; fakes that keep a list of their own override
    def pending_faults(self):
        return self.app.faults.pending()

    def add_fault(self, req):
        return self.app.faults.add(req)

    def clear_faults(self):
        self.app.faults.clear()

    def reset(self):
        self.app.reset_log()
        self.clear_faults()

    def post_lock(self):
        return contextlib.nullcontext()

    def posted(self, status):
        """Called with a POST's status before its answer is sent."""

    def do_POST(self):
        try:
            req = self.json_body()
            with self.post_lock():
                status, reply = self.common_route(urlsplit(self.path).path, req)
        except self.api_errors as e:
            status, reply = self.api_error(e)
        except (ValueError, KeyError, TypeError) as e:
            status, reply = 400, {"error": "%s: %s" % (type(e).__name__, e)}
        self.posted(status)
        self.send_json(status, reply)

    def api_error(self, e):
        """-> (status, reply) for one of api_errors."""
        return e.status, {"error": e.code, "message": e.message}

    def common_route(self, path, req):
        if path == "/reset":
            self.reset()
            return 200, {"ok": True}
        if path == "/fault":
            return 200, {"ok": True, "fault": self.add_fault(req)}
        if path == "/faults/clear":
            self.clear_faults()
            return 200, {"ok": True}
        return self.route(path, req)

    def route(self, path, req):
        return 404, {"error": "no such endpoint %s" % path}
