"""Delta Chat push (XDELTAPUSH): device tokens registered with
SETMETADATA "INBOX" (/private/devicetoken ...), the server information
entries Delta Chat reads, and notifications of delivered messages POSTed
by the coi-push service to a local notifier
(coitest.deltachat_notifier.Notifier).

The development server enables XDELTAPUSH with retry delays of 1, 2, 4 and
8 s and a dedupe interval of 2 s (conf/dev/dovecot.conf.in); each test
gives its users their own notifier with the userdb field
coi_deltachat_notify_url."""

import os
import re
import socket
import time

import pytest

from coitest.deltachat import new_devicetoken as new_token
from coitest.deltachat import register_devicetoken as register_like_deltachat
from coitest.imap import Imap, assert_cannot
from coitest.mail import compose, lmtp_send, message_count
from coitest.deltachat_notifier import Notifier
from coitest.server import DevServer, settings_conf

DEVICETOKEN = "/private/devicetoken"
SERVER_INFO = ("/shared/comment", "/shared/admin",
               "/shared/vendor/deltachat/irohrelay",
               "/shared/vendor/deltachat/turn",
               "/shared/vendor/deltachat/maxsmtprecipients")
# conf/dev/dovecot.conf.in
DEDUPE_INTERVAL = 2.0


@pytest.fixture
def notifier():
    with Notifier() as service:
        yield service


def push_user(server, notifier, **fields):
    fields = dict(fields)
    fields["coi_deltachat_notify_url"] = notifier.notify_url
    return server.new_custom_user(fields)


def deliver(server, user, sender="alice@example.net", subject="hello"):
    msg = compose("Alice <%s>" % sender, user, subject=subject, chat=True)
    start = time.monotonic()
    replies = lmtp_send(server, sender, [user], msg)
    assert replies[user][0] == 250, replies
    return time.monotonic() - start


def tokens_of(requests):
    return sorted(r.token for r in requests)


# -- capability ------------------------------------------------------------

def test_xdeltapush_only_after_login(server, user):
    imap = Imap(server.host, server.imap_port)
    try:
        assert "XDELTAPUSH" not in imap.capabilities()
        imap.login(user)
        caps = imap.capabilities()
        assert "XDELTAPUSH" in caps and "METADATA" in caps
    finally:
        imap.logout()


def test_xdeltapush_off_by_setting_and_for_vanilla(server, imap_connect,
                                                   vanilla_user):
    off_user = server.new_custom_user({"coi_deltachat_push": "no"})
    for who in (off_user, vanilla_user):
        imap = imap_connect(who)
        assert "XDELTAPUSH" not in imap.capabilities()
    # with push off the entry is an ordinary private METADATA entry, as
    # in plain Dovecot
    imap = imap_connect(off_user)
    assert imap.setmetadata("INBOX", DEVICETOKEN, "tok").status == "OK"
    assert imap.getmetadata("INBOX", DEVICETOKEN) == {DEVICETOKEN: b"tok"}


# -- registration ----------------------------------------------------------

