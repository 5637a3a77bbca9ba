"""The reference client against the real server: plain mode on a user
without the plugin, extended mode on a COI user, and the same conversation
ending in the same state in both."""

import os
import ssl
import subprocess
import sys
import time

from coiclient import CoiClient, is_chat_message
from coitest.mail import compose, smtp_send

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


def run_cli(server, user, *args):
    return subprocess.run(
        [sys.executable, CLIENT, "--imap", "%s:%d" % (server.host, server.imap_port),
         "--smtp", "%s:%d" % (server.host, server.smtp_port), "--user", user,
         *args], capture_output=True, text=True, timeout=120)


def test_cli_check_on_coi_server(server):
    res = run_cli(server, server.new_user(), "check")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("filter") else ""):
            line for line in res.stdout.splitlines()}
    assert rows["COI"].split()[1] == "yes"
    assert rows["mode"].split()[1] == "extended"
    for mode in ("none", "active", "seen"):
        assert rows["filter " + mode].split()[2] == "ok", res.stdout


def test_cli_check_on_plain_server(server):
    res = run_cli(server, server.new_vanilla_user(), "check")
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line.split()[1] for line in res.stdout.splitlines()[1:]}
    assert lines["COI"] == "no" and lines["mode"] == "plain"
    assert lines["METADATA"] == "yes" and lines["IDLE"] == "yes"


def test_cli_send_sync_list(server):
    user = server.new_vanilla_user()
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


def test_check_restores_configuration(server, imap_connect):
    user = server.new_user()
    c = client(server, user)
    try:
        c.setup("seen")
        c.check()
        cfg = c.getmetadata("/private/vendor/vendor.dovecot/coi/config", depth=1)
        assert cfg["/private/vendor/vendor.dovecot/coi/config/message-filter"] == "seen"
        assert is_chat_message(c.compose(user, "x"))
    finally:
        c.close()


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
         "--user", user, *args], capture_output=True, text=True, timeout=120)


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
        assert res.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in res.stderr, res.stderr


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
