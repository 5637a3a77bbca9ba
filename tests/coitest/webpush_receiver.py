"""The WebPush receiver of the integration tests: a local push service
(RFC 8030) on loopback that the tests subscribe to.

PushService is a threaded HTTP/1.1 server on 127.0.0.1 that accepts push
requests the way a real push service would and records every one of them
as a PushRequest.  Each request is taken apart on arrival: the body is
decrypted (RFC 8188 aes128gcm with RFC 8291 keys), the VAPID
Authorization header (RFC 8292) is verified, and the RFC 8030 headers are
checked, so a test can simply assert ``req.problems == []``.  What the
service answers is scripted per subscription (status codes, Retry-After,
delays, never answering at all).

Subscriptions are the client's side: new_subscription() makes the key
pair and auth secret a user agent would, and .json() gives the
SETMETADATA value of the IMAP WebPush spec.

The checks here (decrypt_aes128gcm(), check_vapid()) share no
cryptographic code with the reference sender (webpush_sender): the
receiving key schedule is written out with hmac, the sending one uses
cryptography's HKDF, and both are pinned by the RFC 8291 Appendix A
vector in the unit tests.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coitest.scripted_http import (
    Headers, RecordedRequest, Response, ScriptedHttpService,
    ScriptedResponses)
from coitest.webpush_encoding import (
    b64u_decode, b64u_encode, load_private_key, load_public_key, origin_of,
    public_raw)

# RFC 8030 section 7.2: a push service must accept at least this much.
MAX_BODY = 4096
# RFC 8292 section 2: "exp" no further ahead than this.
MAX_EXP_AHEAD = 24 * 3600
URGENCIES = ("very-low", "low", "normal", "high")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_B64U_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def _strict_b64u(text, what):
    """base64url as RFC 7515 wants it (no padding); raises ValueError."""
    if "=" in text:
        raise ValueError("%s is padded base64url (RFC 7515 omits '=')" % what)
    if not _B64U_RE.match(text):
        raise ValueError("%s is not base64url" % what)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("%s: bad base64url: %s" % (what, exc))


# -- receiving side: decryption (RFC 8188 + RFC 8291) -------------------

class DecryptError(Exception):
    pass


class Decrypted:
    """What decrypt_aes128gcm() found: plaintext and the header fields."""

    def __init__(self, plaintext, salt, rs, keyid, records, record_sizes):
        self.plaintext = plaintext
        self.salt = salt
        self.rs = rs
        self.keyid = keyid
        self.records = records
        self.record_sizes = record_sizes


def _hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def decrypt_aes128gcm(body, ua_private, auth_secret):
    """Decrypts an RFC 8291 push message body; returns Decrypted or raises
    DecryptError saying what is wrong.  ua_private: the subscription's key
    (anything load_private_key takes); auth_secret: 16 octets."""
    ua_private = load_private_key(ua_private)
    if len(body) < 21:
        raise DecryptError("body of %d octets is shorter than the "
                           "aes128gcm header (21 octets + keyid)" % len(body))
    salt = body[:16]
    rs = int.from_bytes(body[16:20], "big")
    idlen = body[20]
    if len(body) < 21 + idlen:
        raise DecryptError("body ends inside the keyid (idlen %d)" % idlen)
    keyid = body[21:21 + idlen]
    data = body[21 + idlen:]
    if rs < 18:
        raise DecryptError("record size %d is below the minimum of 18" % rs)
    if idlen != 65:
        raise DecryptError("keyid must be the 65-octet uncompressed sender "
                           "public key, idlen is %d" % idlen)
    try:
        as_public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), keyid)
    except ValueError as exc:
        raise DecryptError("keyid is not a P-256 point: %s" % exc)
    if keyid[0] != 4:
        raise DecryptError("keyid is not an uncompressed point")
    if not data:
        raise DecryptError("no records after the header")

    # RFC 8291 section 3.4, written out: HKDF is HMAC-SHA-256 extract,
    # then one HMAC for a single-block expand (info || 0x01).
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_public)
    ua_public = public_raw(ua_private)
    prk_key = _hmac256(auth_secret, ecdh_secret)
    ikm = _hmac256(prk_key, b"WebPush: info\x00" + ua_public + keyid + b"\x01")
    prk = _hmac256(salt, ikm)
    cek = _hmac256(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    base_nonce = int.from_bytes(
        _hmac256(prk, b"Content-Encoding: nonce\x00\x01")[:12], "big")

    records = [data[i:i + rs] for i in range(0, len(data), rs)]
    aead = AESGCM(cek)
    out = []
    for seq, record in enumerate(records):
        last = seq == len(records) - 1
        if len(record) < 17:
            raise DecryptError("record %d has %d octets, less than tag and "
                               "delimiter" % (seq, len(record)))
        nonce = (base_nonce ^ seq).to_bytes(12, "big")
        try:
            plain = aead.decrypt(nonce, record, None)
        except InvalidTag:
            raise DecryptError("record %d: authentication tag mismatch "
                               "(wrong keys/auth secret or corrupted body)"
                               % seq)
        content = plain.rstrip(b"\x00")
        if not content:
            raise DecryptError("record %d has no padding delimiter" % seq)
        delimiter = content[-1]
        want = 2 if last else 1
        if delimiter != want:
            raise DecryptError(
                "record %d (%s) ends with padding delimiter 0x%02x, not "
                "0x%02x" % (seq, "last" if last else "not last", delimiter,
                            want))
        out.append(content[:-1])
    return Decrypted(b"".join(out), salt, rs, keyid, len(records),
                     [len(r) for r in records])


# -- receiving side: VAPID (RFC 8292) ------------------------------------

class VapidResult:
    """The outcome of check_vapid().  ok is True only without errors;
    errors is a list of human-readable strings.  header and claims are the
    decoded JWT parts (None when undecodable), key the 65-octet k= point,
    token the raw JWT, expected_aud what "aud" had to be."""

    def __init__(self, expected_aud):
        self.errors = []
        self.scheme = None
        self.token = None
        self.key = None
        self.key_b64 = None
        self.header = None
        self.claims = None
        self.signature_ok = False
        self.expected_aud = expected_aud

    @property
    def ok(self):
        return not self.errors

    def __repr__(self):
        return "VapidResult(ok=%s, errors=%r, claims=%r)" % (
            self.ok, self.errors, self.claims)


def parse_auth_params(text):
    """'t=a, k="b"' -> {"t": "a", "k": "b"}; raises ValueError."""
    params = {}
    pos = 0
    text = text.strip()
    token_re = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*'
                          r'(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(,|$)')
    while pos < len(text):
        m = token_re.match(text, pos)
        if not m:
            raise ValueError("cannot parse auth-params at %r" % text[pos:])
        name = m.group(1).lower()
        value = m.group(2)
        if value is not None:
            value = re.sub(r"\\(.)", r"\1", value)
        else:
            value = m.group(3)
        if name in params:
            raise ValueError("parameter %s given twice" % name)
        params[name] = value
        pos = m.end()
    return params


def check_vapid(authorization, expected_aud, now=None, leeway=0,
                expected_key=None):
    """Checks an Authorization header value as RFC 8292 wants it:
    scheme "vapid" with t=<JWT> and k=<base64url uncompressed P-256 key>;
    JWT header alg ES256 (typ JWT if present); 64-octet raw r||s ES256
    signature valid for k; claims aud == expected_aud, exp in the future
    and at most 24h (+leeway seconds) ahead of now, sub a mailto: or
    https: URI.  expected_key (optional, anything load_public_key takes)
    pins k.  Returns a VapidResult; never raises."""
    res = VapidResult(expected_aud)
    err = res.errors.append
    now = time.time() if now is None else now
    if authorization is None:
        err("no Authorization header")
        return res
    value = " ".join(authorization.split())
    scheme, _, rest = value.partition(" ")
    res.scheme = scheme
    if scheme.lower() != "vapid":
        err("Authorization scheme is %r, not vapid" % scheme)
        return res
    try:
        params = parse_auth_params(rest)
    except ValueError as exc:
        err("Authorization: %s" % exc)
        return res
    for name in ("t", "k"):
        if not params.get(name):
            err("Authorization has no %s= parameter" % name)
    if res.errors:
        return res
    res.token = params["t"]
    res.key_b64 = params["k"]

    public_key = None
    try:
        res.key = _strict_b64u(params["k"], "k")
        if len(res.key) != 65 or res.key[0] != 4:
            raise ValueError("k is %d octets, not a 65-octet uncompressed "
                             "P-256 point" % len(res.key))
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), res.key)
    except ValueError as exc:
        err(str(exc))
    if public_key is not None and expected_key is not None:
        if public_raw(load_public_key(expected_key)) != res.key:
            err("k is not the expected VAPID key")

    parts = res.token.split(".")
    if len(parts) != 3:
        err("JWT has %d parts, not 3" % len(parts))
        return res
    try:
        res.header = json.loads(_strict_b64u(parts[0], "JWT header"))
        res.claims = json.loads(_strict_b64u(parts[1], "JWT claims"))
        signature = _strict_b64u(parts[2], "JWT signature")
    except ValueError as exc:  # includes JSONDecodeError
        err(str(exc))
        return res
    if not isinstance(res.header, dict) or not isinstance(res.claims, dict):
        err("JWT header and claims must be JSON objects")
        return res

    if res.header.get("alg") != "ES256":
        err("JWT alg is %r, not ES256" % res.header.get("alg"))
    typ = res.header.get("typ")
    if typ is not None and str(typ).upper() != "JWT":
        err("JWT typ is %r, not JWT" % typ)
    if len(signature) != 64:
        err("JWT signature is %d octets, not the 64-octet r||s of JWS ES256"
            "%s" % (len(signature),
                    " (DER-encoded?)" if signature[:1] == b"\x30" else ""))
    elif public_key is not None:
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        try:
            public_key.verify(der, (parts[0] + "." + parts[1]).encode(),
                              ec.ECDSA(hashes.SHA256()))
            res.signature_ok = True
        except InvalidSignature:
            err("JWT signature does not verify with k")

    claims = res.claims
    if "aud" not in claims:
        err("JWT has no aud claim")
    elif claims["aud"] != expected_aud:
        err("JWT aud is %r, expected %r" % (claims["aud"], expected_aud))
    exp = claims.get("exp")
    if exp is None:
        err("JWT has no exp claim")
    elif isinstance(exp, bool) or not isinstance(exp, (int, float)):
        err("JWT exp %r is not a number" % (exp,))
    elif exp <= now:
        err("JWT exp %s is not in the future (now %d)" % (exp, now))
    elif exp > now + MAX_EXP_AHEAD + leeway:
        err("JWT exp %s is %.0f s ahead, more than 24 hours"
            % (exp, exp - now))
    sub = claims.get("sub")
    if sub is None:
        err("JWT has no sub claim")
    elif not isinstance(sub, str) or not sub.startswith(("mailto:",
                                                          "https:")):
        err("JWT sub %r is not a mailto: or https: URI" % (sub,))
    return res


# -- recorded requests -------------------------------------------------

class PushRequest(RecordedRequest):
    """One POST received by the service: a RecordedRequest (index, method,
    path, endpoint as addressed by Host, headers, body, received,
    client_address, response, status, answered, problems, ok) and what
    the WebPush checks found.

    subscription: the Subscription addressed (None for unknown paths).
    RFC 8030 headers: content_encoding, ttl (int or None) / ttl_raw,
    urgency, topic, webpush_validation (header present).
    Decryption: plaintext (bytes or None), decrypt_error (str or None),
    decrypted (Decrypted: salt, rs, keyid, records, record_sizes), payload
    (parsed JSON or None), json_error, text, validation.
    vapid: VapidResult."""

    def __init__(self, index, method, path, endpoint, headers, body,
                 received, client_address, subscription):
        super().__init__(index, method, path, endpoint, headers, body,
                         received, client_address)
        self.subscription = subscription
        self.content_encoding = headers.get("Content-Encoding")
        self.ttl_raw = headers.get("TTL")
        self.ttl = None
        if self.ttl_raw is not None and re.match(r"^\s*\d+\s*$",
                                                 self.ttl_raw):
            self.ttl = int(self.ttl_raw)
        self.urgency = headers.get("Urgency")
        self.topic = headers.get("Topic")
        self.webpush_validation = "WebPush-Validation" in headers
        self.plaintext = None
        self.decrypt_error = None
        self.decrypted = None
        self.payload = None
        self.json_error = None
        self.vapid = None

    @property
    def text(self):
        """The plaintext as str (None if it did not decrypt)."""
        if self.plaintext is None:
            return None
        return self.plaintext.decode("utf-8", errors="replace")

    @property
    def validation(self):
        """The "validation" value of a validation payload, or None."""
        if isinstance(self.payload, dict):
            return self.payload.get("validation")
        return None

    def _detail(self):
        return " text=%r" % self.text


def validation_token(request):
    """The "validation" value of a decrypted validation push message;
    AssertionError (with the reason) when request is not one."""
    assert request.plaintext is not None, (
        "validation push did not decrypt: %s" % request.decrypt_error)
    assert isinstance(request.payload, dict), (
        "validation push payload is not a JSON object: %r" % request.text)
    assert "validation" in request.payload, (
        "payload has no validation element: %r" % request.payload)
    value = request.payload["validation"]
    assert isinstance(value, str), "validation is not a string: %r" % value
    return value


# -- subscriptions -------------------------------------------------------

class Subscription(ScriptedResponses):
    """A push subscription as the user agent holds it.  endpoint is the
    push resource URL on the service; ua_private / ua_public (65 octets)
    the ECDH key pair; auth_secret the 16 octets; p256dh and auth their
    unpadded base64url forms.  Response scripting: respond(), hang(), ..."""

    def __init__(self, service, name, token, ua_private, auth_secret):
        super().__init__(service._cond)
        self.service = service
        self.name = name
        self.token = token
        self.path = "/push/" + token
        self.endpoint = service.url(token)
        self.ua_private = ua_private
        self.ua_public = public_raw(ua_private)
        self.auth_secret = auth_secret
        self.p256dh = b64u_encode(self.ua_public)
        self.auth = b64u_encode(auth_secret)

    @property
    def keys(self):
        return {"p256dh": self.p256dh, "auth": self.auth}

    @property
    def resource(self):
        return {"endpoint": self.endpoint, "keys": self.keys}

    def data(self, client="coitest", device="pytest", msgtype="all",
             **extra):
        """The subscription object of the IMAP WebPush spec; a None
        argument leaves that key out, extra keys are added as given."""
        obj = {"client": client, "device": device, "msgtype": msgtype,
               "resource": self.resource}
        obj.update(extra)
        return {k: v for k, v in obj.items() if v is not None}

    def json(self, client="coitest", device="pytest", msgtype="all",
             **extra):
        """data() serialised: the value for SETMETADATA."""
        return json.dumps(self.data(client, device, msgtype, **extra))

    def decrypt(self, body):
        """decrypt_aes128gcm() with this subscription's keys: plaintext."""
        return decrypt_aes128gcm(body, self.ua_private,
                                 self.auth_secret).plaintext

    def requests(self):
        return self.service.requests(self)

    def wait_for_requests(self, count=1, timeout=10.0):
        return self.service.wait_for_requests(self, count, timeout)

    def __repr__(self):
        return "Subscription(%s, %s)" % (self.name, self.endpoint)