def test_deltachat_registration_replay_notifies(server, imap_connect,
                                                notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert len(token) > 700
    resp = register_like_deltachat(imap, token)
    assert resp.status == "OK", resp
    deliver(server, user)
    req, = notifier.wait_for_requests(token, 1)
    assert req.ok, req.problems
    assert req.method == "POST" and req.path == "/notify"
    assert req.body == token.encode()
    assert req.status == 200
    # write-only: nothing to read back
    assert imap.getmetadata("INBOX", DEVICETOKEN) == {DEVICETOKEN: None}


def test_first_token_after_deliveries_without_any(server, imap_connect,
                                                  notifier):
    # LMTP processes remember "no tokens" while the attribute dict is
    # unchanged: a registration changes it
    user = push_user(server, notifier)
    for i in range(3):
        deliver(server, user, subject="before %d" % i)
    token = new_token()
    assert register_like_deltachat(imap_connect(user), token).status == "OK"
    deliver(server, user, subject="after")
    notifier.wait_for_requests(token, 1)
    notifier.assert_no_more_requests(None, 1, seconds=1.0)


def test_plain_token_and_several_devices(server, imap_connect, notifier):
    user = push_user(server, notifier)
    tokens = ["plain-token-%d-%s" % (i, os.urandom(8).hex())
              for i in range(3)]
    for token in tokens:
        imap = imap_connect(user)
        assert imap.setmetadata("INBOX", DEVICETOKEN,
                                token).status == "OK"
    deliver(server, user)
    got = notifier.wait_for_requests(None, 3)
    assert tokens_of(got) == sorted(tokens)
    notifier.assert_no_more_requests(None, 3, seconds=1.0)


def test_same_token_refreshes(server, imap, notifier, imap_connect):
    user = push_user(server, notifier)
    token = new_token()
    for _ in range(3):
        conn = imap_connect(user)
        assert register_like_deltachat(conn, token).status == "OK"
    deliver(server, user)
    notifier.wait_for_requests(token, 1)
    notifier.assert_no_more_requests(None, 1, seconds=1.0)


def test_token_limit_drops_the_oldest(server, imap_connect, notifier):
    user = push_user(server, notifier, coi_deltachat_max_tokens=3)
    imap = imap_connect(user)
    tokens = [new_token("t%d:" % i) for i in range(5)]
    for token in tokens:
        assert register_like_deltachat(imap, token).status == "OK"
    # registering the second one again makes it the newest
    assert register_like_deltachat(imap, tokens[1]).status == "OK"
    deliver(server, user)
    got = notifier.wait_for_requests(None, 3)
    assert tokens_of(got) == sorted([tokens[1], tokens[3], tokens[4]])
    notifier.assert_no_more_requests(None, 3, seconds=1.0)


def test_invalid_tokens_are_refused(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    assert_cannot(register_like_deltachat(imap, "x" * 4097), "too long",
                  "4096")
    # the longest allowed one is fine
    longest = "y" * 4096
    assert register_like_deltachat(imap, longest).status == "OK"
    assert_cannot(imap.setmetadata("INBOX", DEVICETOKEN, "two words"),
                  "Invalid device token")
    assert_cannot(imap.setmetadata("INBOX", DEVICETOKEN, ""),
                  "Invalid device token")
    imap.ok("CREATE", "Other")
    assert_cannot(imap.setmetadata("Other", DEVICETOKEN, "tok"), "INBOX")
    # deleting a mailbox unsets all its entries, this one included
    imap.ok("DELETE", "Other")
    # NIL names no device: accepted, nothing removed
    assert imap.setmetadata("INBOX", DEVICETOKEN, None).status == "OK"
    deliver(server, user)
    got = notifier.wait_for_requests(None, 1)
    assert tokens_of(got) == [longest]
    notifier.assert_no_more_requests(None, 1, seconds=1.0)


def test_tokens_expire(server, imap_connect, notifier):
    user = push_user(server, notifier,
                     coi_deltachat_token_expire="2secs")
    imap = imap_connect(user)
    old = new_token("old:")
    assert register_like_deltachat(imap, old).status == "OK"
    time.sleep(3.1)
    fresh = new_token("fresh:")
    assert register_like_deltachat(imap, fresh).status == "OK"
    deliver(server, user)
    got = notifier.wait_for_requests(None, 1)
    assert tokens_of(got) == [fresh]
    notifier.assert_no_more_requests(None, 1, seconds=1.5)


def test_long_expiry_settings(server, imap_connect, notifier):
    # 90 days do not fit in milliseconds of an unsigned int
    user = push_user(server, notifier,
                     coi_deltachat_token_expire="90days")
    log_offset = server.log_size()
    token = new_token()
    assert register_like_deltachat(imap_connect(user), token).status == "OK"
    deliver(server, user)
    notifier.wait_for_requests(token, 1)
    assert "coi_deltachat_token_expire" not in server.log_since(log_offset)


# -- server information ----------------------------------------------------

def test_server_information_entries(server, imap_connect, user,
                                    vanilla_user):
    # nothing configured (conf/dev) but the development server's coturn
    # (test_turn.py): every entry answers, with NIL
    turn = "/shared/vendor/deltachat/turn"
    for who in (user, vanilla_user):
        imap = imap_connect(who)
        got = imap.getmetadata("", *SERVER_INFO)
        if who == user:
            assert got.pop(turn).startswith(
                b"127.0.0.1:%d:" % server.turn_port), got
        else:
            assert got.pop(turn) is None
        assert got == {entry: None for entry in SERVER_INFO
                       if entry != turn}, got
    imap = imap_connect(user)
    assert_cannot(imap.setmetadata("", "/shared/vendor/deltachat/turn",
                                   "turn.example.org"), "administrator")


def test_server_information_from_settings(server, imap_connect):
    user = server.new_custom_user({
        "coi_deltachat_irohrelay": "https://iroh.example.org/",
        "coi_deltachat_turn": "turn.example.org:3478",
        "coi_deltachat_maxsmtprecipients": "10"})
    imap = imap_connect(user)
    got = imap.getmetadata("", *SERVER_INFO[2:])
    assert got == {
        "/shared/vendor/deltachat/irohrelay": b"https://iroh.example.org/",
        "/shared/vendor/deltachat/turn": b"turn.example.org:3478",
        "/shared/vendor/deltachat/maxsmtprecipients": b"10"}


# -- notifications ---------------------------------------------------------

def test_gone_token_is_removed(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    gone, kept = new_token("gone:"), new_token("kept:")
    for token in (gone, kept):
        assert register_like_deltachat(imap, token).status == "OK"
    notifier.for_token(gone).respond(410)
    deliver(server, user)
    notifier.wait_for_requests(None, 2)
    log_offset = server.log_size()
    time.sleep(DEDUPE_INTERVAL + 0.5)
    deliver(server, user, subject="second")
    notifier.wait_for_requests(kept, 2)
    notifier.assert_no_more_requests(gone, 1, seconds=1.0)
    assert "Removed device token" in server.log_since(log_offset)


def test_retry_after_server_errors(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    notifier.for_token(token).respond_sequence([500, 503])
    deliver(server, user)
    got = notifier.wait_for_requests(token, 3, timeout=15)
    assert [r.status for r in got] == [500, 503, 200]
    first_gap = got[1].received - got[0].received
    second_gap = got[2].received - got[1].received
    # 1 s, then 2 s (conf/dev)
    assert 0.8 <= first_gap < 2.0, first_gap
    assert 1.8 <= second_gap < 3.5, second_gap
    notifier.assert_no_more_requests(token, 3, seconds=1.0)


def test_retries_give_up(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    notifier.for_token(token).respond(500)
    log_offset = server.log_size()
    deliver(server, user)
    # the first attempt and one after each of the 4 delays: 1+2+4+8 s
    got = notifier.wait_for_requests(token, 5, timeout=25)
    notifier.assert_no_more_requests(token, 5, seconds=2.0)
    assert len(got) == 5
    deadline = time.monotonic() + 5
    while "dropped after 5 attempts" not in server.log_since(log_offset):
        assert time.monotonic() < deadline, server.log_since(log_offset)
        time.sleep(0.1)


def test_same_token_is_not_notified_more_than_once_per_interval(
        server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    for i in range(4):
        deliver(server, user, subject="burst %d" % i)
    first, = notifier.wait_for_requests(token, 1)
    # the rest of the burst is covered by one more notification, after
    # the interval
    second = notifier.wait_for_requests(token, 2, timeout=10)[1]
    assert second.received - first.received >= DEDUPE_INTERVAL - 0.3
    notifier.assert_no_more_requests(token, 2, seconds=DEDUPE_INTERVAL + 1)


def test_one_device_with_two_accounts_is_woken_once(server, imap_connect,
                                                    notifier):
    alice, bob = server.new_custom_users(
        [{"coi_deltachat_notify_url": notifier.notify_url}] * 2)
    token = new_token()
    for who in (alice, bob):
        assert register_like_deltachat(imap_connect(who),
                                       token).status == "OK"
    msg = compose("Carol <carol@example.net>", alice, chat=True)
    replies = lmtp_send(server, "carol@example.net", [alice, bob], msg)
    assert all(reply[0] == 250 for reply in replies.values()), replies
    notifier.wait_for_requests(token, 1)
    notifier.assert_no_more_requests(token, 1, seconds=1.0)


def test_messages_from_the_user_are_not_notified(server, imap_connect,
                                                 notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    deliver(server, user, sender=user.upper(), subject="to myself")
    notifier.assert_no_more_requests(token, 0, seconds=1.5)
    deliver(server, user, subject="from someone else")
    notifier.wait_for_requests(token, 1)


def test_blocked_senders_are_not_notified(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    assert imap.setmetadata("", "/private/vendor/vendor.dovecot/coi/config/"
                            "enabled", "yes").status == "OK"
    server.doveadm("coi", "blocklist", "block", "-u", user,
                   "spammer@example.net")
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    deliver(server, user, sender="spammer@example.net", subject="blocked")
    notifier.assert_no_more_requests(token, 0, seconds=1.5)
    deliver(server, user, subject="from a friend")
    notifier.wait_for_requests(token, 1)


def test_notified_for_any_folder(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    assert imap.setmetadata("", "/private/vendor/vendor.dovecot/coi/config/"
                            "enabled", "yes").status == "OK"
    assert imap.setmetadata("", "/private/vendor/vendor.dovecot/coi/config/"
                            "message-filter", "active").status == "OK"
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    deliver(server, user)  # a chat: filed into COI/Chats
    notifier.wait_for_requests(token, 1)


def test_delivery_does_not_wait_for_the_notifier(server, imap_connect,
                                                 notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    notifier.hang()
    elapsed = deliver(server, user)
    notifier.wait_for_requests(token, 1)
    assert elapsed < 1.0, elapsed
    # a notifier nobody listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down_user = server.new_custom_user(
        {"coi_deltachat_notify_url": "http://127.0.0.1:%d/notify" % port})
    assert register_like_deltachat(imap_connect(down_user),
                                   token + "x").status == "OK"
    elapsed = deliver(server, down_user)
    assert elapsed < 1.0, elapsed


def test_unreachable_coi_push_service_never_affects_delivery(
        server, imap_connect, notifier):
    """The delivery hands the notification to the coi-push service over its
    socket; when that cannot be reached (here: the socket made
    inaccessible, as if the service were down), the message is delivered
    all the same and the lost notification is logged."""
    user = push_user(server, notifier)
    imap = imap_connect(user)
    token = new_token()
    assert register_like_deltachat(imap, token).status == "OK"
    sock = os.path.join(server.state_dir, "dovecot", "run", "coi-push")
    mode = os.stat(sock).st_mode & 0o7777
    log_offset = server.log_size()
    os.chmod(sock, 0)
    try:
        deliver(server, user, subject="while the service is away")
    finally:
        os.chmod(sock, mode)
    assert server.wait_for_log(log_offset, "cannot reach the coi-push service")
    assert message_count(imap, "INBOX") == 1
    notifier.assert_no_more_requests(token, 0, seconds=1.0)
    deliver(server, user, subject="service back")
    notifier.wait_for_requests(token, 1)


def test_notifier_must_be_allowed_by_the_push_policy(server, imap_connect):
    # 192.0.2.1 (TEST-NET-1) is neither public nor in coi_push_allow
    user = server.new_custom_user(
        {"coi_deltachat_notify_url": "http://192.0.2.1/notify"})
    assert register_like_deltachat(imap_connect(user),
                                   new_token()).status == "OK"
    log_offset = server.log_size()
    deliver(server, user)
    deadline = time.monotonic() + 5
    while "push to http://192.0.2.1/notify dropped" not in \
            server.log_since(log_offset):
        assert time.monotonic() < deadline, server.log_since(log_offset)
        time.sleep(0.1)


# -- restart ---------------------------------------------------------------

def test_pending_notifications_survive_a_restart(notifier):
    srv = DevServer(extra_conf=settings_conf(
        {"coi_push_spool_retry_delays": "4s 4s"}))
    srv.start()
    try:
        user = srv.new_custom_user(
            {"coi_deltachat_notify_url": notifier.notify_url})
        imap = Imap(srv.host, srv.imap_port)
        imap.login(user)
        token = new_token()
        assert register_like_deltachat(imap, token).status == "OK"
        imap.logout()
        notifier.for_token(token).respond_sequence([503])
        deliver(srv, user)
        notifier.wait_for_requests(token, 1)
        spool = os.path.join(srv.state_dir, "push-spool", "jobs")
        deadline = time.monotonic() + 5
        while not os.listdir(spool):
            assert time.monotonic() < deadline, "no job in the spool"
            time.sleep(0.1)
        srv.restart()
        got = notifier.wait_for_requests(token, 2, timeout=15)
        assert [r.status for r in got] == [503, 200]
        deadline = time.monotonic() + 5
        while os.listdir(spool):
            assert time.monotonic() < deadline, os.listdir(spool)
            time.sleep(0.1)
        assert "pending pushes loaded" in srv.log_since(0)
    finally:
        srv.cleanup()


# -- doveadm ---------------------------------------------------------------

def doveadm_tokens(server, user):
    res = server.doveadm("-f", "tab", "coi", "devicetoken", "list",
                         "-u", user)
    lines = res.stdout.strip().splitlines()
    assert lines[0].split("\t") == ["id", "registered", "token"], lines
    return [line.split("\t") for line in lines[1:]]


def test_doveadm_lists_and_removes_tokens(server, imap_connect, notifier):
    user = push_user(server, notifier)
    imap = imap_connect(user)
    first, second = new_token("first:"), new_token("second:")
    for token in (first, second):
        assert register_like_deltachat(imap, token).status == "OK"
    listed = doveadm_tokens(server, user)
    assert [row[2] for row in listed] == [first[:24] + "...",
                                         second[:24] + "..."]
    assert all(len(row[0]) == 32 for row in listed)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT", row[1]) for row in listed)
    # tokens never appear in full
    assert first not in server.doveadm("coi", "devicetoken", "list",
                                       "-u", user).stdout

    res = server.doveadm("coi", "devicetoken", "remove", "-u", user,
                         listed[0][0][:10])
    assert res.stdout.split() == ["removed", "1"]
    assert [row[0] for row in doveadm_tokens(server, user)] == \
        [listed[1][0]]
    deliver(server, user)
    got = notifier.wait_for_requests(None, 1)
    assert tokens_of(got) == [second]

    res = server.doveadm("coi", "devicetoken", "remove", "-u", user,
                         "0123456789abcdef", check=False)
    assert res.returncode != 0
    res = server.doveadm("coi", "devicetoken", "remove", "-u", user, "xyz",
                         check=False)
    assert res.returncode != 0 and "Invalid token id" in res.stderr
    res = server.doveadm("coi", "devicetoken", "remove", "-u", user, "all")
    assert res.stdout.split() == ["removed", "1"]
    assert doveadm_tokens(server, user) == []
