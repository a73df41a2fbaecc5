"""Control endpoint and main() of the fake Azure (azure.py): plain HTTP +
JSON on loopback, for tests only.

  GET  /health                 {"ok": true, "version": N}
  GET  /state                  the world (VMs, NICs, route tables and routes)
  GET  /counts                 {"counts": {"arm", "reads", "mutating", "polls",
                                "imds", "tokens", "by_op"}}
  GET  /log?since=SEQ          {"entries": [...]}
  GET  /tokens                 every access token issued (to check they leak nowhere)
  GET  /faults                 pending faults
  POST /reset                  clears the request log and the faults
  POST /fault                  {"kind": throttle|busy|error500|malformed|html|slow|
                                drop|race412|opfail, "count": N (-1 = until cleared),
                                "actions": [op names, e.g. "PutRoute", "ImdsToken"],
                                "retry_after": S, "delay_ms": MS, "status": CODE,
                                "apply": bool (carry the operation out, then fault)}
  POST /faults/clear
  POST /expire-tokens          every token issued so far is expired
  POST /deny                   {"identity": NAME, "actions": [...]} (replaces)
  POST /vm-power               {"vm": NAME, "power": "running"|"deallocated"|"stopped"}
  POST /nic                    {"nic": NAME, "ip_forwarding": bool, "detach": bool,
                                "delete": bool}
  POST /route                  {"table", "name", "prefix", "next_hop_type",
                                "next_hop_ip"}: create or replace as the cloud itself
  POST /route-delete           {"table", "name"}
  POST /subnet                 {"vnet", "subnet", "route_table": NAME or null}
"""

import argparse
import json
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import azure
import azure_world as aw
from ec2 import Server, host_port
from state import write_atomic


def make_handler(app):

    class H(BaseHTTPRequestHandler):
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

        def do_GET(self):
            u = urlsplit(self.path)
            q = parse_qs(u.query)
            w = app.world
            if u.path == "/health":
                return self.send_json(200, {"ok": True, "version": w.version})
            if u.path == "/state":
                with w.lock:
                    w.settle_ops()
                    return self.send_json(200, w.dump())
            if u.path == "/counts":
                return self.send_json(200, {"counts": app.counts()})
            if u.path == "/log":
                since = int(q.get("since", ["0"])[0])
                with app.log_lock:
                    return self.send_json(200, {"entries": [e for e in app.entries
                                                            if e["seq"] > since]})
            if u.path == "/tokens":
                return self.send_json(200, {"tokens": sorted(app.issued)})
            if u.path == "/faults":
                return self.send_json(200, {"faults": app.faults.pending()})
            self.send_json(404, {"error": "no such endpoint %s" % u.path})

        def do_POST(self):
            try:
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}") if n else {}
                if not isinstance(req, dict):
                    raise ValueError("expected a JSON object")
                with app.world.lock:
                    status, reply = self.route(urlsplit(self.path).path, req)
            except aw.ApiError as e:
                status, reply = e.status, {"error": e.code, "message": e.message}
            except (ValueError, KeyError, TypeError) as e:
                status, reply = 400, {"error": "%s: %s" % (type(e).__name__, e)}
            if status == 200:
                app.changed()
            self.send_json(status, reply)

        def route(self, path, req):
            w = app.world
            if path == "/reset":
                app.reset_log()
                app.faults.clear()
            elif path == "/fault":
                if req.get("kind") not in azure.FAULT_KINDS:
                    raise ValueError("kind must be one of %s" % ", ".join(azure.FAULT_KINDS))
                return 200, {"ok": True, "fault": app.faults.add(req)}
            elif path == "/faults/clear":
                app.faults.clear()
            elif path == "/expire-tokens":
                app.revoked.update(t[2] for t in app.tokens.values())
            elif path == "/deny":
                w.identities[req["identity"]]["deny"] = list(req["actions"])
            elif path == "/vm-power":
                w.vms[aw.key(req["vm"])]["power"] = req["power"]
            elif path == "/nic":
                n = w.nics[aw.key(req["nic"])]
                if "ip_forwarding" in req:
                    n["ip_forwarding"] = bool(req["ip_forwarding"])
                if req.get("detach"):
                    n["vm"] = None
                if req.get("delete"):
                    del w.nics[aw.key(req["nic"])]
                n["etag"] = aw.etag()
            elif path == "/route":
                t = w.tables[aw.key(req["table"])]
                body = {"properties": {"addressPrefix": req["prefix"],
                                       "nextHopType": req["next_hop_type"]}}
                if req.get("next_hop_ip"):
                    body["properties"]["nextHopIpAddress"] = req["next_hop_ip"]
                _, _, done = w.put_route(t, req["name"], body, None, None)
                done()
            elif path == "/subnet":
                _, s = w.find_subnet(req["vnet"], req["subnet"])
                if s is None:
                    return 404, {"error": "no such subnet"}
                s["route_table"] = req.get("route_table")
            elif path == "/route-delete":
                t = w.tables[aw.key(req["table"])]
                done = w.delete_route(t, req["name"], None)
                if done is None:
                    return 404, {"error": "no such route"}
                done()
            else:
                return 404, {"error": "no such endpoint %s" % path}
            w.version += 1
            return 200, {"ok": True}

    return H


