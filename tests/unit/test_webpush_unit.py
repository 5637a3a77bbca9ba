"""The WebPush receiver (coitest.webpush_receiver) and the reference
sender (coitest.webpush_sender) checked on their own: the receiver
decrypts the RFC 8291 example, verifies VAPID, catches what is wrong, and
answers as scripted.  Only the PushService itself listens here."""

import http.client
import json
import socket
import threading
import time

import pytest

from coitest.scripted_http import PushTimeout, Response
from coitest.webpush_encoding import (
    b64u_decode, b64u_encode, load_private_key, origin_of, public_raw)
from coitest.webpush_receiver import (
    DecryptError, PushService, check_vapid, decrypt_aes128gcm,
    validation_token)
from coitest.webpush_sender import VapidKey, encrypt, send_push

# RFC 8291 Appendix A (also /work/shared/specs/rfc8291-vector.txt);
# base64url without padding.
VECTOR = {
    "plaintext": "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24",
    "as_private": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
    "as_public": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
                 "WAmS6TlzAC8wEqKK6PBru3jl7A8",
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "ua_public": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4"
                 "bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "salt": "DGv6ra1nlYgDCS1FRnbzlw",
    "auth": "BTBZMqHH6r4Tts7J_aSIgg",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
            "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
            "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    "ciphertext": "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVk"
                  "HsUoEsbI_0LpXMuGvnzQ",
}
PLAINTEXT = b"When I grow up, I want to be a watermelon"


def v(name):
    return b64u_decode(VECTOR[name])


@pytest.fixture
def vapid():
    return VapidKey()


def send(sub, plaintext=b"{}", **kwargs):
    return send_push(sub.endpoint, sub.p256dh, sub.auth, plaintext, **kwargs)


def one_request(push, sub):
    reqs = push.wait_for_requests(sub, 1, timeout=5)
    assert len(reqs) == 1, reqs
    return reqs[0]


# -- the RFC 8291 vector -----------------------------------------------------

def test_vector_is_consistent():
    assert v("plaintext") == PLAINTEXT
    assert public_raw(load_private_key(VECTOR["ua_private"])) == v("ua_public")
    assert public_raw(load_private_key(VECTOR["as_private"])) == v("as_public")
    assert v("body")[-len(v("ciphertext")):] == v("ciphertext")


def test_vector_body_decrypts_on_the_receiving_side():
    dec = decrypt_aes128gcm(v("body"), VECTOR["ua_private"], v("auth"))
    assert dec.plaintext == PLAINTEXT
    assert dec.salt == v("salt")
    assert dec.rs == 4096
    assert dec.keyid == v("as_public")
    assert dec.records == 1


def test_reference_encrypter_reproduces_the_vector_body():
    body = encrypt(PLAINTEXT, VECTOR["ua_public"], VECTOR["auth"],
                   as_private=VECTOR["as_private"], salt=VECTOR["salt"])
    assert body == v("body")


def test_vector_with_the_wrong_auth_secret_does_not_decrypt():
    wrong = bytearray(v("auth"))
    wrong[0] ^= 1
    with pytest.raises(DecryptError, match="authentication tag"):
        decrypt_aes128gcm(v("body"), VECTOR["ua_private"], bytes(wrong))


def test_vector_with_the_wrong_ua_key_does_not_decrypt():
    with pytest.raises(DecryptError, match="authentication tag"):
        decrypt_aes128gcm(v("body"), load_private_key(None), v("auth"))


@pytest.mark.parametrize("offset", [0, 15, 21, 50, 86, 100, -1])
def test_vector_with_any_octet_changed_does_not_decrypt(offset):
    """salt, keyid (points off the curve or another key), ciphertext, tag"""
    body = bytearray(v("body"))
    body[offset] ^= 0x40
    with pytest.raises(DecryptError):
        decrypt_aes128gcm(bytes(body), VECTOR["ua_private"], v("auth"))


@pytest.mark.parametrize("body,message", [
    (b"", "shorter than"),
    (v("body")[:21], "keyid"),
    (v("body")[:86], "no records"),
    (v("body")[:100], "less than tag"),
    (v("body")[:16] + b"\0\0\0\x11" + v("body")[20:], "minimum of 18"),
    (v("body")[:16] + b"\0\0\0\x20" + v("body")[20:], "authentication tag"),
], ids=["empty", "no-keyid", "no-records", "short-record", "rs-17",
        "rs-32"])
