"""A local WebPush push service (RFC 8030) for the integration tests.

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

The second half of the module is a small reference *sender* (encrypt(),
VapidKey, send_push()) for unit tests and the reference client.  The
server-side checks (decrypt_aes128gcm(), check_vapid()) share no code
with it: the receiving key schedule is written out with hmac, the sending
one uses cryptography's HKDF, and both are pinned by the RFC 8291
Appendix A vector in the unit tests.
"""

import base64
import binascii
import collections
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# RFC 8030 section 7.2: a push service must accept at least this much.
MAX_BODY = 4096
# RFC 8292 section 2: "exp" no further ahead than this.
MAX_EXP_AHEAD = 24 * 3600
URGENCIES = ("very-low", "low", "normal", "high")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_B64U_RE = re.compile(r"^[A-Za-z0-9_-]*$")


# -- encoding helpers --------------------------------------------------

def b64u_encode(data):
    """base64url without padding, as str."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    """Lenient base64url (or standard base64) decoding, padding optional."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


def public_raw(key):
    """The 65-octet uncompressed point of an EC public or private key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def load_private_key(value):
    """A P-256 private key from a key object, a 32-octet scalar (bytes or
    base64url) or PEM; None generates a new one."""
    if value is None:
        return ec.generate_private_key(ec.SECP256R1())
    if isinstance(value, ec.EllipticCurvePrivateKey):
        return value
    if isinstance(value, str):
        value = value.encode("ascii")
    if value.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_private_key(value, password=None)
    if len(value) != 32:
        value = b64u_decode(value)
    return ec.derive_private_key(int.from_bytes(value, "big"), ec.SECP256R1())


def load_public_key(value):
    """A P-256 public key from a key object, a point (raw bytes or
    base64url; compressed or uncompressed), or PEM (str or bytes)."""
    if isinstance(value, ec.EllipticCurvePublicKey):
        return value
    if isinstance(value, ec.EllipticCurvePrivateKey):
        return value.public_key()
    if isinstance(value, str):
        value = value.encode("ascii")
    if value.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(value)
    if len(value) not in (33, 65):
        value = b64u_decode(value)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), value)


def origin_of(url):
    """scheme://host[:port] of url, lowercase, default port omitted: the
    "aud" a VAPID token for that push resource must carry."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = "[%s]" % host
    port = parts.port
    if port is None or port == {"http": 80, "https": 443}.get(scheme):
        return "%s://%s" % (scheme, host)
    return "%s://%s:%d" % (scheme, host, port)


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

class Headers:
    """Request headers in arrival order; names are case-insensitive."""

    def __init__(self, pairs):
        self._pairs = [(str(k), str(v)) for k, v in pairs]

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self._pairs:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self._pairs if k.lower() == name]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._pairs)

    def keys(self):
        return [k for k, _ in self._pairs]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % self._pairs


class PushRequest:
    """One POST received by the service.

    index (1, 2, ... in arrival order), method, path, endpoint (the URL as
    the client addressed it, from Host), headers (Headers, names
    case-insensitive), body (bytes), received (time.time() once the body
    was read), client_address, subscription (None for unknown paths).
    RFC 8030 headers: content_encoding, ttl (int or None) / ttl_raw,
    urgency, topic, webpush_validation (header present).
    Decryption: plaintext (bytes or None), decrypt_error (str or None),
    decrypted (Decrypted: salt, rs, keyid, records, record_sizes), payload
    (parsed JSON or None), json_error, text, validation.
    vapid: VapidResult.  response: the Response chosen; status: the status
    sent (None while delayed or when hung); answered: time sent.
    problems: every protocol violation found, as strings; ok: none."""

    def __init__(self, index, method, path, endpoint, headers, body,
                 received, client_address, subscription):
        self.index = index
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.headers = headers
        self.body = body
        self.received = received
        self.client_address = client_address
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
        self.response = None
        self.status = None
        self.answered = None
        self.problems = []

    @property
    def ok(self):
        """True when none of the checks found a problem."""
        return not self.problems

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

    def __repr__(self):
        return ("PushRequest(#%d %s %s status=%s problems=%r text=%r)"
                % (self.index, self.method, self.path, self.status,
                   self.problems, self.text))


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


