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

import ec2ops
import fakebase
from faults import KINDS


def make_handler(app):

    class ControlHandler(fakebase.ControlHandler):

        def state(self):
            return app.state.dump()

        def counts(self):
            return app.log_snapshot(0)["counts"]

        def log_reply(self, since):
            return app.log_snapshot(since)

        def add_fault(self, req):
            if req.get("kind") not in KINDS:
                raise ValueError("kind must be one of %s" % ", ".join(KINDS))
            return app.faults.add(req)

        def route(self, path, req):
            st = app.state
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

    ControlHandler.app = app
    return ControlHandler