def test_malformed_bodies_say_what_is_wrong(body, message):
    with pytest.raises(DecryptError, match=message):
        decrypt_aes128gcm(body, VECTOR["ua_private"], v("auth"))


def test_idlen_other_than_65_is_refused():
    body = v("body")
    short = body[:20] + b"\x20" + body[21:21 + 32] + body[86:]
    with pytest.raises(DecryptError, match="idlen is 32"):
        decrypt_aes128gcm(short, VECTOR["ua_private"], v("auth"))


# -- padding and records -----------------------------------------------------

def keys():
    ua = load_private_key(None)
    auth = b"0123456789abcdef"
    return ua, public_raw(ua), auth


def test_padding_is_removed():
    ua, pub, auth = keys()
    body = encrypt(b"hello", pub, auth, pad=300)
    dec = decrypt_aes128gcm(body, ua, auth)
    assert dec.plaintext == b"hello"
    assert dec.record_sizes == [5 + 1 + 300 + 16]


def test_empty_plaintext():
    ua, pub, auth = keys()
    assert decrypt_aes128gcm(encrypt(b"", pub, auth), ua, auth).plaintext \
        == b""


@pytest.mark.parametrize("delimiter,message", [
    (b"\x01", "delimiter 0x01, not 0x02"),
    (b"\x03", "delimiter 0x03"),
    (b"\x02\x07", "delimiter 0x07"),      # padding must be zeros
    (b"", "delimiter 0x6f"),              # no delimiter: last octet "o"
])
def test_wrong_padding_delimiter_is_refused(delimiter, message):
    ua, pub, auth = keys()
    body = encrypt(b"hello", pub, auth, delimiter=delimiter)
    with pytest.raises(DecryptError, match=message):
        decrypt_aes128gcm(body, ua, auth)


def test_only_zeros_is_refused():
    ua, pub, auth = keys()
    body = encrypt(b"", pub, auth, delimiter=b"\x00")
    with pytest.raises(DecryptError, match="no padding delimiter"):
        decrypt_aes128gcm(body, ua, auth)


def test_several_records_decrypt_but_are_reported(push, vapid):
    sub = push.new_subscription()
    plaintext = b"x" * 50
    body = encrypt(plaintext, sub.p256dh, sub.auth, rs=30)
    dec = decrypt_aes128gcm(body, sub.ua_private, sub.auth_secret)
    assert dec.plaintext == plaintext
    assert dec.records == 4
    send(sub, body=body, vapid=vapid)
    req = one_request(push, sub)
    assert req.plaintext == plaintext
    assert req.problems == ["4 records; RFC 8291 wants exactly one"]


def test_record_size_must_exceed_the_record(push, vapid):
    sub = push.new_subscription()
    body = encrypt(b"abc", sub.p256dh, sub.auth, rs=3 + 17)
    send(sub, body=body, vapid=vapid)
    req = one_request(push, sub)
    assert req.plaintext == b"abc"
    assert req.problems == ["rs 20 is not larger than the record (20 octets)"
                            " as RFC 8291 requires"]


# -- subscriptions -----------------------------------------------------------

def test_subscription_json_follows_the_spec(push):
    sub = push.new_subscription("alice")
    data = json.loads(sub.json(client="c", device="d", msgtype="chat"))
    assert data == {"client": "c", "device": "d", "msgtype": "chat",
                    "resource": {"endpoint": sub.endpoint,
                                 "keys": {"p256dh": sub.p256dh,
                                          "auth": sub.auth}}}
    assert "=" not in sub.p256dh + sub.auth
    assert b64u_decode(sub.p256dh) == sub.ua_public == public_raw(
        sub.ua_private)
    assert len(sub.ua_public) == 65 and sub.ua_public[0] == 4
    assert b64u_decode(sub.auth) == sub.auth_secret
    assert len(sub.auth_secret) == 16
    assert sub.endpoint.startswith("http://127.0.0.1:%d/push/" % push.port)
    assert sub.endpoint == push.url(sub.token)
    assert len(sub.endpoint) <= 512


