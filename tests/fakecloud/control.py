"""Control endpoint of the fake cloud: plain HTTP + JSON on a loopback port,
for tests only (no authentication).  Requests and replies are JSON objects.

  GET  /health                   {"ok": true, "version": N}
  GET  /state                    full state dump (as --state-out writes it)
  GET  /log?since=SEQ            {"entries": [...], "counts": {...}}
  GET  /counts                   {"counts": {...}}
  POST /reset                    clear request log, counters and faults
  GET  /faults                   pending faults
  POST /fault                    {"kind": "throttle"|"error500"|"malformed"|
                                  "html"|"slow"|"drop", "count": N (-1 = until
                                  cleared), "actions": [..] (default all),
                                  "delay_ms": MS (slow), "status": CODE (html),
                                  "retry_after": S, "apply": bool}
  POST /faults/clear
  POST /terminate                {"instance_id": "i-..."}: ENIs deleted,
                                  routes to them become blackhole
  POST /expire-credentials       {"instance_id": optional}: temporary keys
                                  expire now; IMDS then issues fresh ones
  POST /deny                     {"role": R | "access_key_id": K,
                                  "actions": [..]} replaces that deny list
  POST /mutate                   {"action": "CreateRoute", "params": {...}}
                                  runs an EC2 operation as the cloud itself
                                  (no auth, no IAM, not in the request log)
"""

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import ec2ops
from faults import KINDS

MAX_BODY = 65536


def make_handler(app):

    class ControlHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def log_message(self, fmt, *args):
            if app.verbose:
                BaseHTTPRequestHandler.log_message(self, fmt, *args)

        def send_json(self, status, obj):
            data = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            try:
                n = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_BODY:
                self.close_connection = True
                raise ValueError("body missing or too large")
            raw = self.rfile.read(n) if n else b"{}"
            obj = json.loads(raw or b"{}")
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object")
            return obj

        def do_GET(self):
            u = urlsplit(self.path)
            q = parse_qs(u.query)
            if u.path == "/health":
                return self.send_json(200, {"ok": True,
                                            "version": app.state.version})
            if u.path == "/state":
                return self.send_json(200, app.state.dump())
            if u.path == "/log":
                since = int(q.get("since", ["0"])[0])
                return self.send_json(200, app.log_snapshot(since))
            if u.path == "/counts":
                return self.send_json(200, {"counts": app.log_snapshot(0)["counts"]})
            if u.path == "/faults":
                return self.send_json(200, {"faults": app.faults.pending()})
            self.send_json(404, {"error": "no such endpoint %s" % u.path})

        def do_POST(self):
            try:
                req = self.body()
                status, reply = self.route(urlsplit(self.path).path, req)
            except (ValueError, KeyError, TypeError) as e:
                status, reply = 400, {"error": "%s: %s" % (type(e).__name__, e)}
            self.send_json(status, reply)

        def route(self, path, req):
            st = app.state
            if path == "/reset":
                app.reset_log()
                app.faults.clear()
                return 200, {"ok": True}
            if path == "/fault":
                if req.get("kind") not in KINDS:
                    raise ValueError("kind must be one of %s" % ", ".join(KINDS))
                return 200, {"ok": True, "fault": app.faults.add(req)}
            if path == "/faults/clear":
                app.faults.clear()
                return 200, {"ok": True}
            if path == "/terminate":
                iid = req["instance_id"]
                with st.lock:
                    if iid not in st.instances:
                        return 404, {"error": "no instance %s" % iid}
                    prev = st.terminate(iid)
                app.changed()
                return 200, {"ok": True, "previous_state": prev}
            if path == "/expire-credentials":
                with st.lock:
                    n = st.expire_credentials(req.get("instance_id"))
                return 200, {"ok": True, "expired": n}
            if path == "/deny":
                return self.deny(req)
            if path == "/mutate":
                return self.mutate(req)
            return 404, {"error": "no such endpoint %s" % path}

        def deny(self, req):
            st = app.state
            actions = req["actions"]
            if not isinstance(actions, list):
                raise ValueError("actions must be a list")
            with st.lock:
                if "role" in req:
                    target = st.roles.get(req["role"])
                else:
                    target = st.keys.get(req["access_key_id"])
                if target is None:
                    return 404, {"error": "no such role or key"}
                target["deny"] = set(actions)
            return 200, {"ok": True}

        def mutate(self, req):
            st = app.state
            with st.lock:
                v0 = st.version
                try:
                    action, nodes = ec2ops.control_call(st, req)
                    res = 200, {"ok": True, "xml": ec2ops.response_xml(
                        action, "control", nodes)}
                except ec2ops.ApiError as e:
                    res = e.status, {"error": e.code, "message": e.message}
                changed = st.version != v0
            if changed:
                app.changed()
            return res

    return ControlHandler