# -- scripted responses ------------------------------------------------

class Response:
    """One scripted answer.  status: HTTP status (201 adds a Location
    header); retry_after: value of a Retry-After header (seconds or an
    HTTP date); delay: seconds to wait before answering; hang: never
    answer (the connection is closed only when the service stops);
    headers: extra response headers; body: response body bytes."""

    def __init__(self, status=201, retry_after=None, delay=0.0, hang=False,
                 headers=None, body=b""):
        self.status = status
        self.retry_after = retry_after
        self.delay = delay
        self.hang = hang
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else body

    @classmethod
    def make(cls, item):
        if isinstance(item, Response):
            return item
        if isinstance(item, bool):
            raise TypeError("not a response: %r" % (item,))
        if isinstance(item, int):
            return cls(item)
        if item == "hang":
            return cls(hang=True)
        if isinstance(item, dict):
            return cls(**item)
        raise TypeError("not a response: %r" % (item,))

    def __repr__(self):
        if self.hang:
            return "Response(hang)"
        return "Response(%d%s%s)" % (
            self.status,
            ", retry_after=%s" % self.retry_after
            if self.retry_after is not None else "",
            ", delay=%s" % self.delay if self.delay else "")


class _Behaviour:
    """Response scripting shared by Subscription and PushService: a FIFO of
    one-shot responses, then a persistent default."""

    def _init_behaviour(self, lock):
        self._lock = lock
        self._queue = collections.deque()
        self._default = None

    def _set(self, response, once):
        with self._lock:
            if once:
                self._queue.append(response)
            else:
                self._default = response

    def respond(self, status=201, retry_after=None, delay=0.0, headers=None,
                body=b"", once=False):
        """Answer with status from now on (once=True: queue it for the next
        request only)."""
        self._set(Response(status, retry_after, delay, False, headers, body),
                  once)

    def respond_sequence(self, items):
        """Queue one-shot responses, used in order by the next requests;
        items are status ints, "hang", dicts of Response arguments or
        Response objects.  Afterwards the default applies again."""
        responses = [Response.make(i) for i in items]
        with self._lock:
            self._queue.extend(responses)

    def delay(self, seconds, status=201, once=False):
        """Answer status after seconds (from now on, or once)."""
        self._set(Response(status, delay=seconds), once)

    def hang(self, once=False):
        """Never answer (from now on, or once) until the service stops."""
        self._set(Response(hang=True), once)

    def reset_responses(self):
        """Forget queued responses and the default set here."""
        with self._lock:
            self._queue.clear()
            self._default = None

    def pending_responses(self):
        """How many one-shot responses are still queued."""
        with self._lock:
            return len(self._queue)


# -- subscriptions -------------------------------------------------------

class Subscription(_Behaviour):
    """A push subscription as the user agent holds it.  endpoint is the
    push resource URL on the service; ua_private / ua_public (65 octets)
    the ECDH key pair; auth_secret the 16 octets; p256dh and auth their
    unpadded base64url forms.  Response scripting: respond(), hang(), ..."""

    def __init__(self, service, name, token, ua_private, auth_secret):
        self._init_behaviour(service._cond)
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


# -- the service ---------------------------------------------------------

class PushTimeout(AssertionError):
    pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "coitest-push/1.0"

    def setup(self):
        super().setup()
        self.server.service._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.service._track(self.connection, False)

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.server.service._handle(self)

    def _not_allowed(self):
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed


