#!/usr/bin/python3
"""Minimal EC2 Query API client for tests: signs with SigV4 (sigv4.py) and
prints the answer.  Credentials from --access-key/--secret-key/--token, the
AWS_* environment variables, or an IMDSv2 endpoint (--imds URL).

  sigv4client.py --endpoint https://127.0.0.1:PORT --cacert ca.pem \
      [--imds http://127.0.0.1:PORT] [--region R] \
      [--sign-region R] [--date-offset S] [--tamper] [--no-token] [--get] \
      ACTION [Name=Value ...]

Prints "HTTP <status>" then the body; exit 0 on 2xx, 1 on another status,
2 on a transport error.  The knobs --sign-region, --date-offset, --tamper and
--no-token make deliberately bad requests for negative tests.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import ssl
import sys
from urllib.parse import quote, urlencode, urlsplit

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402


def imds_credentials(base, ttl=60):
    """IMDSv2: token, then region, role and credentials."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)

    def call(method, path, headers):
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        body = r.read().decode()
        if r.status != 200:
            raise RuntimeError("IMDS %s %s: HTTP %d" % (method, path, r.status))
        return body
    tok = call("PUT", "/latest/api/token",
               {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
    h = {"X-aws-ec2-metadata-token": tok}
    region = call("GET", "/latest/meta-data/placement/region", h)
    role = call("GET", "/latest/meta-data/iam/security-credentials/", h).split("\n")[0]
    c = json.loads(call("GET", "/latest/meta-data/iam/security-credentials/" + role, h))
    return region, c["AccessKeyId"], c["SecretAccessKey"], c.get("Token")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--cacert", required=True)
    p.add_argument("--imds")
    p.add_argument("--region")
    p.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    p.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    p.add_argument("--token", default=os.environ.get("AWS_SESSION_TOKEN"))
    p.add_argument("--sign-region", help="region in the credential scope")
    p.add_argument("--date-offset", type=int, default=0,
                   help="seconds added to the signing time")
    p.add_argument("--tamper", action="store_true",
                   help="change the body after signing")
    p.add_argument("--no-token", action="store_true",
                   help="leave the session token out")
    p.add_argument("--get", action="store_true",
                   help="send the parameters as a GET query string")
    p.add_argument("--version", default="2016-11-15")
    p.add_argument("action")
    p.add_argument("params", nargs="*", metavar="Name=Value")
    a = p.parse_args(argv)

    region = a.region
    akid, secret, token = a.access_key, a.secret_key, a.token
    if a.imds:
        r, akid, secret, token = imds_credentials(a.imds)
        region = region or r
    if not (akid and secret and region):
        p.error("need credentials (--imds or keys) and a region")
    if a.no_token:
        token = None

    params = [("Action", a.action), ("Version", a.version)]
    for kv in a.params:
        k, eq, v = kv.partition("=")
        if not eq:
            p.error("parameter '%s' is not Name=Value" % kv)
        params.append((k, v))
    encoded = urlencode(params, quote_via=quote, safe="")

    u = urlsplit(a.endpoint)
    host = u.netloc
    if a.get:
        method, path, query, body = "GET", "/", encoded, b""
        headers = [("Host", host)]
    else:
        method, path, query, body = "POST", "/", "", encoded.encode()
        headers = [("Host", host), ("Content-Type",
                                    "application/x-www-form-urlencoded; charset=utf-8")]
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=a.date_offset)
    headers = sigv4.sign(method, path, query, headers, body, akid, secret,
                         a.sign_region or region, "ec2", now, token)
    if a.tamper:
        body += b"&DryRun=false"
        if a.get:
            query += "&DryRun=false"
    ctx = ssl.create_default_context(cafile=a.cacert)
    try:
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx,
                                           timeout=30)
        conn.request(method, path + ("?" + query if query else ""), body=body or None,
                     headers=dict(headers))
        r = conn.getresponse()
        out = r.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        print("transport error: %s" % e, file=sys.stderr)
        return 2
    print("HTTP %d" % r.status)
    print(out)
    return 0 if 200 <= r.status < 300 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
