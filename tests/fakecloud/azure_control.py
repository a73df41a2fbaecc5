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
                                drop|race412|opfail|opretry (the operation Failed
                                with RetryableError, nothing changed),
                                "count": N (-1 = until cleared),
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

import ssl
import sys

import azure
import azure_world as aw
import fakebase
from fakebase import listen, tls_context


def make_handler(app):

    class H(fakebase.ControlHandler):
        api_errors = (aw.ApiError,)

        def version(self):
            return app.world.version

        def state(self):
            w = app.world
            with w.lock:
                w.settle_ops()
                return w.dump()

        def counts(self):
            return app.counts()

        def get_extra(self, path, q):
            if path == "/tokens":
                return {"tokens": sorted(app.issued)}
            return None

        def add_fault(self, req):
            if req.get("kind") not in azure.FAULT_KINDS:
                raise ValueError("kind must be one of %s" % ", ".join(azure.FAULT_KINDS))
            return app.faults.add(req)

        def post_lock(self):
            return app.world.lock

        def posted(self, status):
            if status == 200:
                app.changed()

        def common_route(self, path, req):
            status, reply = fakebase.ControlHandler.common_route(self, path, req)
            if status == 200 and path != "/fault":
                app.world.version += 1
            return status, reply

        def route(self, path, req):
            w = app.world
            if path == "/expire-tokens":
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
            return 200, {"ok": True}

    H.app = app
    return H


def parse_args(argv):
    p = fakebase.arg_parser("fake Azure ARM + IMDS for tests", "ARM HTTPS listener ADDR:PORT")
    p.add_argument("--imds", type=fakebase.listener_spec, action="append", default=[],
                   metavar="ADDR:PORT=VM", help="IMDS listener serving VM (repeatable)")
    p.add_argument("--lro-polls", type=int, default=2,
                   help="status polls before an operation finishes (default 2)")
    p.add_argument("--lro-seconds", type=float, default=3.0,
                   help="an operation also finishes after this long (default 3)")
    p.add_argument("--lro-retry-after", type=int, default=1,
                   help="Retry-After of operation answers, seconds (default 1)")
    p.add_argument("--token-lifetime", type=int, default=86400)
    p.add_argument("--page-size", type=int, default=50, help="NICs per list page")
    p.add_argument("--state-out")
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
            ready["api"] = listen(servers, args.api, azure.make_arm_handler(app),
                                  tls_context(args.cert, args.key))
        for addr, vm in args.imds:
            if vm is None or aw.key(vm) not in app.world.vms:
                raise ValueError("--imds: unknown VM %s" % vm)
            ready["imds"].append(dict(listen(servers, addr, azure.make_imds_handler(app, vm)),
                                      vm=vm))
        if args.control:
            ready["control"] = listen(servers, args.control, make_handler(app))
    except (OSError, ValueError, ssl.SSLError) as e:
        print("fakeazure: %s" % e, file=sys.stderr)
        return 1
    fakebase.run(servers, ready, args.ready_file, app.changed)
    return 0