class PushService(_Behaviour):
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
        self.host = host
        self.port = port
        self.strict = strict
        self.vapid_key = vapid_key
        self.vapid_leeway = vapid_leeway
        self.unknown_response = Response(404)
        self._cond = threading.Condition()
        self._init_behaviour(self._cond)
        self._default = None
        self._requests = []
        self._subs = {}
        self._conns = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self._counter = itertools.count(1)

    # -- lifecycle
    def start(self):
        if self._httpd is not None:
            raise RuntimeError("PushService already started")
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.service = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="pushservice-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening, releases hanging and delayed requests (their
        connections are closed without an answer) and closes every open
        connection.  Returns promptly; safe to call twice."""
        if self._httpd is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def origin(self):
        return "http://%s:%d" % (self.host, self.port)

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

    # -- recorded requests
    def _matches(self, req, sub):
        if sub is None:
            return True
        if isinstance(sub, Subscription):
            return req.subscription is sub
        return req.path == urllib.parse.urlsplit(sub).path

    def requests(self, sub=None):
        """Requests recorded so far, oldest first: all of them (sub None),
        or those to a Subscription, a path or an endpoint URL."""
        with self._cond:
            return [r for r in self._requests if self._matches(r, sub)]

    def wait_for_requests(self, sub=None, count=1, timeout=10.0):
        """Waits until at least count requests matched sub (as in
        requests()) and returns all of them; PushTimeout (an
        AssertionError) after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._requests if self._matches(r, sub)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._cond.wait(left)
        if len(found) < count:
            raise PushTimeout("%d push request(s) for %s after %.1f s, "
                              "wanted %d: %r" % (len(found), sub, timeout,
                                                 count, found))
        return found

    def assert_no_more_requests(self, sub=None, count=0, seconds=1.0):
        """Waits seconds and asserts that no more than count requests
        matched sub by then; returns them."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while True:
                found = [r for r in self._requests if self._matches(r, sub)]
                left = deadline - time.monotonic()
                if len(found) > count or left <= 0:
                    break
                self._cond.wait(left)
        assert len(found) <= count, (
            "expected at most %d push request(s) for %s, got %r"
            % (count, sub, found))
        return found

    # -- request handling
    def _track(self, conn, add):
        with self._cond:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _next_response(self, sub):
        with self._cond:
            if sub is None:
                return self.unknown_response
            if sub._queue:
                return sub._queue.popleft()
            if sub._default is not None:
                return sub._default
            if self._queue:
                return self._queue.popleft()
            return self._default or Response(201)

    @staticmethod
    def _read_body(handler):
        te = handler.headers.get("Transfer-Encoding")
        rfile = handler.rfile
        if te is not None:
            if te.strip().lower() != "chunked":
                raise ValueError("unsupported Transfer-Encoding %r" % te)
            chunks = []
            while True:
                line = rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise ValueError("bad chunk size line")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunk = rfile.read(size)
                if len(chunk) != size or rfile.readline(1024).strip():
                    raise ValueError("truncated chunk")
                chunks.append(chunk)
        length = handler.headers.get("Content-Length")
        if length is None:
            return b""
        length = int(length)
        if length < 0:
            raise ValueError("negative Content-Length")
        body = rfile.read(length)
        if len(body) != length:
            raise ValueError("body shorter than Content-Length")
        return body

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

    def _handle(self, handler):
        try:
            body = self._read_body(handler)
        except ValueError:
            handler.close_connection = True
            handler.send_error(400)
            return
        received = time.time()
        path = urllib.parse.urlsplit(handler.path).path
        host_header = handler.headers.get("Host")
        with self._cond:
            sub = self._subs.get(path)
        req = PushRequest(next(self._counter), handler.command, path,
                          self._expected_aud(host_header) + path,
                          Headers(handler.headers.items()), body, received,
                          handler.client_address, sub)
        try:
            self._analyse(req, host_header)
        except Exception as exc:  # a bug here must not lose the request
            req.problems.append("pushservice internal error: %r" % exc)
            if req.vapid is None:
                req.vapid = VapidResult(self._expected_aud(host_header))
                req.vapid.errors.append("not checked")
        response = self._strict_rejection(req)
        if response is None:
            response = self._next_response(sub)
        with self._cond:
            req.response = response
            self._requests.append(req)
            self._cond.notify_all()
        self._answer(handler, req, response)

    def _answer(self, handler, req, response):
        if response.hang:
            self._stopping.wait()
            handler.close_connection = True
            return
        if response.delay and self._stopping.wait(response.delay):
            handler.close_connection = True
            return
        try:
            handler.send_response(response.status)
            if response.status == 201:
                handler.send_header("Location",
                                    "/message/%d" % req.index)
            if response.retry_after is not None:
                handler.send_header("Retry-After", str(response.retry_after))
            for name, value in response.headers.items():
                handler.send_header(name, str(value))
            handler.send_header("Content-Length", str(len(response.body)))
            # recorded before the client can see the answer
            with self._cond:
                req.status = response.status
                req.answered = time.time()
                self._cond.notify_all()
            handler.end_headers()
            handler.wfile.write(response.body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True


# -- sending side: a reference application server ------------------------

def _hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=info).derive(ikm)


def encrypt(plaintext, p256dh, auth, as_private=None, salt=None, rs=4096,
            pad=0, delimiter=None):
    """An RFC 8291 aes128gcm body for plaintext (bytes, str, or a dict/list
    sent as JSON) to the subscription keys p256dh (65-octet point or
    base64url) and auth (16 octets or base64url).  as_private and salt are
    random unless given (for the RFC vector).  Plaintext longer than
    rs - 17 is split into several records (which RFC 8291 forbids: for
    negative tests); pad zero octets go into the last record; delimiter
    overrides the last record's padding delimiter (0x02), also for
    negative tests."""
    if isinstance(plaintext, (dict, list)):
        plaintext = json.dumps(plaintext).encode()
    elif isinstance(plaintext, str):
        plaintext = plaintext.encode()
    ua_public = load_public_key(p256dh)
    ua_raw = public_raw(ua_public)
    auth = b64u_decode(auth) if isinstance(auth, str) else auth
    as_private = load_private_key(as_private)
    as_raw = public_raw(as_private)
    salt = os.urandom(16) if salt is None else salt
    if isinstance(salt, str):
        salt = b64u_decode(salt)

    ecdh_secret = as_private.exchange(ec.ECDH(), ua_public)
    ikm = _hkdf(auth, ecdh_secret,
                b"WebPush: info\x00" + ua_raw + as_raw, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = int.from_bytes(_hkdf(salt, ikm, b"Content-Encoding: nonce\x00",
                                 12), "big")

    chunk = rs - 17
    if chunk < 1:
        raise ValueError("rs must be at least 18")
    pieces = [plaintext[i:i + chunk]
              for i in range(0, len(plaintext), chunk)] or [b""]
    if len(pieces[-1]) + 17 + pad > rs:
        raise ValueError("padding does not fit into the last record")
    aead = AESGCM(cek)
    out = [salt, rs.to_bytes(4, "big"), bytes([len(as_raw)]), as_raw]
    for seq, piece in enumerate(pieces):
        last = seq == len(pieces) - 1
        if last:
            record = piece + (b"\x02" if delimiter is None
                              else delimiter) + b"\x00" * pad
        else:
            record = piece + b"\x01"
        out.append(aead.encrypt((nonce ^ seq).to_bytes(12, "big"), record,
                                None))
    return b"".join(out)


def _json_b64u(obj):
    return b64u_encode(json.dumps(obj, separators=(",", ":")).encode())


class VapidKey:
    """An application server's VAPID key pair (RFC 8292)."""

    def __init__(self, private_key=None):
        self.private_key = load_private_key(private_key)
        self.public_raw = public_raw(self.private_key)
        self.public_b64 = b64u_encode(self.public_raw)

    def public_pem(self):
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, data):
        """ES256 over data as JWS wants it: raw r||s, 64 octets."""
        r, s = decode_dss_signature(
            self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def jwt(self, aud, sub="mailto:push-test@example.org", exp=None,
            header=None, claims=None):
        """A signed JWT; exp defaults to 12 hours from now.  header/claims
        entries override or (value None) remove the defaults."""
        hdr = {"typ": "JWT", "alg": "ES256"}
        hdr.update(header or {})
        body = {"aud": aud, "exp": int(time.time()) + 12 * 3600
                if exp is None else exp, "sub": sub}
        body.update(claims or {})
        hdr = {k: v for k, v in hdr.items() if v is not None}
        body = {k: v for k, v in body.items() if v is not None}
        signing_input = _json_b64u(hdr) + "." + _json_b64u(body)
        return signing_input + "." + b64u_encode(
            self.sign(signing_input.encode()))

    def authorization(self, aud, **kwargs):
        """The Authorization header value: 'vapid t=<jwt>, k=<key>'."""
        return "vapid t=%s, k=%s" % (self.jwt(aud, **kwargs),
                                     self.public_b64)


class PushResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "PushResponse(%d)" % self.status


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send_push(endpoint, p256dh, auth, plaintext=b"", vapid=None,
              sub="mailto:push-test@example.org", aud=None, exp=None,
              ttl=60, urgency=None, topic=None, validation=False,
              headers=None, body=None, timeout=10.0):
    """POSTs an encrypted push message as an application server would
    (urllib, no proxy) and returns PushResponse(status, headers, body),
    for error statuses too.  vapid: a VapidKey (None: no Authorization);
    aud defaults to the endpoint's origin; validation adds an empty
    WebPush-Validation header; headers add or (value None) remove
    headers; body replaces the encrypted body.  A timeout raises
    TimeoutError."""
    if body is None:
        body = encrypt(plaintext, p256dh, auth)
    hdrs = {"Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm", "TTL": str(ttl)}
    if urgency is not None:
        hdrs["Urgency"] = urgency
    if topic is not None:
        hdrs["Topic"] = topic
    if validation:
        hdrs["WebPush-Validation"] = ""
    if vapid is not None:
        hdrs["Authorization"] = vapid.authorization(
            origin_of(endpoint) if aud is None else aud, sub=sub, exp=exp)
    for name, value in (headers or {}).items():
        for old in [k for k in hdrs if k.lower() == name.lower()]:
            del hdrs[old]
        if value is not None:
            hdrs[name] = value
    request = urllib.request.Request(endpoint, data=body, headers=hdrs,
                                     method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return PushResponse(resp.status, Headers(resp.headers.items()),
                                resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return PushResponse(exc.code, Headers(exc.headers.items()),
                                exc.read())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc.reason))
        raise


# -- Delta Chat notifier ----------------------------------------------------

class Notifier(PushService):
    """A local Delta Chat notifier (the counterpart of
    https://notifications.delta.chat/notify): every POST carries one device
    token as its raw body.  Answers 200 unless scripted: for every token
    with respond()/hang()/respond_sequence() of the service, or for one
    token with for_token(token).respond(...).  requests(token) and
    wait_for_requests(token, count) filter by token; request.token is the
    body as text."""

    def __init__(self, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self._tokens = {}

    @property
    def notify_url(self):
        return self.origin + "/notify"

    def for_token(self, token):
        """The response scripting (_Behaviour) of one token."""
        with self._cond:
            behaviour = self._tokens.get(token)
            if behaviour is None:
                behaviour = _Behaviour()
                behaviour._init_behaviour(self._cond)
                self._tokens[token] = behaviour
            return behaviour

    def _matches(self, req, token):
        return token is None or req.token == token

    def _analyse(self, req, host_header):
        req.token = req.body.decode("utf-8", "replace")
        if req.path != "/notify":
            req.problems.append("POST to %s, not /notify" % req.path)
        if not req.body:
            req.problems.append("empty body")

    def _next_response(self, req):
        with self._cond:
            behaviour = self._tokens.get(req.token)
            if behaviour is not None and behaviour._queue:
                return behaviour._queue.popleft()
            if behaviour is not None and behaviour._default is not None:
                return behaviour._default
            if self._queue:
                return self._queue.popleft()
            return self._default or Response(200)

    def _handle(self, handler):
        try:
            body = self._read_body(handler)
        except ValueError:
            handler.close_connection = True
            handler.send_error(400)
            return
        path = urllib.parse.urlsplit(handler.path).path
        req = PushRequest(next(self._counter), handler.command, path,
                          self.origin + path,
                          Headers(handler.headers.items()), body,
                          time.time(), handler.client_address, None)
        self._analyse(req, handler.headers.get("Host"))
        response = self._next_response(req)
        with self._cond:
            req.response = response
            self._requests.append(req)
            self._cond.notify_all()
        self._answer(handler, req, response)
