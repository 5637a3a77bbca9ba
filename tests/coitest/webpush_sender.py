"""A small reference WebPush *sender* (an application server: RFC 8291
encryption, RFC 8292 VAPID): encrypt(), VapidKey, send_push().  The unit
tests drive the receiver (webpush_receiver) with it, including with the
broken bodies and tokens a real sender must never produce.

It shares no cryptographic code with the receiver (webpush_receiver): the
sending key schedule uses cryptography's HKDF, the receiving one is written
out with hmac, and both are pinned by the RFC 8291 Appendix A vector in the
unit tests, so a mistake on one side cannot hide behind the same mistake
on the other."""

import json
import os
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coitest.scripted_http import Headers
from coitest.webpush_encoding import (
    b64u_decode, b64u_encode, load_private_key, load_public_key, origin_of,
    public_raw)


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
