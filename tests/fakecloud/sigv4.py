"""AWS Signature Version 4: the canonical request, string to sign and signature,
used by the fake EC2 to verify every request it receives and by sigv4client.py
to sign test requests.  Standard library only.

Steps as the spec names them (docs.aws.amazon.com/IAM/latest/UserGuide/
create-signed-request.html):
  1. canonical request  = method \n canonical URI \n canonical query \n
                          canonical headers \n signed headers \n payload hash
  2. string to sign     = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n
                          hex(sha256(canonical request))
  3. signing key        = HMAC chain over date, region, service, "aws4_request"
  4. signature          = hex(HMAC(signing key, string to sign))

The verifier re-derives the canonical request from the bytes received (the
raw path and query, the headers named in SignedHeaders, the body) so that a
client bug in any step shows up as a mismatch.  Run this file with
`--vectors DIR` to check it against the AWS signature test-suite files there.
"""

import hashlib
import hmac
import re
import sys
import datetime as dt
from urllib.parse import unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       b"0123456789-_.~")
AMZ_DATE_FMT = "%Y%m%dT%H%M%SZ"


class AuthError(Exception):
    """A request that must be refused: EC2 error code, HTTP status, message."""

    def __init__(self, code, status, message):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def uri_encode(data, keep_slash=False):
    """RFC 3986 percent-encoding as SigV4 wants it: only unreserved characters
    stay, everything else is %XX with upper-case hex."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        if b in UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_uri(raw_path):
    """Normalise the path (remove '.', '..', duplicate '/') and encode each
    segment; non-S3 services encode the already-encoded path once more."""
    segs = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    path = "/" + "/".join(segs)
    if raw_path.endswith("/") and segs:
        path += "/"
    return uri_encode(path, keep_slash=True)


def canonical_query(raw_query, exclude=("X-Amz-Signature",)):
    """Sort the decoded-then-re-encoded pairs by name, then value."""
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            if part == "":
                continue
            name, _, value = part.partition("=")
            name = unquote_to_bytes(name.replace("+", "%20"))
            value = unquote_to_bytes(value.replace("+", "%20"))
            if name.decode("utf-8", "replace") in exclude:
                continue
            pairs.append((uri_encode(name), uri_encode(value)))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def _trim(value):
    return re.sub(r"\s+", " ", value.strip())


def canonical_headers(headers, signed):
    """headers: list of (name, value) as received; signed: lower-case names.
    Repeated headers are joined with ',' in the order received."""
    lines = []
    for name in signed:
        vals = [_trim(v) for (n, v) in headers if n.lower() == name]
        lines.append("%s:%s\n" % (name, ",".join(vals)))
    return "".join(lines)


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    return "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      canonical_headers(headers, signed), ";".join(signed),
                      payload_hash])


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope,
                      hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def signing_key(secret, date, region, service):
    k = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
    return k


def signature(secret, date, region, service, sts):
    return hmac.new(signing_key(secret, date, region, service),
                    sts.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(method, raw_path, raw_query, headers, body, access_key, secret, region,
         service, now, token=None):
    """Client side: returns the headers list with X-Amz-Date, the optional
    X-Amz-Security-Token and Authorization added.  headers must hold Host."""
    amz_date = now.strftime(AMZ_DATE_FMT)
    headers = list(headers) + [("X-Amz-Date", amz_date)]
    if token:
        headers.append(("X-Amz-Security-Token", token))
    signed = sorted({n.lower() for (n, _) in headers})
    payload_hash = hashlib.sha256(body).hexdigest()
    creq = canonical_request(method, raw_path, raw_query, headers, signed,
                             payload_hash)
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sig = signature(secret, amz_date[:8], region, service,
                    string_to_sign(amz_date, scope, creq))
    headers.append(("Authorization", "%s Credential=%s/%s, SignedHeaders=%s, "
                    "Signature=%s" % (ALGORITHM, access_key, scope,
                                      ";".join(signed), sig)))
    return headers


_AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$")


def parse_authorization(value):
    """-> dict with Credential, SignedHeaders, Signature; AuthError if bad."""
    if value is None:
        raise AuthError("AuthFailure", 401,
                        "The request is not signed: no Authorization header")
    m = _AUTH_RE.match(value)
    if not m:
        raise AuthError("IncompleteSignature", 400,
                        "Authorization header requires the AWS4-HMAC-SHA256 "
                        "algorithm")
    fields = {}
    for part in m.group(1).split(","):
        name, eq, val = part.strip().partition("=")
        if not eq or name in fields:
            raise AuthError("IncompleteSignature", 400,
                            "Authorization header is malformed near '%s'" % part)
        fields[name] = val
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in fields:
            raise AuthError("IncompleteSignature", 400,
                            "Authorization header requires '%s'" % need)
    return fields


def _header(headers, name):
    vals = [v for (n, v) in headers if n.lower() == name]
    return ",".join(_trim(v) for v in vals) if vals else None


def verify(method, raw_path, raw_query, headers, body, lookup, region, service,
           now, skew=300):
    """Server side.  lookup(access_key_id) -> secret or None.  Raises AuthError
    with the EC2 code and HTTP status; returns the access key id on success.
    Checks, in order: header shape, credential scope (date, region, service),
    x-amz-date freshness, payload hash, key existence, signature."""
    fields = parse_authorization(_header(headers, "authorization"))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("IncompleteSignature", 400,
                        "Credential must be KEY/DATE/REGION/SERVICE/aws4_request")
    akid, cdate, cregion, cservice = cred[:4]
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(set(signed)) or any(s != s.lower() for s in signed):
        raise AuthError("IncompleteSignature", 400,
                        "SignedHeaders must be lower-case, sorted and unique")
    for need in ("host", "x-amz-date"):
        if need not in signed:
            raise AuthError("AuthFailure", 401,
                            "'%s' must be a signed header" % need)
    for name in signed:
        if _header(headers, name) is None:
            raise AuthError("AuthFailure", 401,
                            "signed header '%s' is missing" % name)
    amz_date = _header(headers, "x-amz-date")
    try:
        when = dt.datetime.strptime(amz_date, AMZ_DATE_FMT).replace(
            tzinfo=dt.timezone.utc)
    except ValueError:
        raise AuthError("AuthFailure", 401,
                        "X-Amz-Date '%s' is not YYYYMMDDTHHMMSSZ" % amz_date)
    if cdate != amz_date[:8]:
        raise AuthError("AuthFailure", 401,
                        "Date in Credential scope does not match YYYYMMDD from "
                        "ISO-8601 version of date from HTTP: '%s' != '%s'"
                        % (cdate, amz_date[:8]))
    if cregion != region:
        raise AuthError("AuthFailure", 401,
                        "Credential should be scoped to a valid region, not "
                        "'%s'; expected '%s'" % (cregion, region))
    if cservice != service:
        raise AuthError("AuthFailure", 401,
                        "Credential should be scoped to correct service: '%s'"
                        % service)
    delta = (when - now).total_seconds()
    if delta > skew:
        raise AuthError("AuthFailure", 401,
                        "Signature not yet current: %s is still later than %s"
                        % (amz_date, (now + dt.timedelta(seconds=skew))
                           .strftime(AMZ_DATE_FMT)))
    if delta < -skew:
        raise AuthError("AuthFailure", 401,
                        "Signature expired: %s is now earlier than %s"
                        % (amz_date, (now - dt.timedelta(seconds=skew))
                           .strftime(AMZ_DATE_FMT)))
    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = _header(headers, "x-amz-content-sha256")
    if claimed is not None and claimed != payload_hash:
        raise AuthError("AuthFailure", 401,
                        "x-amz-content-sha256 does not match the body")
    secret = lookup(akid)
    if secret is None:
        raise AuthError("AuthFailure", 401,
                        "AWS was not able to validate the provided access "
                        "credentials")
    creq = canonical_request(method, raw_path, raw_query, headers, signed,
                             payload_hash)
    sts = string_to_sign(amz_date, "/".join(cred[1:]), creq)
    want = signature(secret, cdate, cregion, cservice, sts)
    if not hmac.compare_digest(want, fields["Signature"]):
        # Real AWS shows its canonical request too: it is the fastest way to
        # find which step of the client's signing went wrong.
        raise AuthError("AuthFailure", 401,
                        "AWS was not able to validate the provided access "
                        "credentials: the request signature we calculated does "
                        "not match the signature you provided. The canonical "
                        "request was\n%s\nand the string to sign\n%s" % (creq, sts))
    return akid


def parse_raw_request(text):
    """Parse a test-suite *.txt request: returns method, path, query,
    headers, body.  Header lines may continue on indented lines."""
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, target, _ = lines[0].split(" ", 2)
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            n, v = headers[-1]
            headers[-1] = (n, v + "," + line.strip())
            continue
        n, _, v = line.partition(":")
        headers.append((n, v))
    return method, path, query, headers, body.encode("utf-8")


def _check_vectors(paths):
    """Each file: a signed request from the AWS test suite (service 'service',
    us-east-1, AKIDEXAMPLE, 20150830T123600Z).  Verify it, and verify that a
    one-byte change is refused.  Prints one line per file; exit status."""
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    now = dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc)
    bad = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            req = parse_raw_request(f.read())
        try:
            verify(*req, lambda k: secret if k == "AKIDEXAMPLE" else None,
                   "us-east-1", "service", now)
            ok = True
        except AuthError as e:
            print("%s: refused: %s" % (p, e.message))
            ok = False
        m, path, q, h, body = req
        try:
            verify(m, path, q, h, body + b"x",
                   lambda k: secret if k == "AKIDEXAMPLE" else None,
                   "us-east-1", "service", now)
            print("%s: tampered body accepted" % p)
            ok = False
        except AuthError:
            pass
        print("%s %s" % ("ok" if ok else "FAIL", p))
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--vectors":
        sys.exit(_check_vectors(sys.argv[2:]))
    print("usage: sigv4.py --vectors FILE...", file=sys.stderr)
    sys.exit(64)