def test_subscription_json_options(push):
    sub = push.new_subscription()
    data = json.loads(sub.json(msgtype=None, extra="x"))
    assert "msgtype" not in data and data["extra"] == "x"
    assert data["client"] == "coitest" and data["device"] == "pytest"
    assert json.loads(sub.json())["msgtype"] == "all"


def test_subscriptions_are_unique(push):
    subs = [push.new_subscription("same") for _ in range(5)]
    assert len({s.endpoint for s in subs}) == 5
    assert len({s.p256dh for s in subs}) == 5
    assert len({s.auth for s in subs}) == 5
    assert push.subscription(subs[2].endpoint) is subs[2]
    assert push.subscription(subs[3].path) is subs[3]


def test_subscription_with_the_vector_keys(push):
    sub = push.new_subscription(ua_private=VECTOR["ua_private"],
                                auth=VECTOR["auth"])
    assert sub.p256dh == VECTOR["ua_public"]
    assert sub.auth == VECTOR["auth"]
    assert sub.decrypt(v("body")) == PLAINTEXT


def test_url(push):
    assert push.url("abc") == "http://127.0.0.1:%d/push/abc" % push.port
    assert push.url("/abc") == push.url("abc")
    assert PushService().port == 0
    with pytest.raises(RuntimeError):
        PushService().url("x")


# -- the whole request -------------------------------------------------------

def test_vector_body_posted_to_the_service_decrypts(push):
    sub = push.new_subscription(ua_private=VECTOR["ua_private"],
                                auth=VECTOR["auth"])
    resp = send(sub, body=v("body"))
    assert resp.status == 201
    req = one_request(push, sub)
    assert req.body == v("body")
    assert req.plaintext == PLAINTEXT
    assert req.decrypt_error is None
    assert req.payload is None and req.json_error
    # no VAPID was sent: that is the only thing wrong
    assert not req.vapid.ok
    assert req.problems == ["vapid: no Authorization header"]


def test_round_trip(push, vapid):
    sub = push.new_subscription("bob")
    payload = {"from-email": "alice@example.org", "subject": "Grüße",
               "uid": 7}
    before = time.time()
    resp = send(sub, payload, vapid=vapid, ttl=300, urgency="high",
                topic="chat-1")
    after = time.time()
    assert resp.status == 201
    assert resp.headers["Location"].startswith("/message/")
    req = one_request(push, sub)
    assert req.ok, req.problems
    assert req.subscription is sub
    assert req.method == "POST"
    assert req.path == sub.path
    assert req.endpoint == sub.endpoint
    assert before <= req.received <= after
    assert req.status == 201 and req.answered >= req.received
    assert req.plaintext == json.dumps(payload).encode()
    assert req.payload == payload
    assert req.content_encoding == "aes128gcm"
    assert req.ttl == 300 and req.ttl_raw == "300"
    assert req.urgency == "high"
    assert req.topic == "chat-1"
    assert req.webpush_validation is False
    assert req.validation is None
    assert req.headers["ttl"] == req.headers["TTL"] == "300"
    assert "content-encoding" in req.headers
    assert req.decrypted.records == 1 and req.decrypted.rs == 4096
    assert req.vapid.ok and req.vapid.signature_ok
    assert req.vapid.key == vapid.public_raw
    assert req.vapid.header["alg"] == "ES256"
    assert req.vapid.claims["aud"] == "http://127.0.0.1:%d" % push.port
    assert req.vapid.claims["sub"] == "mailto:push-test@example.org"
    assert push.requests() == [req] == sub.requests()


def test_validation_push(push, vapid):
    sub = push.new_subscription()
    send(sub, {"validation": "abc$123$xyz"}, vapid=vapid, validation=True)
    req = one_request(push, sub)
    assert req.ok, req.problems
    assert req.webpush_validation
    assert req.headers["WebPush-Validation"] == ""
    assert validation_token(req) == "abc$123$xyz" == req.validation


