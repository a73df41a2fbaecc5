#!/usr/bin/python3
"""Fake Oracle Cloud Infrastructure for cloudroute's tests: IMDS v2 (HTTP),
the X.509 federation endpoint of the auth service (HTTPS), the Core Services
API calls cloudroute uses (HTTPS, /20160918), and a control endpoint.
Standard library plus the openssl command (instance certificates).

Every API request's signature is verified (ocisig.Verifier): the required
headers per method, Date within 300 s, x-content-sha256 and content-length
against the body, RSA-SHA256 with the key the keyId names, and no signature
accepted twice.  Federation: keyId "<tenancy>/fed-x509/<SHA-1 of the current
instance certificate>", signed with that certificate's key; the body's
certificate must be the current one; the token issued is bound to the
session public key in the body.  Core: keyId "ST$<token>", signed with that
session key; or an API key of the scenario's "apiKeys" ([{"user",
"fingerprint", "publicKey": PEM}]), keyId "<tenancy>/<user>/<fingerprint>".
A stale certificate fingerprint, an expired or unknown token,
a bad or replayed signature: 401 NotAuthenticated.

  oci.py --scenario FILE --api ADDR:PORT --auth ADDR:PORT --cert F --key F
         [--imds ADDR:PORT=INSTANCE_OCID]... [--control ADDR:PORT]
         [--ready-file FILE] [--log FILE] [--token-lifetime S] [-v]
         [--state-out FILE [--on-change CMD]]
An --imds listener without =INSTANCE serves the instance whose VNIC has the
client's source address (the simulation: one 169.254.169.254 for all).

Control (plain HTTP JSON): GET /state, GET /counts, GET /log?since=N,
POST /reset, POST /fault {kind, count, actions, retry_after, status,
delay_ms, skip, mutate}, POST /faults/clear, POST /mutate {op, ...}
(ocicore.World.mutate), POST /rotate-certificate {instance},
POST /expire-tokens.  Fault kinds as faults.py; "throttle" answers 429
TooManyRequests, "race" runs `mutate` right after answering the matched
request (a concurrent writer between our GET and our PUT).
"""

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from urllib.parse import parse_qsl, urlsplit

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
import ocicore  # noqa: E402
import ocisig  # noqa: E402
from faults import Faults  # noqa: E402

