"""IMAP WebPush (webpush-spec.md): capability, VAPID key, subscriptions,
validation, and encrypted pushes on delivery, against a local push service
that decrypts (RFC 8291) and checks VAPID (RFC 8292)."""

import base64
import json
import os
import re
import socket
import stat
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat, load_pem_public_key)

from coitest.imap import (COI_ENABLED, COI_MESSAGE_FILTER, Imap, Literal,
                          assert_cannot)
from coitest.mail import compose, lmtp_send, wait_for_count
from coitest.webpush_receiver import validation_token

WEBPUSH = "/private/vendor/vendor.dovecot/webpush"
VAPID = WEBPUSH + "/vapid"
SUBSCRIPTIONS = WEBPUSH + "/subscriptions"
def sub_entry(sub_id):
    return "%s/%s" % (SUBSCRIPTIONS, sub_id)


def subscribe(imap, sub_id, sub, **kwargs):
    return imap.setmetadata("", sub_entry(sub_id),
                            Literal(sub.json(**kwargs).encode(), nonsync=True))


def listed(imap):
    got = imap.getmetadata("", SUBSCRIPTIONS, depth=1)
    return {key.rsplit("/", 1)[1]: json.loads(value)
            for key, value in got.items()
            if value is not None and key.lower() != SUBSCRIPTIONS}


def subscribe_validated(imap, push, sub_id, msgtype="all"):
    sub = push.new_subscription()
    assert subscribe(imap, sub_id, sub, msgtype=msgtype).status == "OK"
    req = push.wait_for_requests(sub, 1)[0]
    token = validation_token(req)
    resp = imap.setmetadata("", sub_entry(sub_id) + "/validate", token)
    assert resp.status == "OK", resp
    return sub


def deliver(server, user, chat=False, subject="hello", **kwargs):
    msg = compose("Alice Sender <Alice@Example.NET>", user, subject=subject,
                  chat=chat, **kwargs)
    replies = lmtp_send(server, "alice@example.net", [user], msg)
    assert replies[user][0] == 250, replies
    return msg


def public_raw_of(key):
    if isinstance(key, bytes):
        return key
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def enable_coi(imap, mode="none"):
    assert imap.setmetadata("", COI_ENABLED, "yes").status == "OK"
    assert imap.setmetadata("", COI_MESSAGE_FILTER, mode).status == "OK"


# -- capability and key ----------------------------------------------------

def test_webpush_capability_only_after_login(server, user):
    imap = Imap(server.host, server.imap_port)
    try:
        assert "WEBPUSH" not in imap.capabilities()
        imap.login(user)
        assert "WEBPUSH" in imap.capabilities()
    finally:
        imap.logout()


def test_no_webpush_for_users_without_the_plugin(imap_connect, vanilla_user):
    imap = imap_connect(vanilla_user)
    assert "WEBPUSH" not in imap.capabilities()


def test_vapid_key_is_a_p256_public_key_in_pem(server, imap, imap_connect,
                                               user):
    pem = imap.getmetadata("", VAPID)[VAPID]
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert b"PRIVATE" not in pem
    key = load_pem_public_key(pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    # one key per server: the same for another session and another user
    other = imap_connect(server.new_user())
    assert other.getmetadata("", VAPID)[VAPID] == pem
    # kept in the configured file, readable by the mail user only
    path = os.path.join(server.state_dir, "push", "vapid.pem")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)


def test_vapid_key_is_read_only(imap):
    res = imap.setmetadata("", VAPID, "x")
    assert res.status == "NO"
    # the answer names no internal attribute (".../pvt/server/...")
    assert "pvt" not in res.text and "vendor.dovecot" not in res.text, \
        res.text
    assert "[CANNOT]" in res.text and "read-only" in res.text, res.text


def test_private_key_never_in_log(server, imap, user, push):
    offset = server.log_size()
    sub = subscribe_validated(imap, push, "logcheck-12345")
    deliver(server, user)
    push.wait_for_requests(sub, 2)
    with open(os.path.join(server.state_dir, "push", "vapid.pem")) as f:
        private_pem = f.read()
    body = "".join(line for line in private_pem.splitlines()
                   if not line.startswith("-----"))
    log = server.log_since(offset)
    assert body[:40] not in log