def test_validation_token_explains_failures(push, vapid):
    sub = push.new_subscription()
    send(sub, {"other": 1}, vapid=vapid)
    send(sub, b"not json", vapid=vapid)
    send_push(sub.endpoint, sub.p256dh, b"x" * 16, b"{}", vapid=vapid)
    no_key, not_json, wrong_auth = push.wait_for_requests(sub, 3)
    with pytest.raises(AssertionError, match="no validation element"):
        validation_token(no_key)
    with pytest.raises(AssertionError, match="not a JSON object"):
        validation_token(not_json)
    with pytest.raises(AssertionError, match="did not decrypt"):
        validation_token(wrong_auth)


def test_wrong_auth_secret_records_a_decryption_error(push, vapid):
    sub = push.new_subscription()
    resp = send_push(sub.endpoint, sub.p256dh, b"\x01" * 16, b"{}",
                     vapid=vapid)
    assert resp.status == 201   # recorded, not refused (strict=False)
    req = one_request(push, sub)
    assert req.plaintext is None and req.payload is None
    assert "authentication tag" in req.decrypt_error
    assert not req.ok
    assert req.problems == ["decryption: " + req.decrypt_error]
    assert req.vapid.ok


def test_key_of_another_subscription_records_a_decryption_error(push, vapid):
    sub, other = push.new_subscription(), push.new_subscription()
    send_push(sub.endpoint, other.p256dh, sub.auth, b"{}", vapid=vapid)
    req = one_request(push, sub)
    assert req.plaintext is None and "authentication tag" in req.decrypt_error


# -- VAPID -------------------------------------------------------------------

def tamper_signature(token):
    head, claims, sig = token.split(".")
    raw = bytearray(b64u_decode(sig))
    raw[10] ^= 1
    return "%s.%s.%s" % (head, claims, b64u_encode(bytes(raw)))


