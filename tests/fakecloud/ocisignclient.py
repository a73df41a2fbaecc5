#!/usr/bin/python3
"""A small OCI request-signing client for shell tests of the fake OCI
(signatures with the openssl command; the standard library has no RSA).

  ocisignclient.py federate --imds URL --auth URL --cacert CA --out DIR
      instance principals by hand: certificate, key and intermediate from
      IMDS v2, a session key, POST /v1/x509; writes DIR/session.key and
      DIR/token, prints the HTTP status
  ocisignclient.py call --url URL --cacert CA --key KEY --key-id ID
      [--method GET] [--body JSON] [--if-match ETAG] [--date HTTP-DATE]
      [--headers "date (request-target) host"] [--tamper] [--no-auth]
      [--repeat N]
      prints one line per attempt: "STATUS CODE"
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
from email.utils import formatdate
from urllib.parse import urlsplit


def sign(key, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                          capture_output=True, check=True).stdout


def request(url, method, body, key, key_id, cacert, date=None, names=None,
            if_match=None, tamper=False, no_auth=False):
    u = urlsplit(url)
    target = u.path + ("?" + u.query if u.query else "")
    body = body.encode() if body is not None else b""
    h = {"date": date or formatdate(usegmt=True), "host": u.netloc}
    has_body = method in ("PUT", "POST", "PATCH")
    if has_body:
        h["content-type"] = "application/json"
        h["content-length"] = str(len(body))
        h["x-content-sha256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if if_match:
        h["if-match"] = if_match
    names = (names or ("date (request-target) host" + (
        " content-length content-type x-content-sha256" if has_body else ""))).split()
    lines = ["(request-target): %s %s" % (method.lower(), target) if n == "(request-target)"
             else "%s: %s" % (n, h[n]) for n in names]
    sig = sign(key, "\n".join(lines).encode())
    if tamper:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    if not no_auth:
        h["authorization"] = ('Signature version="1",headers="%s",keyId="%s",'
                              'algorithm="rsa-sha256",signature="%s"' %
                              (" ".join(names), key_id, base64.b64encode(sig).decode()))
    ctx = ssl.create_default_context(cafile=cacert) if u.scheme == "https" else None
    c = (http.client.HTTPSConnection(u.hostname, u.port, context=ctx) if ctx else
         http.client.HTTPConnection(u.hostname, u.port))
    c.request(method, target, body=body if has_body else None, headers=h)
    r = c.getresponse()
    data = r.read()
    try:
        code = json.loads(data).get("code", "")
    except ValueError:
        code = ""
    return r.status, code, data


def imds_get(base, path):
    u = urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", "/opc/v2/" + path, headers={"Authorization": "Bearer Oracle"})
    return c.getresponse().read().decode()


def der_b64(pem):
    return "".join(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))


def federate(a):
    os.makedirs(a.out, exist_ok=True)
    cert, key, inter = (imds_get(a.imds, "identity/" + n) for n in
                        ("cert.pem", "key.pem", "intermediate.pem"))
    leaf_key = os.path.join(a.out, "leaf.key")
    with open(leaf_key, "w") as f:
        f.write(key)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as cf:
        cf.write(cert)
        cf.flush()
        fp = subprocess.run(["openssl", "x509", "-in", cf.name, "-noout", "-fingerprint",
                             "-sha1"], capture_output=True, text=True, check=True).stdout
        subj = subprocess.run(["openssl", "x509", "-in", cf.name, "-noout", "-subject",
                               "-nameopt", "RFC2253"], capture_output=True, text=True,
                              check=True).stdout
    fp = fp.strip().split("=", 1)[1].lower()
    tenancy = [p.split(":", 1)[1] for p in subj.strip().split("=", 1)[1].split(",")
               if p.startswith("OU=opc-tenant:")][0]
    skey = os.path.join(a.out, "session.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", skey], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "pkey", "-in", skey, "-pubout"], capture_output=True,
                         text=True, check=True).stdout
    body = json.dumps({"certificate": der_b64(cert), "publicKey": der_b64(pub),
                       "intermediateCertificates": [der_b64(inter)]})
    st, code, data = request(a.auth.rstrip("/") + "/v1/x509", "POST", body, leaf_key,
                             "%s/fed-x509/%s" % (tenancy, fp), a.cacert)
    if st == 200:
        with open(os.path.join(a.out, "token"), "w") as f:
            f.write(json.loads(data)["token"])
    print(st, code)
    return 0 if st == 200 else 1


def call(a):
    # A repeat is the same request byte for byte (a replay), even across a
    # second boundary: sign every copy with one Date.
    if a.repeat > 1 and a.date is None:
        a.date = formatdate(usegmt=True)
    for _ in range(a.repeat):
        st, code, _ = request(a.url, a.method, a.body, a.key, a.key_id, a.cacert, a.date,
                              a.headers, a.if_match, a.tamper, a.no_auth)
        print(("%d %s" % (st, code)).strip())
    return 0


def main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("federate")
    f.add_argument("--imds", required=True)
    f.add_argument("--auth", required=True)
    f.add_argument("--cacert", required=True)
    f.add_argument("--out", required=True)
    c = sub.add_parser("call")
    c.add_argument("--url", required=True)
    c.add_argument("--cacert", required=True)
    c.add_argument("--key", required=True)
    c.add_argument("--key-id", required=True)
    c.add_argument("--method", default="GET")
    c.add_argument("--body")
    c.add_argument("--if-match")
    c.add_argument("--date")
    c.add_argument("--headers")
    c.add_argument("--tamper", action="store_true")
    c.add_argument("--no-auth", action="store_true")
    c.add_argument("--repeat", type=int, default=1)
    a = p.parse_args(argv)
    return federate(a) if a.cmd == "federate" else call(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