# -- subscriptions -----------------------------------------------------------

def test_subscribe_replies_at_once_and_sends_a_validation_push(
        server, imap, user, push):
    sub = push.new_subscription()
    assert subscribe(imap, "31754ee7-d3ee-4226-b112-6895ed26fcf8", sub,
                     client="My awesome WebPush App",
                     device="My Favorite Smartphone",
                     msgtype="chat").status == "OK"
    req = push.wait_for_requests(sub, 1)[0]
    assert req.ok, req.problems
    assert req.webpush_validation
    assert req.content_encoding == "aes128gcm"
    assert req.vapid.ok, req.vapid.errors
    assert req.vapid.claims["sub"] == "mailto:postmaster@example.org"
    assert req.ttl is not None and req.urgency is not None
    token = validation_token(req)
    assert 0 < len(token) <= 1024
    assert set(req.payload) == {"validation"}
    # the push is signed with the key the server publishes
    pem = imap.getmetadata("", VAPID)[VAPID]
    assert public_raw_of(req.vapid.key) == load_pem_public_key(
        pem).public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def test_listing_shows_created_and_validated(imap, push):
    sub_id = "listing-1234"
    sub = push.new_subscription()
    assert subscribe(imap, sub_id, sub, msgtype="mail",
                     unknown="dropped").status == "OK"
    entry = listed(imap)[sub_id]
    assert entry["validated"] is False
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$",
                    entry["created"]), entry
    assert entry["client"] == "coitest"
    assert entry["msgtype"] == "mail"
    assert entry["resource"]["endpoint"] == sub.endpoint
    assert entry["resource"]["keys"] == {"p256dh": sub.p256dh,
                                         "auth": sub.auth}
    assert "unknown" not in entry

    token = validation_token(push.wait_for_requests(sub, 1)[0])
    assert imap.setmetadata("", sub_entry(sub_id) + "/validate",
                            token).status == "OK"
    assert listed(imap)[sub_id]["validated"] is True
    # a single entry can be read too
    got = imap.getmetadata("", sub_entry(sub_id))
    assert json.loads(got[sub_entry(sub_id)])["validated"] is True


def test_wrong_or_foreign_validation_token_is_refused(server, imap,
                                                      imap_connect, push):
    sub_a, sub_b = push.new_subscription(), push.new_subscription()
    assert subscribe(imap, "subscription-a", sub_a).status == "OK"
    assert subscribe(imap, "subscription-b", sub_b).status == "OK"
    token_a = validation_token(push.wait_for_requests(sub_a, 1)[0])
    push.wait_for_requests(sub_b, 1)

    assert_cannot(imap.setmetadata("", sub_entry("subscription-a") +
                                   "/validate", "ZZZ000"),
                  "invalid validation")
    # a token for another subscription
    assert_cannot(imap.setmetadata("", sub_entry("subscription-b") +
                                   "/validate", token_a))
    # the same id of another user
    other = imap_connect(server.new_user())
    sub_c = push.new_subscription()
    assert subscribe(other, "subscription-a", sub_c).status == "OK"
    assert_cannot(other.setmetadata("", sub_entry("subscription-a") +
                                    "/validate", token_a))
    # tampered
    assert_cannot(imap.setmetadata("", sub_entry("subscription-a") +
                                   "/validate", token_a[:-2] + "AA"))
    assert_cannot(imap.setmetadata("", sub_entry("subscription-a") +
                                   "/validate", None))
    assert listed(imap)["subscription-b"]["validated"] is False
    # the right one still works
    assert imap.setmetadata("", sub_entry("subscription-a") + "/validate",
                            token_a).status == "OK"


def test_expired_validation_and_unvalidated_subscription_discarded(
        server, imap_connect, push):
    user = server.new_custom_user({"coi_webpush_validation_window": "2s"})
    imap = imap_connect(user)
    sub = push.new_subscription()
    assert subscribe(imap, "expiring-123", sub).status == "OK"
    token = validation_token(push.wait_for_requests(sub, 1)[0])
    time.sleep(3.2)
    assert_cannot(imap.setmetadata("", sub_entry("expiring-123") +
                                   "/validate", token), "invalid validation")
    assert "expiring-123" not in listed(imap)