def der_signature(token, key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    head, claims, _ = token.split(".")
    der = key.private_key.sign((head + "." + claims).encode(),
                               ec.ECDSA(hashes.SHA256()))
    return "%s.%s.%s" % (head, claims, b64u_encode(der))


def swap_claims(token, claims):
    head, _, sig = token.split(".")
    return "%s.%s.%s" % (head, b64u_encode(json.dumps(claims).encode()), sig)


def post_with_auth(push, vapid, make_auth, **kwargs):
    sub = push.new_subscription()
    aud = "http://127.0.0.1:%d" % push.port
    send(sub, headers={"Authorization": make_auth(aud)}, vapid=vapid,
         **kwargs)
    req = one_request(push, sub)
    assert req.plaintext == b"{}"
    return req


def test_vapid_baseline_passes(push, vapid):
    req = post_with_auth(push, vapid, lambda aud: vapid.authorization(aud))
    assert req.vapid.ok and req.ok


@pytest.mark.parametrize("make_auth,message", [
    (lambda k, aud: "vapid t=%s, k=%s" % (tamper_signature(k.jwt(aud)),
                                          k.public_b64),
     "signature does not verify"),
    (lambda k, aud: "vapid t=%s, k=%s" % (
        swap_claims(k.jwt(aud), {"aud": aud, "exp": int(time.time()) + 60,
                                 "sub": "mailto:evil@example.org"}),
        k.public_b64),
     "signature does not verify"),
    (lambda k, aud: "vapid t=%s, k=%s" % (der_signature(k.jwt(aud), k),
                                          k.public_b64),
     "DER-encoded"),
    (lambda k, aud: "vapid t=%s, k=%s" % (k.jwt(aud), VapidKey().public_b64),
     "signature does not verify"),
    (lambda k, aud: k.authorization("http://127.0.0.1"),
     "aud is 'http://127.0.0.1', expected"),
    (lambda k, aud: k.authorization(aud + "/"), "aud is"),
    (lambda k, aud: k.authorization(aud.replace("http:", "https:")),
     "aud is"),
    (lambda k, aud: k.authorization("http://push.example.net"), "aud is"),
    (lambda k, aud: k.authorization(aud, claims={"aud": None}),
     "no aud claim"),
    (lambda k, aud: k.authorization(aud, exp=int(time.time()) + 25 * 3600),
     "more than 24 hours"),
    (lambda k, aud: k.authorization(aud, exp=int(time.time()) - 10),
     "not in the future"),
    (lambda k, aud: k.authorization(aud, claims={"exp": None}),
     "no exp claim"),
    (lambda k, aud: k.authorization(aud, claims={"exp": "soon"}),
     "not a number"),
    (lambda k, aud: k.authorization(aud, sub=None), "no sub claim"),
    (lambda k, aud: k.authorization(aud, sub="push@example.org"),
     "not a mailto: or https: URI"),
    (lambda k, aud: k.authorization(aud, sub="http://example.org"),
     "not a mailto: or https: URI"),
    (lambda k, aud: k.authorization(aud, header={"alg": "HS256"}),
     "alg is 'HS256'"),
    (lambda k, aud: k.authorization(aud, header={"typ": "JWS"}),
     "typ is 'JWS'"),
    (lambda k, aud: k.authorization(aud) + "=", "k is padded"),
    (lambda k, aud: "vapid t=%s" % k.jwt(aud), "no k= parameter"),
    (lambda k, aud: "vapid k=%s" % k.public_b64, "no t= parameter"),
    (lambda k, aud: "WebPush %s" % k.jwt(aud), "scheme is 'WebPush'"),
    (lambda k, aud: "vapid t=a.b, k=%s" % k.public_b64, "2 parts"),
    (lambda k, aud: "vapid t=%s, k=%s" % (
        k.jwt(aud), b64u_encode(k.public_raw[:33])), "not a 65-octet"),
])
def test_vapid_failures_are_recorded(push, vapid, make_auth, message):
    req = post_with_auth(push, vapid, lambda aud: make_auth(vapid, aud))
    assert not req.vapid.ok
    assert not req.ok
    assert any(message in e for e in req.vapid.errors), req.vapid.errors
    assert all(p.startswith("vapid: ") for p in req.problems), req.problems


def test_missing_authorization_is_recorded(push):
    sub = push.new_subscription()
    send(sub)
    assert one_request(push, sub).vapid.errors == ["no Authorization header"]


def test_aud_follows_the_host_the_request_was_made_to(push, vapid):
    sub = push.new_subscription()
    host = "LocalHost:%d" % push.port
    send(sub, vapid=vapid, aud="http://localhost:%d" % push.port,
         headers={"Host": host})
    send(sub, vapid=vapid, headers={"Host": host})
    good, bad = push.wait_for_requests(sub, 2)
    assert good.vapid.ok, good.vapid.errors
    assert good.endpoint == "http://localhost:%d%s" % (push.port, sub.path)
    assert not bad.vapid.ok
    assert bad.vapid.expected_aud == "http://localhost:%d" % push.port


def test_auth_params_may_be_quoted_and_spaced(push, vapid):
    req = post_with_auth(push, vapid, lambda aud: 'VAPID  t="%s" ,k="%s"' % (
        vapid.jwt(aud), vapid.public_b64))
    assert req.vapid.ok, req.vapid.errors


def test_exp_limits_are_exact():
    key = VapidKey()
    now = 1700000000
    aud = "http://127.0.0.1:1"

    def errors(exp, leeway=0):
        return check_vapid(key.authorization(aud, exp=exp), aud, now=now,
                           leeway=leeway).errors

    assert errors(now + 24 * 3600) == []
    assert errors(now + 1) == []
    assert "more than 24 hours" in errors(now + 24 * 3600 + 1)[0]
    assert errors(now + 24 * 3600 + 1, leeway=5) == []
    assert "not in the future" in errors(now)[0]


def test_pinned_vapid_key():
    good, other = VapidKey(), VapidKey()
    with PushService(vapid_key=good.public_pem()) as push:
        sub = push.new_subscription()
        send(sub, vapid=good)
        send(sub, vapid=other)
        ok, wrong = push.wait_for_requests(sub, 2)
    assert ok.vapid.ok
    assert wrong.vapid.errors == ["k is not the expected VAPID key"]


def test_origin_of():
    assert origin_of("https://Push.Example.NET/p/x") == \
        "https://push.example.net"
    assert origin_of("https://push.example.net:443/p") == \
        "https://push.example.net"
    assert origin_of("http://h:80/p") == "http://h"
    assert origin_of("http://h:443/p") == "http://h:443"
    assert origin_of("http://127.0.0.1:8080/push/a?b") == \
        "http://127.0.0.1:8080"
    assert origin_of("http://[::1]:81/") == "http://[::1]:81"


# -- the other RFC 8030 headers ----------------------------------------------

@pytest.mark.parametrize("kwargs,problem", [
    ({"headers": {"TTL": None}}, "no TTL header"),
    ({"headers": {"TTL": "-1"}}, "TTL '-1' is not"),
    ({"headers": {"TTL": "soon"}}, "TTL 'soon' is not"),
    ({"headers": {"Content-Encoding": "aesgcm"}}, "'aesgcm', not aes128gcm"),
    ({"headers": {"Content-Encoding": None}}, "no Content-Encoding"),
    ({"urgency": "urgent"}, "Urgency 'urgent'"),
    ({"topic": "x" * 33}, "Topic"),
    ({"topic": "a b"}, "Topic"),
    ({"headers": {"WebPush-Validation": "yes"}}, "has a value"),
    ({"plaintext": b"x" * 4000}, "more than 4096"),
])
def test_header_problems(push, vapid, kwargs, problem):
    sub = push.new_subscription()
    send(sub, vapid=vapid, **kwargs)
    req = one_request(push, sub)
    assert req.decrypt_error is None
    assert len(req.problems) == 1 and problem in req.problems[0], \
        req.problems


@pytest.mark.parametrize("urgency", ["very-low", "low", "normal", "high"])
def test_urgencies(push, vapid, urgency):
    sub = push.new_subscription()
    send(sub, vapid=vapid, urgency=urgency, ttl=0)
    req = one_request(push, sub)
    assert req.ok and req.urgency == urgency and req.ttl == 0


# -- scripted responses ------------------------------------------------------

def statuses(push, sub, n):
    return [send(sub).status for _ in range(n)]


def test_default_is_201(push):
    sub = push.new_subscription()
    assert statuses(push, sub, 3) == [201, 201, 201]


def test_respond_is_persistent(push):
    sub = push.new_subscription()
    sub.respond(410)
    assert statuses(push, sub, 2) == [410, 410]
    assert [r.status for r in sub.requests()] == [410, 410]
    other = push.new_subscription()
    assert statuses(push, other, 1) == [201]


def test_retry_after(push):
    sub = push.new_subscription()
    sub.respond(429, retry_after=2)
    resp = send(sub)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"
    sub.respond(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
                headers={"X-Test": "1"}, body="busy")
    resp = send(sub)
    assert (resp.status, resp.body) == (503, b"busy")
    assert resp.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert resp.headers["X-Test"] == "1"
    sub.respond(201)
    assert "Retry-After" not in send(sub).headers


def test_sequence_then_default(push):
    sub = push.new_subscription()
    sub.respond_sequence([500, 500, 201])
    assert sub.pending_responses() == 3
    assert statuses(push, sub, 4) == [500, 500, 201, 201]
    sub.respond(404)
    sub.respond_sequence([Response(202), {"status": 200}, 413])
    assert statuses(push, sub, 5) == [202, 200, 413, 404, 404]
    sub.reset_responses()
    assert statuses(push, sub, 1) == [201]


def test_once(push):
    sub = push.new_subscription()
    sub.respond(503, once=True)
    assert statuses(push, sub, 2) == [503, 201]


def test_service_wide_behaviour_and_precedence(push):
    a, b = push.new_subscription(), push.new_subscription()
    push.respond(503)
    b.respond(202)
    assert statuses(push, a, 1) + statuses(push, b, 1) == [503, 202]
    push.respond_sequence([500])
    assert statuses(push, b, 1) == [202]      # b's own default comes first
    assert statuses(push, a, 2) == [500, 503]
    push.reset_responses()
    assert statuses(push, a, 1) == [201]
    with pytest.raises(TypeError):
        push.respond_sequence([1.5])


def test_unknown_path_is_404_and_recorded(push):
    resp = send_push(push.url("nobody"), VapidKey().public_raw,
                     b"0" * 16, b"{}")
    assert resp.status == 404
    req, = push.requests(push.url("nobody"))
    assert req.subscription is None and req.status == 404
    assert req.decrypt_error == "no subscription at /push/nobody"


def test_other_methods_are_refused_and_not_recorded(push):
    sub = push.new_subscription()
    conn = http.client.HTTPConnection("127.0.0.1", push.port, timeout=5)
    conn.request("GET", sub.path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 405 and resp.getheader("Allow") == "POST"
    assert push.requests() == []


def test_delay(push):
    sub = push.new_subscription()
    sub.delay(0.6, status=202)
    t0 = time.monotonic()
    assert send(sub).status == 202
    assert time.monotonic() - t0 >= 0.6
    req = one_request(push, sub)
    assert req.answered - req.received >= 0.55


def test_request_is_recorded_before_a_delayed_answer(push):
    sub = push.new_subscription()
    sub.delay(1.0)
    thread = threading.Thread(target=send, args=(sub,))
    thread.start()
    try:
        req = one_request(push, sub)
        assert req.status is None and req.answered is None
    finally:
        thread.join()
    assert req.status == 201


def test_hang_until_the_client_gives_up(push):
    sub = push.new_subscription()
    sub.hang(once=True)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        send(sub, timeout=0.5)
    assert time.monotonic() - t0 < 3
    req = one_request(push, sub)
    assert req.status is None and req.response.hang
    assert req.plaintext == b"{}"
    assert send(sub).status == 201     # once: the next one is answered


def test_stop_releases_hanging_requests():
    push = PushService().start()
    sub = push.new_subscription()
    sub.hang()
    outcome = []

    def client():
        try:
            outcome.append(send(sub, timeout=30))
        except Exception as exc:  # the connection closes unanswered
            outcome.append(exc)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    push.wait_for_requests(sub, 3)
    t0 = time.monotonic()
    push.stop()
    assert time.monotonic() - t0 < 3
    for t in threads:
        t.join(5)
    assert len(outcome) == 3
    assert all(isinstance(o, Exception) for o in outcome), outcome
    assert [r.status for r in push.requests(sub)] == [None] * 3
    push.stop()   # twice is fine


def test_stop_with_an_idle_keepalive_connection():
    push = PushService().start()
    sock = socket.create_connection(("127.0.0.1", push.port), timeout=5)
    time.sleep(0.1)
    t0 = time.monotonic()
    push.stop()
    assert time.monotonic() - t0 < 3
    assert sock.recv(10) == b""
    sock.close()


def test_stop_during_a_delay():
    push = PushService().start()
    sub = push.new_subscription()
    sub.delay(60)
    outcome = []

    def client():
        try:
            outcome.append(send(sub, timeout=30))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    push.wait_for_requests(sub, 1)
    t0 = time.monotonic()
    push.stop()
    thread.join(5)
    assert time.monotonic() - t0 < 3 and not thread.is_alive()
    assert isinstance(outcome[0], Exception), outcome


# -- strict mode -------------------------------------------------------------

def test_strict_mode_refuses_like_a_push_service():
    good, other = VapidKey(), VapidKey()
    with PushService(strict=True, vapid_key=good.public_raw) as push:
        sub = push.new_subscription()
        sub.respond_sequence([202])
        assert send(sub, headers={"TTL": None}, vapid=good).status == 400
        assert send(sub, headers={"Content-Encoding": "aesgcm"},
                    vapid=good).status == 400
        assert send_push(sub.endpoint, sub.p256dh, b"x" * 16, b"{}",
                         vapid=good).status == 400
        assert send(sub, urgency="now", vapid=good).status == 400
        assert send(sub).status == 401
        assert send(sub, vapid=good, aud="http://example.org").status == 401
        assert send(sub, vapid=other).status == 403
        assert send(sub, b"x" * 4000, vapid=good).status == 413
        assert sub.pending_responses() == 1
        assert send(sub, vapid=good).status == 202
        assert send(sub, vapid=good).status == 201
        assert [r.status for r in push.requests(sub)] == \
            [400, 400, 400, 400, 401, 401, 403, 413, 202, 201]


# -- waiting -----------------------------------------------------------------

def test_wait_times_out_with_a_clear_error(push):
    sub = push.new_subscription("quiet")
    t0 = time.monotonic()
    with pytest.raises(PushTimeout, match="0 push request"):
        push.wait_for_requests(sub, 1, timeout=0.3)
    assert 0.25 <= time.monotonic() - t0 < 2
    assert isinstance(PushTimeout(), AssertionError)


def test_wait_for_a_later_request(push):
    sub = push.new_subscription()
    timer = threading.Timer(0.3, send, args=(sub,))
    timer.start()
    try:
        req, = sub.wait_for_requests(1, timeout=5)
    finally:
        timer.join()
    assert req.status in (None, 201)


def test_assert_no_more_requests(push):
    sub = push.new_subscription()
    assert push.assert_no_more_requests(sub, seconds=0.2) == []
    send(sub)
    assert len(push.assert_no_more_requests(sub, count=1, seconds=0.1)) == 1
    timer = threading.Timer(0.2, send, args=(sub,))
    timer.start()
    try:
        with pytest.raises(AssertionError, match="at most 1"):
            push.assert_no_more_requests(sub, count=1, seconds=5)
    finally:
        timer.join()


def test_concurrent_requests_are_all_recorded(push, vapid):
    subs = [push.new_subscription() for _ in range(4)]
    subs[0].delay(0.3)
    results = []

    def worker(sub, n):
        results.append(send(sub, {"n": n}, vapid=vapid).status)

    threads = [threading.Thread(target=worker, args=(subs[i % 4], i))
               for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [201] * 24
    reqs = push.wait_for_requests(None, 24)
    assert len({r.index for r in reqs}) == 24
    assert sorted(r.payload["n"] for r in reqs) == list(range(24))
    assert all(r.ok for r in reqs), [r.problems for r in reqs]
    for i, sub in enumerate(subs):
        got = push.requests(sub)
        assert len(got) == 6
        assert {r.payload["n"] % 4 for r in got} == {i}
        assert push.requests(sub.endpoint) == got == push.requests(sub.path)


# -- HTTP details ------------------------------------------------------------

def test_keepalive_connection_carries_several_requests(push, vapid):
    sub = push.new_subscription()
    conn = http.client.HTTPConnection("127.0.0.1", push.port, timeout=5)
    aud = "http://127.0.0.1:%d" % push.port
    for i in range(3):
        body = encrypt({"i": i}, sub.p256dh, sub.auth)
        conn.request("POST", sub.path, body, {
            "TTL": "10", "Content-Encoding": "aes128gcm",
            "Authorization": vapid.authorization(aud)})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201 and resp.version == 11
        assert not resp.will_close
    conn.close()
    reqs = push.wait_for_requests(sub, 3)
    assert [r.payload for r in reqs] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(r.ok for r in reqs)
    assert len({r.client_address for r in reqs}) == 1


def test_chunked_body(push, vapid):
    sub = push.new_subscription()
    body = encrypt(b"chunked!", sub.p256dh, sub.auth)
    conn = http.client.HTTPConnection("127.0.0.1", push.port, timeout=5)
    conn.request("POST", sub.path, iter([body[:10], body[10:50], body[50:]]),
                 {"TTL": "10", "Content-Encoding": "aes128gcm",
                  "Authorization": vapid.authorization(
                      "http://127.0.0.1:%d" % push.port)},
                 encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 201
    req = one_request(push, sub)
    assert "Transfer-Encoding" in req.headers
    assert req.body == body and req.plaintext == b"chunked!" and req.ok


def test_expect_100_continue(push, vapid):
    sub = push.new_subscription()
    body = encrypt(b"expect", sub.p256dh, sub.auth)
    sock = socket.create_connection(("127.0.0.1", push.port), timeout=5)
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTTL: 5\r\n"
            "Content-Encoding: aes128gcm\r\nAuthorization: %s\r\n"
            "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % (sub.path, push.port, vapid.authorization(
                "http://127.0.0.1:%d" % push.port), len(body)))
    sock.sendall(head.encode())
    assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
    sock.sendall(body)
    assert sock.recv(100).startswith(b"HTTP/1.1 201 ")
    sock.close()
    assert one_request(push, sub).plaintext == b"expect"