def imds_spec(text):
    addr, _, vm = text.partition("=")
    return host_port(addr), vm or None


def parse_args(argv):
    p = argparse.ArgumentParser(description="fake Azure ARM + IMDS for tests")
    p.add_argument("--scenario", required=True)
    p.add_argument("--api", type=host_port, help="ARM HTTPS listener ADDR:PORT")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--imds", type=imds_spec, action="append", default=[],
                   metavar="ADDR:PORT=VM", help="IMDS listener serving VM (repeatable)")
    p.add_argument("--control", type=host_port)
    p.add_argument("--lro-polls", type=int, default=2,
                   help="status polls before an operation finishes (default 2)")
    p.add_argument("--lro-seconds", type=float, default=3.0,
                   help="an operation also finishes after this long (default 3)")
    p.add_argument("--lro-retry-after", type=int, default=1,
                   help="Retry-After of operation answers, seconds (default 1)")
    p.add_argument("--token-lifetime", type=int, default=86400)
    p.add_argument("--page-size", type=int, default=50, help="NICs per list page")
    p.add_argument("--log")
    p.add_argument("--state-out")
    p.add_argument("--ready-file")
    p.add_argument("--verbose", "-v", action="store_true")
    a = p.parse_args(argv)
    if a.api and not (a.cert and a.key):
        p.error("--api needs --cert and --key")
    return a


def main(argv):
    args = parse_args(argv)
    try:
        app = azure.Fake(args)
    except (aw.ScenarioError, OSError, ValueError) as e:
        print("fakeazure: %s" % e, file=sys.stderr)
        return 78
    servers, ready = [], {"imds": []}
    try:
        if args.api:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(args.cert, args.key)
            s = Server(args.api, azure.make_arm_handler(app), tls)
            servers.append(s)
            ready["api"] = {"addr": args.api[0], "port": s.server_address[1]}
        for addr, vm in args.imds:
            if vm is None or aw.key(vm) not in app.world.vms:
                raise ValueError("--imds: unknown VM %s" % vm)
            s = Server(addr, azure.make_imds_handler(app, vm))
            servers.append(s)
            ready["imds"].append({"addr": addr[0], "port": s.server_address[1], "vm": vm})
        if args.control:
            s = Server(args.control, make_handler(app))
            servers.append(s)
            ready["control"] = {"addr": args.control[0], "port": s.server_address[1]}
    except (OSError, ValueError, ssl.SSLError) as e:
        print("fakeazure: %s" % e, file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    app.changed()
    if args.ready_file:
        write_atomic(args.ready_file, json.dumps(ready) + "\n")
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0