def test_unsubscribe_with_nil(imap, push):
    sub = push.new_subscription()
    assert subscribe(imap, "unsubscribe-me", sub).status == "OK"
    assert "unsubscribe-me" in listed(imap)
    assert imap.setmetadata("", sub_entry("unsubscribe-me"),
                            None).status == "OK"
    assert "unsubscribe-me" not in listed(imap)


@pytest.mark.parametrize("sub_id", [
    "short", "123456789", "x" * 37, "has space1", "dot.in.id.1",
    "slash%2Fid12", "ümlaut-1234", "star*12345",
])
def test_invalid_subscription_ids(imap, push, sub_id):
    sub = push.new_subscription()
    # A quoted value: Dovecot 2.3.19 itself crashes on an entry name with
    # "*" or "%" followed by a literal (plain Dovecot does too).
    resp = imap.setmetadata("", sub_entry(sub_id), sub.json())
    assert resp.status in ("NO", "BAD"), resp
    if resp.status == "NO":
        assert_cannot(resp)
    assert imap.ok("NOOP")


@pytest.mark.parametrize("sub_id", ["a" * 10, "Z" * 36, "a-b_c-d_e-9"])
def test_valid_subscription_ids(imap, push, sub_id):
    assert subscribe(imap, sub_id, push.new_subscription()).status == "OK"


def make_value(sub, mutate):
    data = sub.data()
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize("mutate,expect", [
    (lambda d: d.pop("client"), "client"),
    (lambda d: d.pop("device"), "device"),
    (lambda d: d.update(client="x" * 129), "client"),
    (lambda d: d.update(device=5), "device"),
    (lambda d: d.pop("msgtype"), "msgtype"),
    (lambda d: d.update(msgtype="Chat"), "msgtype"),
    (lambda d: d.update(msgtype="everything"), "msgtype"),
    (lambda d: d.pop("resource"), "resource"),
    (lambda d: d["resource"].pop("endpoint"), "endpoint"),
    (lambda d: d["resource"].update(endpoint="/relative"), "endpoint"),
    (lambda d: d["resource"].update(
        endpoint="https://push.example.com/" + "x" * 600), "endpoint"),
    (lambda d: d["resource"]["keys"].update(p256dh="AAAA"), "p256dh"),
    # a point that is not on the curve
    (lambda d: d["resource"]["keys"].update(
        p256dh="BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4"
               "bjyPjs7Vd8pZGH6SRpkNtoIBiw4"), "p256dh"),
    (lambda d: d["resource"]["keys"].update(auth="c2hvcnQ"), "auth"),
    (lambda d: d["resource"]["keys"].pop("auth"), "auth"),
    (lambda d: d["resource"].update(keys="x"), "keys"),
])
def test_invalid_subscription_values(imap, push, mutate, expect):
    sub = push.new_subscription()
    resp = imap.setmetadata("", sub_entry("invalid-value-1"),
                            Literal(make_value(sub, mutate).encode(),
                                    nonsync=True))
    assert_cannot(resp, expect)
    assert "invalid-value-1" not in listed(imap)
    assert push.requests(sub) == []


@pytest.mark.parametrize("raw", [
    "not json", "{", "[]", '"string"', '{"client": "a"} trailing', "",
    "{}",
])
def test_invalid_json(imap, raw):
    resp = imap.setmetadata("", sub_entry("invalid-json-1"),
                            Literal(raw.encode(), nonsync=True))
    assert_cannot(resp, "Invalid subscription")


def test_huge_value_is_refused(imap):
    resp = imap.setmetadata("", sub_entry("huge-value-1"),
                            Literal(b"{" + b" " * 100000 + b"}", nonsync=True))
    assert resp.status == "NO", resp


@pytest.mark.parametrize("endpoint", [
    "http://push.example.com/x",          # plain http to an unlisted host
    "https://10.1.2.3/x",                 # private
    "https://169.254.169.254/latest/x",   # cloud metadata
    "https://[fe80::1]/x",                # link-local
    "https://224.0.0.1/x",                # multicast
    "https://user:pw@push.example.com/x",
])
def test_endpoint_policy_refuses_at_subscription(imap, push, endpoint):
    sub = push.new_subscription()
    value = make_value(sub, lambda d: d["resource"].update(endpoint=endpoint))
    assert_cannot(imap.setmetadata("", sub_entry("policy-test-1"),
                                   Literal(value.encode(), nonsync=True)),
                  "endpoint")