MAX_BODY = 65536
API_PREFIX = "/20160918"


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Identity:
    """Instance certificates: one intermediate CA, one leaf per instance."""

    def __init__(self, tenancy, compartment):
        self.dir = tempfile.mkdtemp(prefix="fakeoci-")
        self.tenancy, self.compartment = tenancy, compartment
        self.inter_key = os.path.join(self.dir, "inter.key")
        self.inter_pem = os.path.join(self.dir, "inter.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", self.inter_key, "-out", self.inter_pem,
             "-subj", "/CN=PKISVC Identity Intermediate fake",
             "-addext", "basicConstraints=critical,CA:TRUE"])
        self.intermediate = open(self.inter_pem).read()
        self.leaves = {}
        self.serial = 1

    def issue(self, instance):
        d = os.path.join(self.dir, "leaf%d" % self.serial)
        self.serial += 1
        subj = ("/CN=%s/OU=opc-certtype:instance/OU=opc-compartment:%s/"
                "OU=opc-instance:%s/OU=opc-tenant:%s" % (instance, self.compartment,
                                                         instance, self.tenancy))
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + ".key",
             "-out", d + ".csr", "-subj", subj])
        run(["openssl", "x509", "-req", "-in", d + ".csr", "-CA", self.inter_pem,
             "-CAkey", self.inter_key, "-CAcreateserial", "-days", "1",
             "-set_serial", str(self.serial), "-out", d + ".pem"])
        pub = subprocess.run(["openssl", "x509", "-in", d + ".pem", "-pubkey", "-noout"],
                             check=True, capture_output=True, text=True).stdout
        cert = open(d + ".pem").read()
        der = ssl.PEM_cert_to_DER_cert(cert)
        self.leaves[instance] = {
            "cert": cert, "key": open(d + ".key").read(),
            "pub": ocisig.spki_rsa(ocisig.pem_body(pub, "PUBLIC KEY")),
            "fp": ":".join("%02x" % b for b in hashlib.sha1(der).digest()),
            "b64": base64.b64encode(der).decode()}

    def inter_b64(self):
        return base64.b64encode(ssl.PEM_cert_to_DER_cert(self.intermediate)).decode()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Fake(fakebase.RequestLog):
    def __init__(self, args):
        with open(args.scenario) as f:
            self.world = ocicore.World(json.load(f))
        self.args = args
        self.verifier = ocisig.Verifier()
        self.tokens = ocisig.Tokens(args.token_lifetime)
        self.faults = Faults()
        self.ident = Identity(self.world.tenancy, self.world.compartment)
        with open(args.scenario) as f:
            self.api_keys = [dict(k, key=ocisig.spki_rsa(ocisig.pem_body(k["publicKey"],
                                                                          "PUBLIC KEY")))
                             for k in json.load(f).get("apiKeys", [])]
        self.instances = {v["instanceId"]: v for v in self.world.vnics.values()
                          if v.get("instanceId")}
        for inst in self.instances:
            self.ident.issue(inst)
        self.sig_lock = threading.Lock()
        self.hook_lock = threading.Lock()
        self.hook_failures = 0
        self.verbose = args.verbose
        self.init_log(args.log)

    def changed(self):
        """After a change: --state-out, then --on-change (before the answer
        is sent, so the caller sees the network already changed)."""
        a = self.args
        if not a.state_out:
            return
        with self.hook_lock:
            data = json.dumps(self.world.dump(), indent=1, sort_keys=True) + "\n"
            tmp = a.state_out + ".tmp"
            with open(tmp, "w") as f:
                f.write(data)
            os.rename(tmp, a.state_out)
            if a.on_change:
                r = subprocess.run(["sh", "-c", a.on_change],
                                   env=dict(os.environ, FAKECLOUD_STATE=a.state_out))
                if r.returncode != 0:
                    self.hook_failures += 1

    def counts(self, since=0):
        ents = self.log_since(0)
        c = {"total": 0, "core": 0, "auth": 0, "imds": 0, "mutating": 0, "mutations_ok": 0,
             "by_op": {}, "by_status": {}, "hook_failures": self.hook_failures}
        for e in ents:
            c["total"] += 1
            c[e["service"]] += 1
            if e["service"] == "imds":
                continue
            c["by_op"][e["op"]] = c["by_op"].get(e["op"], 0) + 1
            c["by_status"][str(e["status"])] = c["by_status"].get(str(e["status"]), 0) + 1
            if e["service"] == "core" and e["mutating"]:
                c["mutating"] += 1
                if e["status"] == 200:
                    c["mutations_ok"] += 1
        return {"entries": [e for e in ents if e["seq"] > since], "counts": c}

    def api_key(self, parts):
        """keyId <tenancy>/<user>/<fingerprint> of an API signing key."""
        for k in self.api_keys:
            if [self.world.tenancy, k["user"], k["fingerprint"]] == parts:
                return k["key"]
        raise ocisig.SigError("unknown API key")

    def fed_key(self, key_id):
        parts = key_id.split("/")
        if len(parts) != 3 or parts[1] != "fed-x509" or parts[0] != self.world.tenancy:
            raise ocisig.SigError("keyId is not <tenancy>/fed-x509/<fingerprint>")
        for leaf in self.ident.leaves.values():
            if leaf["fp"] == parts[2]:
                return leaf["pub"]
        raise ocisig.SigError("certificate fingerprint is not a current instance certificate")


class Handler(fakebase.Handler):
    server_version = "fakeoci"
    timeout = None
    service = "core"

    def send(self, status, obj, extra=(), raw=None):
        data = raw if raw is not None else (json.dumps(obj) + "\n").encode()
        self.send_body(status, data, "application/json", [("opc-request-id", self.rid)] +
                       [(k, v) for k, v in extra if v is not None])

    def read_body(self):
        return self.body_bytes(MAX_BODY)

    def lower_headers(self):
        h = {}
        for k, v in self.headers.items():
            h[k.lower()] = v if k.lower() not in h else h[k.lower()] + ", " + v
        return h