class PushService(ScriptedHttpService):
    """A local WebPush push service.

    with PushService() as push:
        sub = push.new_subscription("alice")
        ... give sub.json() to the IMAP server ...
        req, = push.wait_for_requests(sub, 1)
        assert req.ok, req.problems

    Requests to a path without a subscription are recorded with
    subscription None and answered unknown_response (404).  With
    strict=True the service also rejects like a real one: 400 for a
    missing/invalid TTL, Urgency or Topic, a Content-Encoding other than
    aes128gcm or a body that does not decrypt, 401 for a failed VAPID
    check (403 when only the pinned key differs), 413 for a body over
    4096 octets; scripted responses are not consumed by rejected requests.
    vapid_key pins the VAPID public key k= must carry (PEM, point or key
    object); vapid_leeway allows exp that many seconds beyond 24h."""

    def __init__(self, host="127.0.0.1", port=0, strict=False,
                 vapid_key=None, vapid_leeway=0):
        super().__init__(host, port)
        self.strict = strict
        self.vapid_key = vapid_key
        self.vapid_leeway = vapid_leeway
        self.unknown_response = Response(404)
        self._subs = {}

    def url(self, path=""):
        """http://HOST:PORT/push/<path>"""
        if self._httpd is None:
            raise RuntimeError("PushService not started: no port yet")
        return "%s/push/%s" % (self.origin, path.lstrip("/"))

    # -- subscriptions
    def new_subscription(self, name=None, ua_private=None, auth=None):
        """A new client-side subscription with a unique endpoint.
        ua_private (key, 32-octet scalar or base64url) and auth (16 octets
        or base64url) default to fresh random ones."""
        ua_private = load_private_key(ua_private)
        if auth is None:
            auth = os.urandom(16)
        elif isinstance(auth, str):
            auth = b64u_decode(auth)
        token = os.urandom(12).hex()
        if name:
            token = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] + "-" + token
        sub = Subscription(self, name or token, token, ua_private, auth)
        with self._cond:
            self._subs[sub.path] = sub
        return sub

    def subscription(self, path_or_url):
        """The Subscription for a path or endpoint URL, or None."""
        path = urllib.parse.urlsplit(path_or_url).path
        with self._cond:
            return self._subs.get(path)

    # -- recorded requests: requests(sub), wait_for_requests(sub, count),
    # assert_no_more_requests(sub, count) take a Subscription, a path or
    # an endpoint URL, or None for every request
    def _matches(self, req, sub):
        if sub is None:
            return True
        if isinstance(sub, Subscription):
            return req.subscription is sub
        return req.path == urllib.parse.urlsplit(sub).path

    # -- request handling
    def _new_request(self, index, handler, path, body, received):
        host_header = handler.headers.get("Host")
        with self._cond:
            sub = self._subs.get(path)
        req = PushRequest(index, handler.command, path,
                          self._expected_aud(host_header) + path,
                          Headers(handler.headers.items()), body, received,
                          handler.client_address, sub)
        try:
            self._analyse(req, host_header)
        except Exception as exc:  # a bug here must not lose the request
            req.problems.append("push service internal error: %r" % exc)
            if req.vapid is None:
                req.vapid = VapidResult(self._expected_aud(host_header))
                req.vapid.errors.append("not checked")
        return req

    def _next_response(self, req):
        # a strict rejection leaves the scripted responses for the next
        # request, as a real push service never gets that far
        rejection = self._strict_rejection(req)
        if rejection is not None:
            return rejection
        sub = req.subscription
        with self._cond:
            if sub is None:
                return self.unknown_response
            return sub._take() or self._take() or Response(201)

    def _expected_aud(self, host_header):
        if host_header:
            return origin_of("http://" + host_header.strip())
        return self.origin

    def _analyse(self, req, host_header):
        problems = req.problems
        if not host_header:
            problems.append("no Host header")
        if req.content_encoding is None:
            problems.append("no Content-Encoding header")
        elif req.content_encoding.strip().lower() != "aes128gcm":
            problems.append("Content-Encoding is %r, not aes128gcm"
                            % req.content_encoding)
        if req.ttl_raw is None:
            problems.append("no TTL header (RFC 8030 requires one)")
        elif req.ttl is None:
            problems.append("TTL %r is not a non-negative integer"
                            % req.ttl_raw)
        if req.urgency is not None and req.urgency.strip() not in URGENCIES:
            problems.append("Urgency %r is not one of %s"
                            % (req.urgency, ", ".join(URGENCIES)))
        if req.topic is not None and not _TOPIC_RE.match(req.topic.strip()):
            problems.append("Topic %r is not 1-32 base64url characters"
                            % req.topic)
        wv = req.headers.get("WebPush-Validation")
        if wv is not None and wv.strip():
            problems.append("WebPush-Validation has a value (%r); the spec "
                            "sends it without one" % wv)
        if len(req.body) > MAX_BODY:
            problems.append("body is %d octets, more than %d"
                            % (len(req.body), MAX_BODY))

        sub = req.subscription
        if sub is None:
            req.decrypt_error = "no subscription at %s" % req.path
        else:
            try:
                dec = decrypt_aes128gcm(req.body, sub.ua_private,
                                        sub.auth_secret)
            except DecryptError as exc:
                req.decrypt_error = str(exc)
            else:
                req.decrypted = dec
                req.plaintext = dec.plaintext
                if dec.records != 1:
                    problems.append("%d records; RFC 8291 wants exactly one"
                                    % dec.records)
                elif dec.record_sizes[0] >= dec.rs:
                    problems.append("rs %d is not larger than the record "
                                    "(%d octets) as RFC 8291 requires"
                                    % (dec.rs, dec.record_sizes[0]))
        if req.decrypt_error is not None:
            problems.append("decryption: " + req.decrypt_error)
        if req.plaintext is not None:
            try:
                req.payload = json.loads(req.plaintext.decode("utf-8"))
            except ValueError as exc:
                req.json_error = str(exc)

        req.vapid = check_vapid(req.headers.get("Authorization"),
                                self._expected_aud(host_header),
                                now=req.received, leeway=self.vapid_leeway,
                                expected_key=self.vapid_key)
        problems.extend("vapid: " + e for e in req.vapid.errors)

    def _strict_rejection(self, req):
        if not self.strict:
            return None
        if len(req.body) > MAX_BODY:
            return Response(413)
        if (req.ttl is None
                or (req.content_encoding or "").strip().lower() != "aes128gcm"
                or (req.urgency is not None
                    and req.urgency.strip() not in URGENCIES)
                or (req.topic is not None
                    and not _TOPIC_RE.match(req.topic.strip()))
                or (req.subscription is not None
                    and req.decrypt_error is not None)):
            return Response(400)
        if not req.vapid.ok:
            if req.vapid.errors == ["k is not the expected VAPID key"]:
                return Response(403)
            return Response(401)
        return None