def test_subscription_limit(server, imap_connect, push):
    user = server.new_custom_user({"coi_webpush_max_subscriptions": "2"})
    imap = imap_connect(user)
    assert subscribe(imap, "limit-one-1", push.new_subscription()).status == "OK"
    assert subscribe(imap, "limit-two-2", push.new_subscription()).status == "OK"
    assert_cannot(subscribe(imap, "limit-three", push.new_subscription()),
                  "at most 2")
    # replacing an existing id is always allowed
    assert subscribe(imap, "limit-two-2", push.new_subscription(),
                     device="new").status == "OK"
    assert listed(imap)["limit-two-2"]["device"] == "new"
    assert imap.setmetadata("", sub_entry("limit-one-1"), None).status == "OK"
    assert subscribe(imap, "limit-three", push.new_subscription()).status == "OK"


def test_subscribe_does_not_wait_for_a_hanging_push_service(imap, push):
    push.hang()
    sub = push.new_subscription()
    start = time.monotonic()
    assert subscribe(imap, "hanging-12345", sub).status == "OK"
    elapsed = time.monotonic() - start
    push.wait_for_requests(sub, 1)
    # the validation push is on its way but the reply did not wait for it
    assert elapsed < 3, elapsed
    assert imap.ok("NOOP")


# -- push on delivery ------------------------------------------------------

def test_push_on_delivery_with_payload(server, imap, user, push):
    sub = subscribe_validated(imap, push, "delivery-123")
    deliver(server, user, subject="Hi there", body="the body text")
    req = push.wait_for_requests(sub, 2)[1]
    assert req.ok, req.problems
    assert not req.webpush_validation
    payload = req.payload
    assert payload["from-email"] == "alice@example.net"
    assert payload["from-name"] == "Alice Sender"
    assert payload["subject"] == "Hi there"
    assert payload["folder"] == "INBOX"
    assert payload["uid"] == 1
    assert isinstance(payload["uidvalidity"], int) and payload["uidvalidity"] > 0
    assert payload["msg-id"].endswith("@example.org")
    assert not payload["msg-id"].startswith("<")
    assert payload["date"] == "2026-11-22T12:00:00Z" or \
        payload["date"].startswith("2026-11-22T12:00:00")
    assert "the body text" in payload["content"]
    imap.ok("SELECT", "INBOX")
    resp = imap.ok("UID", "FETCH", "1", "(UID)")
    assert b"UID 1" in resp.untagged[0]


def test_subscription_added_between_deliveries_on_one_connection(
        server, imap, user, push):
    """An LMTP process remembers that a user has no subscriptions (while the
    attribute dict is unchanged); a subscription added meanwhile by IMAP
    gets the very next delivery on the same connection its push, and an
    unsubscribe stops them again."""
    import smtplib

    def send(lmtp, subject):
        lmtp.mail("alice@example.net")
        lmtp.rcpt(user)
        code, _ = lmtp.data(compose("alice@example.net", user,
                                    subject=subject))
        assert code == 250

    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=30)
    try:
        lmtp.ehlo("test.example.org")
        send(lmtp, "before")
        send(lmtp, "before again")
        sub = subscribe_validated(imap, push, "between-123")
        send(lmtp, "after")
        req = push.wait_for_requests(sub, 2)[1]
        assert req.ok and req.payload["subject"] == "after", req.problems
        assert imap.setmetadata("", sub_entry("between-123"), None).status == "OK"
        send(lmtp, "unsubscribed")
    finally:
        lmtp.quit()
    assert wait_for_count(imap, "INBOX", 4) == 4
    push.assert_no_more_requests(sub, count=2, seconds=1.0)


