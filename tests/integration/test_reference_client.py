"""The reference client against the real server: plain mode on a user
without the plugin, extended mode on a COI user, and the same conversation
ending in the same state in both."""

import json
import os
import re
import ssl
import subprocess
import sys
import time

import pytest

from coiclient import (COI_CONFIG, CoiClient, build_parser,
                       client_from_args)
from coitest.imap import Imap, quote
from coitest.mail import compose, smtp_send
from coitest.server import DOVECOT_24, DevServer, free_ports

CLIENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "client", "coi-client")


def client(server, user):
    return CoiClient((server.host, server.imap_port),
                     (server.host, server.smtp_port), user, "pass").connect()


def wait_all(c, count, timeout=20):
    """Waits until count messages arrived (INBOX + Chats), then syncs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        total = sum(len(c.list_messages(b)) for b in ("INBOX", c.chats))
        if total >= count:
            c.sync()
            return
        time.sleep(0.2)
    raise AssertionError("%s got only %d of %d messages" % (c.user, total, count))


def find(c, subject):
    for box in ("INBOX", c.chats):
        for uid, _, subj, _, _ in c.list_messages(box):
            if subj == subject:
                return box, uid
    raise AssertionError("%s not found for %s" % (subject, c.user))


def state(c):
    return {box: sorted((subj, chat) for _, _, subj, _, chat
                        in c.list_messages(box))
            for box in ("INBOX", c.chats)}


def conversation(server, alice_user, bob_user):
    """Alice and Bob exchange chats and mail; returns their final state."""
    alice, bob = client(server, alice_user), client(server, bob_user)
    try:
        alice.setup("active")
        bob.setup("active")
        alice.send(alice.compose(bob_user, "hi", subject="chat 1"))
        wait_all(bob, 1)
        first = bob.read(*find(bob, "chat 1"))
        reply = bob.send(bob.compose(alice_user, "hello", reply_to=first,
                                     subject="chat 2"))
        wait_all(alice, 1)
        # a normal mail from someone without COI, to both
        outsider = server.new_user("outsider")
        smtp_send(server, outsider, [alice_user, bob_user],
                  compose(outsider, "%s, %s" % (alice_user, bob_user),
                          subject="newsletter"))
        # a plain mail reply from Bob, and a chat reply from Alice
        smtp_send(server, bob_user, [alice_user],
                  compose(bob_user, alice_user, subject="mail from bob"))
        answer = alice.read(*find(alice, "chat 2"))
        assert answer["Message-ID"] == reply["Message-ID"]
        alice.send(alice.compose(bob_user, "again", reply_to=answer,
                                 subject="chat 3"))
        wait_all(alice, 3)
        wait_all(bob, 3)
        return state(alice), state(bob)
    finally:
        alice.close()
        bob.close()


def test_same_conversation_in_plain_and_extended_mode(server):
    plain = conversation(server, server.new_vanilla_user(),
                         server.new_vanilla_user())
    extended = conversation(server, server.new_user(), server.new_user())
    expected_alice = {"INBOX": [("mail from bob", False), ("newsletter", False)],
                      "COI/Chats": [("chat 2", True)]}
    expected_bob = {"INBOX": [("newsletter", False)],
                    "COI/Chats": [("chat 1", True), ("chat 3", True)]}
    assert plain == (expected_alice, expected_bob)
    assert extended == plain


def test_mode_detection(server):
    plain = client(server, server.new_vanilla_user())
    extended = client(server, server.new_user())
    try:
        assert plain.mode == "plain" and not plain.extended
        assert extended.mode == "extended" and extended.extended
    finally:
        plain.close()
        extended.close()


def test_plain_setup_creates_folders(server, imap_connect):
    user = server.new_vanilla_user()
    c = client(server, user)
    c.setup("active")
    c.setup("active")   # again: idempotent
    c.close()
    imap = imap_connect(user)
    assert "COI/Chats" in imap.list() and "COI/Contacts" in imap.list()
    assert "COI/Chats" in imap.lsub()


def test_plain_seen_mode_files_only_read_chats(server):
    user = server.new_vanilla_user()
    c = client(server, user)
    try:
        c.setup("seen")
        sender = server.new_user("sender")
        for subj in ("read me", "later"):
            smtp_send(server, sender, [user],
                      compose(sender, user, subject=subj, chat=True))
        wait_all(c, 2)
        assert len(c.list_messages("INBOX")) == 2
        c.read(*find(c, "read me"))
        c.sync()
        assert [m[2] for m in c.list_messages(c.chats)] == ["read me"]
        assert [m[2] for m in c.list_messages("INBOX")] == ["later"]
    finally:
        c.close()


def test_own_copies_are_filed_and_read(server):
    # a copy of our own chat to someone else (e.g. BCC to self) is marked
    # read and filed
    user = server.new_vanilla_user()
    c = client(server, user)
    try:
        c.setup("active")
        msg = c.compose("friend@example.org", "to friend", subject="mine")
        msg["Bcc"] = user
        c.send(msg)
        wait_all(c, 1)
        box, uid = find(c, "mine")
        assert box == c.chats
    finally:
        c.close()


def run_cli(server, user, *args, password="pass"):
    return subprocess.run(
        [sys.executable, CLIENT, "--imap", "%s:%d" % (server.host, server.imap_port),
         "--smtp", "%s:%d" % (server.host, server.smtp_port), "--user", user,
         "--password", password, *args],
        capture_output=True, text=True, timeout=300)


def account_state(server, imap_connect, user):
    """What a check must leave as it found it: the mailboxes with their
    subscriptions and message counts, and the private METADATA."""
    imap = imap_connect(user)
    boxes = imap.list()
    counts = {}
    for box, attrs in boxes.items():
        if {"\\Noselect", "\\NonExistent"} & attrs:
            continue
        resp = imap.ok("STATUS", quote(box), "(MESSAGES)")
        counts[box] = re.search(rb"MESSAGES (\d+)",
                                b" ".join(resp.untagged)).group(1)
    metadata = imap.getmetadata("", "/private", depth="infinity")
    metadata.update(imap.getmetadata("", COI_CONFIG, depth="1"))
    return sorted(boxes), sorted(imap.lsub()), counts, metadata


def report(server, user, *args):
    res = run_cli(server, user, "--json", *args, "check")
    assert "Traceback" not in res.stderr, res.stderr
    return res, json.loads(res.stdout)


def checked(server, imap_connect, user, *args):
    """Runs the check; asserts it left the account as it found it.
    Returns (process, report, the account's state)."""
    before = account_state(server, imap_connect, user)
    res, rep = report(server, user, *args)
    assert account_state(server, imap_connect, user) == before
    return res, rep, before


def results(rep):
    return {c["id"]: c["result"] for c in rep["checks"]}


def test_check_on_our_server_passes_everything(server, imap_connect):
    res, rep, _ = checked(server, imap_connect, server.new_user())
    assert res.returncode == 0, res.stdout + res.stderr
    assert rep["mode"] == "extended"
    for check in rep["checks"]:
        assert set(check) >= {"id", "level", "spec", "result", "detail"}
        assert check["level"] in ("MUST", "SHOULD", "MAY")
        assert check["result"] == "pass", check
    for check_id in ("capability.coi", "config.enable", "filter.none",
                     "filter.active", "filter.seen", "filter.chat-keyword",
                     "filter.references", "blocking.server", "webpush.vapid",
                     "webpush.validate", "webpush.message-push",
                     "deltachat.devicetoken-validated",
                     "deltachat.server-entries", "cleanup"):
        assert check_id in results(rep)
    assert rep["summary"]["must_failed"] == 0


def test_check_keeps_an_enabled_configuration(server, imap_connect):
    user = server.new_user()
    c = client(server, user)
    try:
        c.setup("seen")
    finally:
        c.close()
    res, rep, before = checked(server, imap_connect, user)
    assert res.returncode == 0, res.stdout
    cfg = before[3]
    assert cfg["/private/vendor/vendor.dovecot/coi/config/message-filter"] \
        == b"seen"


def test_check_on_a_plain_server(server, imap_connect):
    user = server.new_vanilla_user()
    res, rep, _ = checked(server, imap_connect, user)
    assert res.returncode == 0, res.stdout + res.stderr
    assert rep["mode"] == "plain"
    got = results(rep)
    assert "fail" not in got.values(), rep
    for check in rep["checks"]:
        if check["result"] == "skip":
            assert check["detail"], check
    assert got["capability.coi"] == "skip"
    assert "not a COI server" in [c for c in rep["checks"]
                                  if c["id"] == "capability.coi"][0]["detail"]
    for check_id in ("plain.folders", "plain.keywords", "plain.filing",
                     "plain.blocking"):
        assert got[check_id] == "pass", rep
    # as text: a line per check with result, level and id, then the spec
    res = run_cli(server, user, "check")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert ["SKIP", "MUST", "capability.coi"] in [l.split()[:3] for l in lines]
    assert ["PASS", "MUST", "plain.filing"] in [l.split()[:3] for l in lines]
    assert lines[-1].endswith("no MUST failed"), lines[-1]


@pytest.fixture(scope="module")
def no_filing_server():
    """A server whose LMTP lacks the delivery plugin (a forgotten
    mail_plugins line): COI is advertised, nothing files chats."""
    if DOVECOT_24:
        conf = "protocol lmtp {\n  mail_plugins {\n    coi_deliver = no\n  }\n}\n"
    else:
        conf = ("protocol lmtp {\n  mail_plugins = sieve coi "
                "notify push_notification coi_push\n}\n")
    srv = DevServer(extra_conf=conf)
    srv.start()
    yield srv
    srv.cleanup()


def test_check_fails_where_delivery_does_not_file(no_filing_server):
    server = no_filing_server
    user = server.new_user()
    conns = []

    def imap_connect(login):
        conns.append(Imap(server.host, server.imap_port))
        conns[-1].login(login)
        return conns[-1]
    try:
        res, rep, _ = checked(server, imap_connect, user, "--timeout", "3")
    finally:
        for conn in conns:
            conn.logout()
    got = results(rep)
    assert res.returncode == 1, res.stdout
    assert got["capability.coi"] == "pass"
    assert got["filter.active"] == "fail"
    assert got["filter.chat-keyword"] == "fail"
    assert rep["summary"]["must_failed"] >= 2
    detail = [c for c in rep["checks"] if c["id"] == "filter.active"][0]
    assert "INBOX" in detail["detail"] and "COI/Chats" in detail["detail"]


def test_check_skips_webpush_the_policy_refuses(server):
    user = server.new_custom_user({"coi_push_allow": "push.internal"})
    res, rep = report(server, user)
    assert res.returncode == 0, res.stdout
    sub = [c for c in rep["checks"] if c["id"] == "webpush.subscribe"][0]
    assert sub["result"] == "skip" and "policy" in sub["detail"], sub


def test_cli_send_sync_list(server):
    user = server.new_vanilla_user()
    # sync before setup: the client creates what it files into
    res = run_cli(server, user, "sync")
    assert res.returncode == 0 and "filed 0 messages" in res.stdout, res.stderr
    res = run_cli(server, user, "setup")
    assert "plain mode" in res.stdout
    res = run_cli(server, user, "send", user, "note to self")
    assert res.returncode == 0 and "sent <chat$" in res.stdout
    deadline = time.time() + 20
    while time.time() < deadline:
        run_cli(server, user, "sync")
        res = run_cli(server, user, "list")
        if "note to self" in res.stdout:
            break
        time.sleep(0.5)
    assert res.stdout.startswith("COI/Chats\t"), res.stdout
    # filed with $Chat, as a COI server would have
    c = client(server, user)
    try:
        uid = c.list_messages(c.chats)[0][0]
        c.imap.select(c.quote(c.chats))
        typ, data = c.imap.uid("FETCH", str(uid), "(FLAGS)")
        assert b"$Chat" in data[0], data
    finally:
        c.close()


def one_error_line(res, code, *words):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coi-client: "), \
        res.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_friendly_errors(server):
    user = server.new_user()
    one_error_line(run_cli(server, user, "list", password="wrong"), 3,
                   "login as", "password")
    port = free_ports(1)[0]
    res = subprocess.run([sys.executable, CLIENT, "--imap",
                          "127.0.0.1:%d" % port, "--user", user,
                          "--password", "pass", "list"],
                         capture_output=True, text=True, timeout=60)
    one_error_line(res, 3, "refused")
    one_error_line(run_cli(server, user, "block", "not an address"), 2,
                   "not an address")
    one_error_line(run_cli(server, user, "send", "", "text"), 2,
                   "not an address")
    one_error_line(run_cli(server, user, "send", user, ""), 2, "empty")
    res = subprocess.run([sys.executable, CLIENT, "--user", user, "list"],
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL,
                         env=dict(os.environ, COI_PASSWORD=""))
    assert res.returncode in (2, 3)
    res = subprocess.run([sys.executable, CLIENT, "--user", user, "list"],
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL,
                         env={k: v for k, v in os.environ.items()
                              if k != "COI_PASSWORD"})
    one_error_line(res, 2, "--password")
    # --debug: the traceback
    res = run_cli(server, user, "--debug", "list", password="wrong")
    assert res.returncode != 0 and "Traceback" in res.stderr
    res = run_cli(server, user, "unblock", "nobody@example.net")
    assert res.returncode == 0
    assert "nobody@example.net was not blocked: no contact for it" in res.stdout


def test_version_and_defaults():
    res = subprocess.run([sys.executable, CLIENT, "--version"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("coi-client ")
    parser = build_parser()
    args = parser.parse_args(["--user", "a@mail.example", "--password",
                              "x", "--tls", "list"])
    c = client_from_args(args)
    assert (c.imap_addr, c.smtp_addr) == (("mail.example", 993),
                                          ("mail.example", 465))
    args = parser.parse_args(["--user", "a@mail.example", "--password",
                              "x", "--starttls", "--imap", "imap.example",
                              "list"])
    c = client_from_args(args)
    assert (c.imap_addr, c.smtp_addr) == (("imap.example", 143),
                                          ("imap.example", 587))
    args = parser.parse_args(["--user", "a@b.example", "--password", "x",
                              "--imap", "[::1]:1143", "--smtp", ":1025",
                              "list"])
    c = client_from_args(args)
    assert (c.imap_addr, c.smtp_addr) == (("::1", 1143), ("::1", 1025))


# -- TLS: implicit (imaps/submissions ports) and STARTTLS ------------------

def tls_args(server, implicit, cafile=True):
    imap_port = server.imaps_port if implicit else server.imap_port
    smtp_port = server.smtps_port if implicit else server.smtp_port
    args = ["--imap", "%s:%d" % (server.host, imap_port),
            "--smtp", "%s:%d" % (server.host, smtp_port),
            "--tls" if implicit else "--starttls"]
    if cafile:
        args += ["--cafile", server.tls_cafile]
    return args


def run_cli_tls(server, user, implicit, *args, cafile=True):
    return subprocess.run(
        [sys.executable, CLIENT, *tls_args(server, implicit, cafile),
         "--user", user, "--password", "pass", *args],
        capture_output=True, text=True, timeout=120)


def received_over_tls(c, subject):
    """The Received header Postfix added says whether SMTP used TLS."""
    msg = c.read(*find(c, subject))
    return any("using TLS" in " ".join(str(v).split())
               for v in msg.get_all("Received", []))


def test_cli_over_implicit_tls(server):
    # the imaps and submissions ports speak nothing but TLS, so every
    # command succeeding proves both connections were TLS
    user = server.new_user()
    res = run_cli_tls(server, user, True, "setup")
    assert res.returncode == 0 and "extended mode" in res.stdout, res.stderr
    res = run_cli_tls(server, user, True, "send", user, "over tls")
    assert res.returncode == 0 and "sent <chat$" in res.stdout, res.stderr
    deadline = time.time() + 20
    while time.time() < deadline:
        res = run_cli_tls(server, user, True, "list")
        if "COI/Chats\t" in res.stdout:
            break
        time.sleep(0.3)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("COI/Chats\t"), res.stdout
    c = CoiClient((server.host, server.imaps_port), None, user, "pass",
                  tls=True, cafile=server.tls_cafile).connect()
    try:
        subject = res.stdout.split("\t")[3].strip()
        assert received_over_tls(c, subject)
    finally:
        c.close()


def test_cli_refuses_an_untrusted_certificate(server):
    for implicit in (True, False):
        res = run_cli_tls(server, server.new_user(), implicit, "check",
                          cafile=False)
        one_error_line(res, 3, "not trusted", "--cafile")


def test_starttls_on_both(server):
    user = server.new_user()
    c = CoiClient((server.host, server.imap_port),
                  (server.host, server.smtp_port), user, "pass",
                  starttls=True, cafile=server.tls_cafile).connect()
    try:
        assert isinstance(c.imap.sock, ssl.SSLSocket)
        c.setup("active")
        c.send(c.compose(user, "upgraded", subject="starttls chat"))
        wait_all(c, 1)
        assert find(c, "starttls chat")[0] == c.chats
        assert received_over_tls(c, "starttls chat")
    finally:
        c.close()


def blocking_run(server, user):
    """A user blocks a sender, gets mail from it and from a friend, then
    unblocks it; returns the folders' contents."""
    c = client(server, user)
    spammer, friend = server.new_user("spammer"), server.new_user("friend")
    boxes = ("INBOX", c.chats, "Blocked")

    def wait(count):
        deadline = time.time() + 20
        while time.time() < deadline:
            total = sum(len(c.list_messages(b)) for b in boxes)
            if total >= count:
                break
            time.sleep(0.2)
        c.sync()

    try:
        c.setup("active")
        # a known contact first, blocked later: the client rewrites it
        c.set_blocked(spammer, False)
        assert c.block(spammer.upper()) == 1
        assert c.block(spammer) == 0
        smtp_send(server, spammer, [user],
                  compose(spammer, user, subject="spam chat", chat=True))
        smtp_send(server, spammer, [user],
                  compose("Spammer <%s>" % spammer.upper(), user,
                          subject="spam mail"))
        smtp_send(server, friend, [user],
                  compose(friend, user, subject="friend chat", chat=True))
        wait(3)
        assert c.unblock(spammer) == 1
        smtp_send(server, spammer, [user],
                  compose(spammer, user, subject="forgiven"))
        wait(4)
        contacts = c.contacts_list()
        return {box: sorted(subj for _, _, subj, _, _ in c.list_messages(box))
                for box in boxes}, [(h, b) for _, h, b in contacts]
    finally:
        c.close()


def test_blocking_in_plain_and_extended_mode(server):
    plain = blocking_run(server, server.new_vanilla_user())
    extended = blocking_run(server, server.new_user())
    folders, contacts = plain
    assert folders == {"INBOX": ["forgiven"], "COI/Chats": ["friend chat"],
                       "Blocked": ["spam chat", "spam mail"]}
    # one contact message left, not blocked
    assert len(contacts) == 1 and contacts[0][1] is False
    assert extended[0] == folders
    assert len(extended[1]) == 1 and extended[1][0][1] is False


def test_cli_block_and_unblock(server, imap_connect):
    user = server.new_user()
    res = run_cli(server, user, "block", "Someone@Example.NET")
    assert res.returncode == 0, res.stderr
    assert "blocked Someone@Example.NET (1 contact messages written)" in res.stdout
    listed = server.doveadm("-f", "tab", "coi", "blocklist", "list", "-u",
                            user).stdout.splitlines()[1:]
    import hashlib
    assert [line.split("\t")[0] for line in listed] == [
        hashlib.sha3_256(b"someone@example.net").hexdigest()]
    res = run_cli(server, user, "unblock", "someone@example.net")
    assert res.returncode == 0 and "(1 contact messages written)" in res.stdout
    assert server.doveadm("-f", "tab", "coi", "blocklist", "list", "-u",
                          user).stdout.splitlines()[1:] == []