class ImdsHandler(Handler):
    service = "imds"
    instance = None

    def do_GET(self):
        self.rid = uuid.uuid4().hex
        path = urlsplit(self.path).path
        st, obj, raw = self.answer(path)
        self.app.log_event({"service": "imds", "op": path, "method": "GET", "status": st,
                      "mutating": False})
        if raw is not None:
            data = raw.encode()
            self.send_response(st)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send(st, obj)

    def answer(self, path):
        w, inst = self.app.world, self.instance
        if inst is None:        # one listener for every instance: by source address
            inst = next((v.get("instanceId") for v in w.vnics.values()
                         if v["privateIp"] == self.client_address[0]), None)
            if inst not in self.app.ident.leaves:
                return 404, {"code": "NotFound", "message": "no instance at %s"
                             % self.client_address[0]}, None
        if not path.startswith("/opc/v2/"):
            return 404, {"code": "NotFound", "message": "v1 is disabled"}, None
        if self.headers.get("Authorization") != "Bearer Oracle":
            return 401, {"code": "NotAuthenticated", "message": "Authorization: Bearer "
                         "Oracle required"}, None
        if self.headers.get("Forwarded") or self.headers.get("X-Forwarded-For"):
            return 403, {"code": "Forbidden", "message": "forwarded request"}, None
        vnic = next(v for v in w.vnics.values() if v.get("instanceId") == inst)
        leaf = self.app.ident.leaves[inst]
        rest = path[len("/opc/v2/"):]
        if rest in ("instance", "instance/"):
            return 200, {"availabilityDomain": "Uocm:US-ASHBURN-AD-1",
                         "canonicalRegionName": w.region, "compartmentId": w.compartment,
                         "displayName": inst.rsplit(".", 1)[-1], "faultDomain": "FAULT-DOMAIN-1",
                         "id": inst, "image": "ocid1.image.oc1.fake", "metadata": {},
                         "region": w.region.split("-")[1][:3], "shape": "VM.Standard.E4.Flex",
                         "state": "Running", "timeCreated": 1700000000000,
                         "regionInfo": {"realmKey": "oc1", "realmDomainComponent": w.realm_domain,
                                        "regionKey": "IAD", "regionIdentifier": w.region}}, None
        if rest in ("vnics", "vnics/"):
            return 200, [{"vnicId": vnic["id"], "privateIp": vnic["privateIp"], "vlanTag": 0,
                          "macAddr": "02:00:17:00:00:01", "virtualRouterIp": "10.0.0.1",
                          "subnetCidrBlock": w.subnets[vnic["subnetId"]]["cidrBlock"],
                          "nicIndex": 0}], None
        if rest == "identity/cert.pem":
            return 200, None, leaf["cert"]
        if rest == "identity/key.pem":
            return 200, None, leaf["key"]
        if rest == "identity/intermediate.pem":
            return 200, None, self.app.ident.intermediate
        return 404, {"code": "NotFound", "message": "no such metadata"}, None