def test_msgtype_chat_and_mail(server, imap, user, push):
    enable_coi(imap, "active")
    chat_sub = subscribe_validated(imap, push, "chats-only-1", "chat")
    mail_sub = subscribe_validated(imap, push, "mails-only-1", "mail")
    all_sub = subscribe_validated(imap, push, "everything-1", "all")
    deliver(server, user, chat=True, subject="a chat")
    deliver(server, user, chat=False, subject="a mail")
    chats = push.wait_for_requests(chat_sub, 2)
    mails = push.wait_for_requests(mail_sub, 2)
    alls = push.wait_for_requests(all_sub, 3)
    assert chats[1].payload["subject"] == "a chat"
    assert chats[1].payload["folder"] == "COI/Chats"
    assert mails[1].payload["subject"] == "a mail"
    assert mails[1].payload["folder"] == "INBOX"
    assert sorted(r.payload["subject"] for r in alls[1:]) == ["a chat",
                                                              "a mail"]
    push.assert_no_more_requests(chat_sub, count=2, seconds=0.5)
    push.assert_no_more_requests(mail_sub, count=2, seconds=0)


def test_no_push_for_unvalidated_subscription(server, imap, user, push):
    sub = push.new_subscription()
    assert subscribe(imap, "unvalidated-1", sub).status == "OK"
    push.wait_for_requests(sub, 1)
    deliver(server, user)
    assert wait_for_count(imap, "INBOX", 1) == 1
    push.assert_no_more_requests(sub, count=1, seconds=1.5)


def test_no_push_for_append_or_read_receipts(server, imap, user, push):
    sub = subscribe_validated(imap, push, "no-append-1")
    msg = compose("bob@example.net", user, subject="appended")
    resp = imap.command("APPEND", "INBOX", Literal(msg, nonsync=True))
    assert resp.status == "OK", resp
    mdn = compose("bob@example.net", user, subject="Read: hello",
                  extra_headers=[
                      "MIME-Version: 1.0",
                      'Content-Type: multipart/report; '
                      'report-type="disposition-notification"; '
                      'boundary="b1"'],
                  body="--b1\r\nContent-Type: text/plain\r\n\r\nread\r\n"
                       "--b1--")
    assert lmtp_send(server, "bob@example.net", [user], mdn)[user][0] == 250
    deliver(server, user, subject="after")
    reqs = push.wait_for_requests(sub, 2)
    assert reqs[1].payload["subject"] == "after"
    push.assert_no_more_requests(sub, count=2, seconds=1)


@pytest.mark.parametrize("status", [404, 410])
def test_gone_validation_removes_subscription(imap, push, status):
    sub = push.new_subscription()
    sub.respond(status)
    assert subscribe(imap, "gone-valid-1", sub).status == "OK"
    push.wait_for_requests(sub, 1)
    deadline = time.time() + 10
    while time.time() < deadline and "gone-valid-1" in listed(imap):
        time.sleep(0.1)
    assert "gone-valid-1" not in listed(imap)


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_deleted(server, imap, user, push, status):
    """LMTP frees the user right after the delivery, before the push
    service answers: the subscription goes when that LMTP process next
    handles the user (or at once where the user is still active)."""
    sub = subscribe_validated(imap, push, "gone-test-1")
    sub.respond(status)
    deliveries = 0
    while "gone-test-1" in listed(imap) and deliveries < 8:
        deliver(server, user, subject="d%d" % deliveries)
        deliveries += 1
        if deliveries == 1:
            push.wait_for_requests(sub, 2)
        time.sleep(0.3)
    assert "gone-test-1" not in listed(imap), deliveries
    pushes = len(push.requests(sub))
    deliver(server, user, subject="after removal")
    assert wait_for_count(imap, "INBOX", deliveries + 1) == deliveries + 1
    push.assert_no_more_requests(sub, count=pushes, seconds=1)


def test_gone_record_needs_the_endpoint(server, imap, user, push):
    """The coi-push socket is open to local users: a job that names a
    subscription by its id but not by its endpoint URL cannot have it
    removed, even when the job's own URL answers 410."""
    victim = subscribe_validated(imap, push, "victim-sub-1")
    decoy = push.new_subscription()
    decoy.respond(410)
    fields = ["protocol=webpush", "user=" + user, "url=" + decoy.endpoint,
              "body=" + base64.b64encode(b'{"subject":"x"}').decode(),
              "p256dh=" + decoy.p256dh, "auth=" + decoy.auth,
              "gone=webpush/victim-sub-1/" + "0" * 32, "gone404=1",
              "urgency=normal", "vapid=vapid t=aaa.bbb.ccc, k=BBBB"]
    path = os.path.join(server.state_dir, "dovecot", "run", "coi-push")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall("\t".join(fields).encode() + b"\n")
    assert decoy.wait_for_requests(1)[0].payload["subject"] == "x"
    time.sleep(0.5)
    assert "victim-sub-1" in listed(imap)
    deliver(server, user, subject="still subscribed")
    reqs = push.wait_for_requests(victim, 2)
    assert reqs[1].payload["subject"] == "still subscribed"


