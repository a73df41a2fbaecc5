"""OCI request signatures for the fake OCI: the verifier side of
draft-cavage-http-signatures as OCI profiles it (version "1", algorithm
"rsa-sha256", the Authorization "Signature" scheme), RSA PKCS#1 v1.5 SHA-256
verification with pow() (the standard library has no RSA), a minimal DER
reader for SubjectPublicKeyInfo, and the fake's security tokens (JWT-shaped,
HMAC-signed by the fake).  Standard library only.
"""

import base64
import hashlib
import hmac
import json
import re
import time

# DigestInfo prefix of SHA-256 (RFC 8017 9.2 note 1).
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_OID = bytes.fromhex("2a864886f70d010101")

# Headers OCI requires in the signing string, per method.
GENERIC = ("date", "(request-target)", "host")
BODY = ("content-length", "content-type", "x-content-sha256")
BODY_METHODS = ("PUT", "POST", "PATCH")


class SigError(Exception):
    """401 NotAuthenticated with a reason (never echoes secrets)."""


def der_read(b, i):
    if i + 2 > len(b):
        raise ValueError("truncated DER")
    tag, ln = b[i], b[i + 1]
    i += 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or i + n > len(b):
            raise ValueError("bad DER length")
        ln = int.from_bytes(b[i:i + n], "big")
        i += n
    if i + ln > len(b):
        raise ValueError("truncated DER")
    return tag, b[i:i + ln], i + ln


def spki_rsa(der):
    """SubjectPublicKeyInfo DER -> (n, e); ValueError if not RSA."""
    tag, seq, end = der_read(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SEQUENCE")
    tag, alg, j = der_read(seq, 0)
    if tag != 0x30:
        raise ValueError("no algorithm")
    t2, oid, _ = der_read(alg, 0)
    if t2 != 0x06 or oid != RSA_OID:
        raise ValueError("not an RSA key")
    tag, bits, _ = der_read(seq, j)
    if tag != 0x03 or not bits or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    tag, rsa, _ = der_read(bits[1:], 0)
    tag, n, k = der_read(rsa, 0)
    tag2, e, _ = der_read(rsa, k)
    if tag != 0x02 or tag2 != 0x02:
        raise ValueError("bad RSAPublicKey")
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def pem_body(pem, label):
    m = re.search(r"-----BEGIN %s-----(.*?)-----END %s-----" % (label, label), pem, re.S)
    if not m:
        raise ValueError("no PEM %s" % label)
    return base64.b64decode("".join(m.group(1).split()), validate=True)


def rsa_verify(key, msg, sig):
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    m = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    digest = hashlib.sha256(msg).digest()
    pad = k - 3 - len(SHA256_PREFIX) - len(digest)
    if pad < 8:
        return False
    want = b"\x00\x01" + b"\xff" * pad + b"\x00" + SHA256_PREFIX + digest
    return hmac.compare_digest(m, want)


def parse_authorization(value):
    if not value or not value.startswith("Signature "):
        raise SigError("missing or non-Signature Authorization header")
    params = {}
    for m in re.finditer(r'\s*([A-Za-z]+)="([^"]*)"\s*(,|$)', value[len("Signature "):]):
        if m.group(1) in params:
            raise SigError("duplicate signature parameter %s" % m.group(1))
        params[m.group(1)] = m.group(2)
    for k in ("version", "keyId", "algorithm", "headers", "signature"):
        if k not in params:
            raise SigError("signature parameter %s missing" % k)
    if params["version"] != "1":
        raise SigError("unsupported signature version %r" % params["version"])
    if params["algorithm"] != "rsa-sha256":
        raise SigError("unsupported algorithm %r" % params["algorithm"])
    return params


def signing_string(names, method, target, headers):
    lines = []
    for h in names:
        if h == "(request-target)":
            lines.append("(request-target): %s %s" % (method.lower(), target))
            continue
        v = headers.get(h)
        if v is None:
            raise SigError("signed header %s not in the request" % h)
        lines.append("%s: %s" % (h, v.strip()))
    return "\n".join(lines).encode()


class Verifier:
    """Checks one request; remembers signatures to refuse replays."""

    def __init__(self, skew=300):
        self.skew = skew
        self.seen = {}

    def check(self, method, target, headers, body, key_for, required=None, now=None):
        """headers: lowercase name -> value.  key_for(keyId) -> (n, e) or
        raises SigError.  Returns the keyId."""
        now = time.time() if now is None else now
        p = parse_authorization(headers.get("authorization"))
        names = p["headers"].split()
        need = list(required if required is not None else GENERIC)
        if method in BODY_METHODS:
            need += BODY
        for h in need:
            if h not in names and not (h == "date" and "x-date" in names):
                raise SigError("header %s must be signed for %s" % (h, method))
        dv = headers.get("x-date") or headers.get("date")
        try:
            from email.utils import parsedate_to_datetime
            when = parsedate_to_datetime(dv).timestamp()
        except (TypeError, ValueError, IndexError):
            raise SigError("missing or malformed Date header")
        if abs(now - when) > self.skew:
            raise SigError("Date is more than %d s from the server clock" % self.skew)
        if method in BODY_METHODS:
            want = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if headers.get("x-content-sha256") != want:
                raise SigError("x-content-sha256 does not match the body")
            if headers.get("content-length") != str(len(body)):
                raise SigError("content-length does not match the body")
        key = key_for(p["keyId"])
        try:
            sig = base64.b64decode(p["signature"], validate=True)
        except ValueError:
            raise SigError("signature is not base64")
        if not rsa_verify(key, signing_string(names, method, target, headers), sig):
            raise SigError("signature does not verify")
        for s, t in list(self.seen.items()):
            if now - t > 2 * self.skew:
                del self.seen[s]
        if p["signature"] in self.seen:
            raise SigError("replayed signature")
        self.seen[p["signature"]] = now
        return p["keyId"]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Tokens:
    """Security tokens bound to a session public key."""

    def __init__(self, lifetime=1200):
        self.secret = hashlib.sha256(str(time.time()).encode() + b"fake-oci").digest()
        self.lifetime = lifetime
        self.by_token = {}

    def issue(self, instance, tenancy, key, now=None):
        now = int(time.time() if now is None else now)
        claims = {"sub": instance, "tenant": tenancy, "iss": "authService.oracle.com",
                  "ptype": "instance", "iat": now, "exp": now + self.lifetime,
                  "jti": b64url(hashlib.sha256(str((now, instance, key)).encode()).digest()[:12])}
        head = b64url(json.dumps({"alg": "RS256", "kid": "asw", "typ": "JWT"}).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64url(hmac.new(self.secret, (head + "." + body).encode(), "sha256").digest())
        tok = head + "." + body + "." + sig
        self.by_token[tok] = {"key": key, "exp": claims["exp"], "instance": instance}
        return tok

    def key_for(self, key_id, now=None):
        now = time.time() if now is None else now
        if not key_id.startswith("ST$"):
            raise SigError("keyId is not a security token (ST$...)")
        ent = self.by_token.get(key_id[3:])
        if ent is None:
            raise SigError("unknown security token")
        if now >= ent["exp"]:
            raise SigError("security token expired")
        return ent["key"]

    def expire_all(self):
        for ent in self.by_token.values():
            ent["exp"] = 0