class ApiHandler(Handler):
    def do_GET(self):
        self.handle_api("GET")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_POST(self):
        self.handle_api("POST")

    def do_DELETE(self):
        self.handle_api("DELETE")

    def handle_api(self, method):
        self.rid = uuid.uuid4().hex.upper()
        body = self.read_body()
        ent = {"service": self.service, "method": method, "op": "?",
               "path": urlsplit(self.path).path, "mutating": method != "GET"}
        if body is None:
            return self.finish_err(ent, ocicore.ApiError(413, "RequestEntityTooLarge",
                                                         "body too large"))
        try:
            op, fn = self.route(method)
            ent["op"] = op
            with self.app.sig_lock:
                self.app.verifier.check(method, self.path, self.lower_headers(), body,
                                        self.key_for, required=self.required())
        except ocisig.SigError as e:
            return self.finish_err(ent, ocicore.ApiError(401, "NotAuthenticated",
                                                         "The required information to "
                                                         "complete authentication was not "
                                                         "provided or was incorrect (%s)" % e))
        except ocicore.ApiError as e:
            return self.finish_err(ent, e)
        delay, f = self.app.faults.take(op)
        if delay:
            time.sleep(delay / 1000.0)
        if f is not None and f["kind"] not in ("race",) and not f["apply"]:
            return self.fault(f, ent)
        try:
            obj, etag, nxt = fn(body)
        except ocicore.ApiError as e:
            return self.finish_err(ent, e)
        if method != "GET":
            self.app.changed()
        if f is not None and f["kind"] == "race":
            self.app.world.mutate(f["mutate"])
            self.app.changed()
        if f is not None and f["apply"]:
            return self.fault(f, ent)
        ent["status"] = 200
        self.app.log_event(ent)
        self.send(200, obj, extra=(("ETag", etag), ("opc-next-page", nxt)))

    def finish_err(self, ent, e):
        ent.update(status=e.status, code=e.code)
        self.app.log_event(ent)
        self.send(e.status, {"code": e.code, "message": e.message})

    def fault(self, f, ent):
        k = f["kind"]
        ent.update(fault=k)
        if k == "throttle":
            ent.update(status=429, code="TooManyRequests")
            self.app.log_event(ent)
            return self.send(429, {"code": "TooManyRequests", "message": "Too many requests"},
                             extra=(("Retry-After", f["retry_after"] and str(f["retry_after"])),))
        if k == "error500":
            ent.update(status=500, code="InternalServerError")
            self.app.log_event(ent)
            return self.send(500, {"code": "InternalServerError", "message": "fault"})
        if k == "malformed":
            ent.update(status=200)
            self.app.log_event(ent)
            return self.send(200, None, raw=b'{"id": "ocid1.routetable.oc1.x", "routeRu')
        if k == "html":
            ent.update(status=f["status"])
            self.app.log_event(ent)
            data = b"<html><body>Bad Gateway</body></html>"
            self.send_response(f["status"])
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if k == "hang":
            ent.update(status=0)
            self.app.log_event(ent)
            time.sleep(3600)
        ent.update(status=0)
        self.app.log_event(ent)
        self.close_connection = True
        return None

    # ---- routing ---------------------------------------------------------
    def required(self):
        return ocisig.GENERIC

    def key_for(self, key_id):
        parts = key_id.split("/")
        if len(parts) == 3 and not key_id.startswith("ST$"):
            return self.app.api_key(parts)
        return self.app.tokens.key_for(key_id)

    def route(self, method):
        u = urlsplit(self.path)
        if not u.path.startswith(API_PREFIX + "/"):
            raise ocicore.not_found()
        parts = u.path[len(API_PREFIX) + 1:].split("/")
        q = dict(parse_qsl(u.query, keep_blank_values=True))
        w = self.app.world
        table = {
            ("GET", "vnics", 2): ("GetVnic", lambda b: w.get_vnic(parts[1]) + (None,)),
            ("PUT", "vnics", 2): ("UpdateVnic", lambda b: w.update_vnic(parts[1], b) + (None,)),
            ("GET", "subnets", 2): ("GetSubnet", lambda b: w.get_subnet(parts[1]) + (None,)),
            ("GET", "subnets", 1): ("ListSubnets", lambda b: self.listing(w.list_subnets(q))),
            ("GET", "privateIps", 1): ("ListPrivateIps",
                                       lambda b: self.listing(w.list_private_ips(q))),
            ("GET", "privateIps", 2): ("GetPrivateIp",
                                       lambda b: w.get_private_ip(parts[1]) + (None,)),
            ("GET", "routeTables", 2): ("GetRouteTable",
                                        lambda b: w.get_table(parts[1]) + (None,)),
            ("PUT", "routeTables", 2): ("UpdateRouteTable", lambda b: w.update_table(
                parts[1], b, self.headers.get("if-match")) + (None,)),
        }
        key = (method, parts[0], len(parts))
        if key not in table or (len(parts) == 2 and not parts[1]):
            raise ocicore.not_found()
        if method == "PUT" and self.headers.get("Content-Type", "").split(";")[0] != \
                "application/json":
            raise ocicore.ApiError(400, "InvalidParameter", "Content-Type must be "
                                   "application/json")
        return table[key]

    @staticmethod
    def listing(res):
        items, nxt = res
        return items, None, nxt