def test_retry_after_5xx_and_429(server, imap, user, push):
    sub = subscribe_validated(imap, push, "retry-test-1")
    sub.respond_sequence([500, {"status": 429, "retry_after": 1}, 201])
    deliver(server, user, subject="retried")
    reqs = push.wait_for_requests(sub, 4, timeout=20)
    assert [r.status for r in reqs[1:4]] == [500, 429, 201]
    assert all(r.payload["subject"] == "retried" for r in reqs[1:4])
    assert reqs[3].received - reqs[2].received >= 0.9
    assert "retry-test-1" in listed(imap)


def test_413_is_retried_once_without_content(server, imap, user, push):
    sub = subscribe_validated(imap, push, "too-large-1")
    sub.respond_sequence([413, 413])
    deliver(server, user, subject="big", body="some content")
    reqs = push.wait_for_requests(sub, 3)
    assert "content" in reqs[1].payload
    assert "content" not in reqs[2].payload
    assert reqs[2].payload["subject"] == "big"
    push.assert_no_more_requests(sub, count=3, seconds=1)


def test_delivery_does_not_wait_for_a_hanging_push_service(server, imap,
                                                           user, push):
    sub = subscribe_validated(imap, push, "hang-delivery")
    sub.hang()
    start = time.monotonic()
    deliver(server, user, subject="not held back")
    elapsed = time.monotonic() - start
    push.wait_for_requests(sub, 2)
    assert elapsed < 3, elapsed
    assert wait_for_count(imap, "INBOX", 1) == 1


def test_failing_push_never_affects_delivery(server, imap, user, push):
    sub = subscribe_validated(imap, push, "failing-push")
    sub.respond(500)
    for i in range(3):
        deliver(server, user, subject="m%d" % i)
    assert wait_for_count(imap, "INBOX", 3) == 3


def test_endpoint_by_host_name_is_resolved_and_checked(server, imap, user,
                                                       push):
    """The dev server lists "localhost": its address is looked up through
    Dovecot's dns-client and the push goes to what it resolved to."""
    sub = push.new_subscription()
    endpoint = sub.endpoint.replace("127.0.0.1", "localhost")
    value = make_value(sub, lambda d: d["resource"].update(endpoint=endpoint))
    assert imap.setmetadata("", sub_entry("by-hostname-1"),
                            Literal(value.encode(), nonsync=True)).status == "OK"
    req = push.wait_for_requests(sub, 1)[0]
    assert req.vapid.ok, req.vapid.errors
    assert req.vapid.claims["aud"] == endpoint.split("/push/")[0]


def test_unlisted_host_name_needs_https(imap, push):
    sub = push.new_subscription()
    endpoint = sub.endpoint.replace("127.0.0.1", "ip6-localhost")
    value = make_value(sub, lambda d: d["resource"].update(endpoint=endpoint))
    assert_cannot(imap.setmetadata("", sub_entry("by-hostname-2"),
                                   Literal(value.encode(), nonsync=True)),
                  "https")


def test_per_user_push_rate_is_limited(server, imap, user, push):
    """coi_push_user_rate (default 60 per minute, counted by the coi-push
    service; the validation push does not count): a burst of deliveries
    is cut off."""
    import smtplib
    sub = subscribe_validated(imap, push, "rate-limit-1")
    offset = server.log_size()
    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=30)
    try:
        lmtp.ehlo("test.example.org")
        for i in range(70):
            lmtp.mail("alice@example.net")
            lmtp.rcpt(user)
            code, _ = lmtp.data(compose("alice@example.net", user,
                                        subject="burst %d" % i))
            assert code == 250
    finally:
        lmtp.quit()
    assert wait_for_count(imap, "INBOX", 70) == 70
    push.wait_for_requests(sub, 61)
    push.assert_no_more_requests(sub, count=61, seconds=1.5)
    assert server.wait_for_log(offset, "per minute for this user"), server.log_since(offset)
