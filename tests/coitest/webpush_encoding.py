"""base64url, P-256 keys and origins as both sides of WebPush spell them
(RFC 8291 keys, RFC 8292 VAPID): what the receiver (webpush_receiver) and
the reference sender (webpush_sender) share.  Nothing here encrypts or
verifies, so the two sides' key schedules stay independent."""

import base64
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64u_encode(data):
    """base64url without padding, as str."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    """Lenient base64url (or standard base64) decoding, padding optional."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