class AuthHandler(ApiHandler):
    service = "auth"

    def required(self):
        return ("date", "(request-target)")

    def key_for(self, key_id):
        return self.app.fed_key(key_id)

    def route(self, method):
        if method != "POST" or urlsplit(self.path).path != "/v1/x509":
            raise ocicore.not_found()
        return "X509Federation", self.federate

    def federate(self, body):
        w = self.app.world
        d = w.body_object(body, {"certificate", "publicKey", "intermediateCertificates",
                                 "purpose", "fingerprintAlgorithm"}, "X509FederationDetails")
        leaf = next((lf for inst, lf in self.app.ident.leaves.items()
                     if lf["b64"] == d.get("certificate")), None)
        if leaf is None:
            raise ocicore.ApiError(401, "NotAuthenticated", "certificate is not a current "
                                   "instance certificate")
        inst = next(i for i, lf in self.app.ident.leaves.items() if lf is leaf)
        auth = ocisig.parse_authorization(self.headers.get("Authorization"))
        if not auth["keyId"].endswith("/" + leaf["fp"]):
            raise ocicore.ApiError(401, "NotAuthenticated", "keyId names another certificate")
        if d.get("intermediateCertificates") != [self.app.ident.inter_b64()]:
            raise ocicore.ApiError(401, "NotAuthenticated", "intermediate certificate "
                                   "missing or unknown")
        try:
            key = ocisig.spki_rsa(base64.b64decode(d.get("publicKey") or "", validate=True))
        except ValueError:
            raise ocicore.ApiError(400, "InvalidParameter", "publicKey is not an RSA "
                                   "SubjectPublicKeyInfo")
        if key[0].bit_length() < 2048:
            raise ocicore.ApiError(400, "InvalidParameter", "session key under 2048 bits")
        return {"token": self.app.tokens.issue(inst, w.tenancy, key)}, None, None


class ControlHandler(fakebase.ControlHandler):
    def version(self):
        return None

    def state(self):
        return self.app.world.dump()

    def counts(self):
        return self.app.counts()["counts"]

    def log_reply(self, since):
        return self.app.counts(since)

    def route(self, p, m):
        if p == "/mutate":
            self.app.world.mutate(m)
            self.app.changed()
        elif p == "/rotate-certificate":
            self.app.ident.issue(m["instance"])
        elif p == "/expire-tokens":
            self.app.tokens.expire_all()
        else:
            return 404, {"error": "unknown"}
        return 200, {"ok": True}


def main(argv):
    host_port = fakebase.host_port
    p = fakebase.arg_parser("fake OCI (Core Services, federation, IMDS) for tests",
                            "Core Services HTTPS listener ADDR:PORT")
    p.add_argument("--auth", type=host_port, help="federation HTTPS listener ADDR:PORT")
    p.add_argument("--imds", action="append", default=[])
    p.add_argument("--token-lifetime", type=int, default=1200)
    p.add_argument("--state-out", help="state JSON, rewritten after every change")
    p.add_argument("--on-change", help="sh -c CMD after every change ($FAKECLOUD_STATE)")
    args = p.parse_args(argv)
    try:
        app = Fake(args)
    except (ocicore.ScenarioError, OSError, ValueError, KeyError) as e:
        print("fakeoci: %s" % e, file=sys.stderr)
        return 78
    tls = fakebase.tls_context(args.cert, args.key) if args.cert else None
    ready, servers = {"pid": os.getpid(), "imds": []}, []

    def start(addr, cls, use_tls, **attrs):
        h = type(cls.__name__, (cls,), dict(attrs, app=app))
        return fakebase.listen(servers, addr, h, tls if use_tls else None)

    if args.api:
        ready["api"] = start(args.api, ApiHandler, True)
    if args.auth:
        ready["auth"] = start(args.auth, AuthHandler, True)
    for spec in args.imds:
        addr, _, inst = spec.partition("=")
        inst = inst or None
        if inst is not None and inst not in app.instances:
            print("fakeoci: --imds names unknown instance %s" % inst, file=sys.stderr)
            return 78
        ready["imds"].append(dict(start(host_port(addr), ImdsHandler, False, instance=inst),
                                  instance=inst))
    if args.control:
        ready["control"] = start(args.control, ControlHandler, False)
    fakebase.run(servers, ready, args.ready_file, app.changed, "fakeoci")
    app.ident.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
