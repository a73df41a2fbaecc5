"""Fake EC2 instance metadata service, IMDSv2 only (HttpTokens=required).

  PUT /latest/api/token          X-aws-ec2-metadata-token-ttl-seconds: 1..21600
                                 -> token (text), 400 on a bad or missing TTL,
                                 403 when X-Forwarded-For is present (as AWS)
  GET /latest/meta-data/...      X-aws-ec2-metadata-token: a valid, unexpired
                                 token of this listener's instance, else 401;
                                 a GET without a token (IMDSv1) is 401 too
  GET /latest/dynamic/instance-identity/document

One listener serves one instance (`--imds ADDR:PORT=INSTANCE_ID`), or, without
an instance id, the instance whose ENI owns the client's source address.
Role credentials are issued by State.role_credentials (fresh ones when the
current ones are close to Expiration).
"""

import json
import secrets
import threading
import time

from fakebase import Handler
from state import iso8601

MAX_TTL = 21600


class TokenStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}

    def issue(self, ttl, listener):
        tok = secrets.token_urlsafe(42)
        now = time.monotonic()
        with self.lock:
            for t in [t for t, (exp, _) in self.tokens.items() if exp <= now]:
                del self.tokens[t]
            self.tokens[tok] = (now + ttl, listener)
        return tok

    def valid(self, tok, listener):
        with self.lock:
            ent = self.tokens.get(tok)
        return ent is not None and ent[0] > time.monotonic() and ent[1] == listener


def _eni_dir(st, e):
    sub = st.subnets[e["subnet"]]
    d = {"device-number": str(e["device_index"]), "interface-id": e["id"],
            "local-ipv4s": e["ip"], "mac": e["mac"], "owner-id": st.account,
            "subnet-id": e["subnet"], "subnet-ipv4-cidr-block": sub["cidr"],
            "vpc-id": e["vpc"], "vpc-ipv4-cidr-blocks": st.vpcs[e["vpc"]]["cidr"],
            "vpc-ipv4-cidr-block": st.vpcs[e["vpc"]]["cidr"]}
    if e.get("public_ip"):
        d["public-ipv4s"] = e["public_ip"]
    return d


def metadata_tree(st, inst_id):
    """The meta-data directory of one instance (State.lock held).  Values
    that are callables are produced only when read (credentials)."""
    inst = st.instances[inst_id]
    enis = sorted((e for e in st.enis.values() if e["instance"] == inst_id),
                  key=lambda e: e["device_index"])
    prim = enis[0] if enis else None
    host = "ip-%s.%s.compute.internal" % (prim["ip"].replace(".", "-") if prim
                                          else "0-0-0-0", st.region)
    md = {"ami-id": "ami-0fake0000000000001", "instance-id": inst_id,
          "instance-type": inst["instance_type"], "hostname": host,
          "local-hostname": host,
          "placement": {"region": st.region, "availability-zone": st.az},
          "services": {"domain": "amazonaws.com", "partition": "aws"}}
    if prim:
        md["local-ipv4"] = prim["ip"]
        if prim.get("public_ip"):             # only an instance with one has the key
            md["public-ipv4"] = prim["public_ip"]
        md["mac"] = prim["mac"]
        md["network"] = {"interfaces": {"macs": {e["mac"]: _eni_dir(st, e)
                                                 for e in enis}}}
    role = inst["role"]
    if role:
        def creds():
            k = st.role_credentials(inst_id)
            return json.dumps({
                "Code": "Success", "LastUpdated": iso8601(k["issued"]),
                "Type": "AWS-HMAC", "AccessKeyId": k["id"],
                "SecretAccessKey": k["secret"], "Token": k["token"],
                "Expiration": iso8601(k["expires"])}, indent=2)
        md["iam"] = {
            "info": json.dumps({"Code": "Success", "LastUpdated": iso8601(st.now()),
                                "InstanceProfileArn": "arn:aws:iam::%s:instance-"
                                "profile/%s" % (st.account, role),
                                "InstanceProfileId": "AIPAFAKE" + role.upper()[:12]}),
            "security-credentials": {role: creds}}
    doc = json.dumps({"accountId": st.account, "architecture": "x86_64",
                      "availabilityZone": st.az, "imageId": md["ami-id"],
                      "instanceId": inst_id, "instanceType": inst["instance_type"],
                      "privateIp": prim["ip"] if prim else None,
                      "region": st.region, "version": "2017-09-30"}, indent=2)
    return {"meta-data": md,
            "dynamic": {"instance-identity": {"document": doc}}}


def lookup(tree, parts):
    node = tree
    for p in parts:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def make_handler(app, listener_name, instance_id):
    """Handler class for one IMDS listener.  app: the Fake object (state,
    tokens, log, verbose)."""

    class ImdsHandler(Handler):
        server_version = "EC2ws"
        sys_version = ""

        def reply(self, status, body, extra=()):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            app.log_event({"service": "imds", "action": "%s %s" % (
                self.command, self.path.split("?")[0]), "status": status,
                "source": self.client_address[0], "listener": listener_name})

        def drain(self):
            n = self.headers.get("Content-Length")
            try:
                n = int(n) if n else 0
            except ValueError:
                n = -1
            if n < 0 or n > 4096:
                self.close_connection = True
                return False
            if n:
                self.rfile.read(n)
            return True

        def instance(self):
            if instance_id:
                return instance_id
            with app.state.lock:
                return app.state.instance_by_ip(self.client_address[0])

        def do_PUT(self):
            if not self.drain():
                return self.reply(400, "bad request body\n")
            if self.path.split("?")[0] != "/latest/api/token":
                return self.reply(403, "Forbidden\n")
            if self.headers.get("X-Forwarded-For") is not None:
                return self.reply(403, "Forbidden\n")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            try:
                ttl_n = int(ttl) if ttl is not None else 0
            except ValueError:
                ttl_n = 0
            if not 1 <= ttl_n <= MAX_TTL:
                return self.reply(400, "Bad Request\n")
            tok = app.tokens.issue(ttl_n, listener_name)
            self.reply(200, tok,
                       [("X-aws-ec2-metadata-token-ttl-seconds", str(ttl_n))])

        def do_GET(self):
            if not self.drain():
                return self.reply(400, "bad request body\n")
            tok = self.headers.get("X-aws-ec2-metadata-token")
            if tok is None or not app.tokens.valid(tok, listener_name):
                return self.reply(401, "Unauthorized\n")
            inst = self.instance()
            path = self.path.split("?")[0]
            if inst is None:
                return self.reply(404, "no instance for source address %s\n"
                                  % self.client_address[0])
            if not path.startswith("/latest/"):
                return self.reply(404, "Not Found\n")
            parts = [p for p in path[len("/latest/"):].split("/") if p]
            with app.state.lock:
                if inst not in app.state.instances:
                    return self.reply(404, "Not Found\n")
                node = lookup(metadata_tree(app.state, inst), parts)
                if callable(node):
                    node = node()
            if node is None:
                return self.reply(404, "Not Found\n")
            if isinstance(node, dict):
                body = "\n".join(k + "/" if isinstance(v, dict) else k
                                 for k, v in sorted(node.items()))
                return self.reply(200, body)
            self.reply(200, node)

        do_HEAD = do_GET

        def do_POST(self):
            self.drain()
            self.reply(405, "Method Not Allowed\n")

        do_DELETE = do_POST

    ImdsHandler.app = app
    return ImdsHandler
