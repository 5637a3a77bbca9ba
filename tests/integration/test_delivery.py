"""Filing chat messages at delivery (coi-server-spec.md, "Configure Message
Filtering"), through the real Postfix -> LMTP -> Dovecot chain."""

import os
import select
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER
from coitest.mail import (ManageSieve, compose, fetch_all, lda_deliver,
                          lmtp_send, message_count, smtp_send,
                          wait_for_count)


def configure(imap, enabled=True, mode=None):
    if enabled:
        imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    if mode is not None:
        imap.ok("SETMETADATA", '""', "(%s %s)" % (COI_MESSAGE_FILTER, mode))


def deliver(server, imap, user, messages, expect_total=None):
    """Sends messages over SMTP and waits until all are stored somewhere."""
    sender = server.new_user("sender")
    before = total_count(imap)
    for msg in messages:
        smtp_send(server, sender, [user], msg(sender, user) if callable(msg) else msg)
    want = before + (len(messages) if expect_total is None else expect_total)
    deadline = time.time() + 20
    while time.time() < deadline and total_count(imap) < want:
        time.sleep(0.1)
    assert total_count(imap) == want, server.log_tail()


def total_count(imap):
    return sum(message_count(imap, box) for box in imap.list()
               if box not in ("COI",))


def chat(subject="chat", **kw):
    return lambda s, u: compose(s, u, subject=subject, chat=True, **kw)


def mail(subject="mail", **kw):
    return lambda s, u: compose(s, u, subject=subject, **kw)


def test_disabled_user_gets_plain_delivery(server, imap, user):
    deliver(server, imap, user, [chat(), mail()])
    assert sorted(fetch_all(imap, "INBOX"), key=lambda m: m[1]) == [
        (set(), "chat"), (set(), "mail")]
    assert "COI/Chats" not in imap.list()


def test_filter_none_keeps_chats_in_inbox_with_keyword(server, imap, user):
    configure(imap)
    deliver(server, imap, user, [chat(), mail()])
    got = dict((subj, flags) for flags, subj in fetch_all(imap, "INBOX"))
    assert "$Chat" in got["chat"]
    assert "$Chat" not in got["mail"]
    assert message_count(imap, "COI/Chats") == 0


def test_filter_active_files_chats(server, imap, user):
    configure(imap, mode="active")
    deliver(server, imap, user, [chat(), mail()])
    assert fetch_all(imap, "INBOX") == [(set(), "mail")]
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "chat")]


def test_filter_active_without_enabled_does_nothing(server, imap, user):
    configure(imap, enabled=False, mode="active")
    deliver(server, imap, user, [chat()])
    assert fetch_all(imap, "INBOX") == [(set(), "chat")]


@pytest.mark.parametrize("name,headers,is_chat", [
    ("chat-version", ["Chat-Version: 1.0"], True),
    ("lowercase header name", ["chat-version: 1.0"], True),
    ("odd version value", ["CHAT-VERSION: whatever"], True),
    ("message-id", [], True),
    ("first reference", ["References: <chat$abc@example.org> <x@example.org>"], True),
    ("folded reference", ["References:\r\n (a comment)\r\n\t<chat$abc@example.org>"], True),
    ("second reference", ["References: <x@example.org> <chat$abc@example.org>"], False),
    ("xchat message-id", [], False),
    ("in-reply-to only", ["In-Reply-To: <chat$abc@example.org>"], False),
    ("subject only", ["X-Note: chat$"], False),
    ("malformed references", ["References: chat$abc@example.org"], False),
])
def test_detection_rules(server, imap, user, name, headers, is_chat):
    configure(imap, mode="active")
    if name == "message-id":
        msgid = "<chat$%d@example.org>" % time.time_ns()
    elif name == "xchat message-id":
        msgid = "<xchat$%d@example.org>" % time.time_ns()
    else:
        msgid = None
    deliver(server, imap, user, [lambda s, u: compose(
        s, u, subject=name, message_id=msgid, extra_headers=headers)])
    box = "COI/Chats" if is_chat else "INBOX"
    assert message_count(imap, box) == 1, name


def test_huge_references_header(server, imap, user):
    configure(imap, mode="active")
    refs = "<chat$first@example.org>" + "".join(
        "\r\n <ref%d@example.org>" % i for i in range(5000))
    deliver(server, imap, user, [mail(references=refs)])
    assert message_count(imap, "COI/Chats") == 1


def test_chats_folder_deleted_by_user_disables_filing(server, imap, user):
    configure(imap, mode="active")
    imap.ok("DELETE", "COI/Chats")
    deliver(server, imap, user, [chat()])
    # deleting Chats was the user's way of disabling COI
    assert fetch_all(imap, "INBOX") == [(set(), "chat")]


def test_missing_chats_folder_is_created(server, imap, user):
    configure(imap, mode="active")
    deliver(server, imap, user, [chat("first")])
    # the folder vanishes behind COI's back (no plugin loaded for this)
    server.doveadm("-o", "mail_plugins=notify", "mailbox", "delete", "-u",
                   user, "COI/Chats")
    assert "COI/Chats" not in imap.list()
    deliver(server, imap, user, [chat("second")])
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "second")]
    assert "COI/Chats" in imap.lsub()


def test_unwritable_chats_falls_back_to_inbox(server, imap, user):
    configure(imap, mode="active")
    path = server.mailbox_dir(user, "COI/Chats")
    assert os.path.isdir(path)
    os.chmod(path, 0)
    offset = server.log_size()
    try:
        deliver(server, imap, user, [chat()])
    finally:
        os.chmod(path, 0o700)
    assert fetch_all(imap, "INBOX") == [({"$Chat"}, "chat")]
    assert server.wait_for_log(offset, "Error"), server.log_since(offset)


@pytest.mark.parametrize("script", [None, "keep;",
                                    'require "fileinto"; fileinto "INBOX";'])
def test_unreadable_chats_with_sieve_falls_back_to_inbox(server, imap, user,
                                                         script):
    """The same through Sieve's (implicit) keep: an unusable Chats folder
    never turns into a temporary failure or a lost chat."""
    configure(imap, mode="active")
    sieve = ManageSieve(server, user)
    if script is None:
        sieve.put_active("empty", "# implicit keep only\n")
    else:
        sieve.put_active("script", script)
    sieve.close()
    path = server.mailbox_dir(user, "COI/Chats")
    os.chmod(path, 0)
    try:
        deliver(server, imap, user, [chat(), mail()])
    finally:
        os.chmod(path, 0o700)
    assert sorted(fetch_all(imap, "INBOX"), key=lambda m: m[1]) == \
        [({"$Chat"}, "chat"), (set(), "mail")]


def test_messages_to_self_are_filed(server, imap, user):
    configure(imap, mode="active")
    smtp_send(server, user, [user], compose(user, user, subject="self",
                                             chat=True))
    assert wait_for_count(imap, "COI/Chats", 1) == 1
    assert message_count(imap, "INBOX") == 0


def test_multi_recipient_lmtp_each_gets_own_behaviour(server, imap_connect):
    active, none, disabled = (server.new_user() for _ in range(3))
    vanilla = server.new_vanilla_user()
    conns = {u: imap_connect(u) for u in (active, none, disabled, vanilla)}
    configure(conns[active], mode="active")
    configure(conns[none], mode="none")
    configure(conns[disabled], enabled=False, mode="active")
    msg = compose("sender@example.net", "group@example.org", subject="group",
                  chat=True)
    replies = lmtp_send(server, "sender@example.net",
                        [active, none, disabled, vanilla], msg)
    assert all(code == 250 for code, _ in replies.values()), replies
    assert fetch_all(conns[active], "COI/Chats") == [({"$Chat"}, "group")]
    assert message_count(conns[active], "INBOX") == 0
    assert fetch_all(conns[none], "INBOX") == [({"$Chat"}, "group")]
    assert fetch_all(conns[disabled], "INBOX") == [(set(), "group")]
    assert fetch_all(conns[vanilla], "INBOX") == [(set(), "group")]


def test_dovecot_lda_files_chats(server, imap, user):
    configure(imap, mode="active")
    lda_deliver(server, user, compose("x@example.net", user, subject="lda",
                                      chat=True))
    lda_deliver(server, user, compose("x@example.net", user, subject="plain"))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "lda")]
    assert fetch_all(imap, "INBOX") == [(set(), "plain")]


def test_idle_on_inbox_not_woken_by_chats_in_active_mode(server,
                                                         imap_connect, user):
    setup = imap_connect(user)
    configure(setup, mode="active")
    idler = imap_connect(user)
    idler.ok("SELECT", "INBOX")
    idler.send(b"i1 IDLE\r\n")
    assert idler._read_response().startswith(b"+")

    sender = server.new_user("sender")
    smtp_send(server, sender, [user], compose(sender, user, chat=True))
    assert wait_for_count(setup, "COI/Chats", 1) == 1
    # IDLE notifications come within about a second; give them two
    idler.sock.settimeout(2.5)
    woken = b""
    try:
        woken = idler.sock.recv(4096)
    except OSError:
        pass
    assert b"EXISTS" not in woken, woken

    # a normal mail does wake it: the IDLE itself works
    idler.sock.settimeout(15)
    smtp_send(server, sender, [user], compose(sender, user))
    data = b""
    deadline = time.time() + 15
    while b"EXISTS" not in data and time.time() < deadline:
        ready, _, _ = select.select([idler.sock], [], [], 1)
        if ready:
            data += idler.sock.recv(4096)
    assert b"* 1 EXISTS" in data
    idler.send(b"DONE\r\n")


SIEVE_CASES = {
    "keep": ('keep;', {"COI/Chats": 1, "INBOX": 0}),
    "implicit keep": ('if header :contains "subject" "nomatch" { discard; }',
                      {"COI/Chats": 1, "INBOX": 0}),
    "fileinto": ('require "fileinto"; fileinto "Work";',
                 {"Work": 1, "COI/Chats": 0, "INBOX": 0}),
    "fileinto inbox": ('require "fileinto"; fileinto "INBOX";',
                       {"INBOX": 1, "COI/Chats": 0}),
    "discard": ('discard;', {"COI/Chats": 0, "INBOX": 0}),
}


@pytest.mark.parametrize("case", sorted(SIEVE_CASES))
def test_sieve_composes_with_active_filing(server, imap, user, case):
    script, expected = SIEVE_CASES[case]
    configure(imap, mode="active")
    imap.ok("CREATE", "Work")
    sieve = ManageSieve(server, user)
    sieve.put_active("test", script)
    sieve.close()
    sender = server.new_user("sender")
    smtp_send(server, sender, [user], compose(sender, user, subject="sv",
                                               chat=True))
    # wait for Postfix to hand the message over
    deadline = time.time() + 20
    while time.time() < deadline:
        if "status=sent" in open(server.log_path("postfix.log")).read().split(user)[-1]:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    for box, count in expected.items():
        assert message_count(imap, box) == count, (case, box)
    for box, count in expected.items():
        if count:
            assert all("$Chat" in flags for flags, _ in fetch_all(imap, box))


def test_sieve_vacation_still_answers_chats(server, imap_connect, user):
    imap = imap_connect(user)
    configure(imap, mode="active")
    sieve = ManageSieve(server, user)
    sieve.put_active("vacation", 'require "vacation"; '
                     'vacation :days 1 :subject "away" "I am away";')
    sieve.close()
    sender = server.new_user("sender")
    smtp_send(server, sender, [user], compose(sender, user, subject="hi",
                                               chat=True))
    assert wait_for_count(imap, "COI/Chats", 1) == 1
    # the reply travels back through Postfix to the sender
    sender_imap = imap_connect(sender)
    assert wait_for_count(sender_imap, "INBOX", 1) == 1
    subjects = [s for _, s in fetch_all(sender_imap, "INBOX")]
    assert subjects == ["away"]


# -- seen mode ----------------------------------------------------------

def seen_setup(server, imap, user, subjects=("c1", "c2"), mails=("m1",)):
    configure(imap, mode="seen")
    deliver(server, imap, user, [chat(s) for s in subjects] +
            [mail(s) for s in mails])
    assert message_count(imap, "COI/Chats") == 0
    imap.ok("SELECT", "INBOX")


def seq(imap, subject):
    """The sequence number of the INBOX message with this subject
    (SMTP deliveries may arrive in any order)."""
    resp = imap.ok("SEARCH", "SUBJECT", '"%s"' % subject)
    nums = resp.untagged[0].split()[2:]
    assert len(nums) == 1, resp.untagged
    return nums[0].decode()


def test_seen_mode_moves_on_store(server, imap, user):
    seen_setup(server, imap, user)
    imap.ok("STORE", seq(imap, "c1"), "+FLAGS", "(\\Seen \\Flagged)")
    imap.ok("NOOP")
    assert fetch_all(imap, "COI/Chats") == [
        ({"\\Seen", "\\Flagged", "$Chat"}, "c1")]
    assert sorted(s for _, s in fetch_all(imap, "INBOX")) == ["c2", "m1"]


def test_seen_mode_moves_on_fetch_body(server, imap, user):
    seen_setup(server, imap, user)
    imap.ok("SELECT", "INBOX")
    imap.ok("FETCH", seq(imap, "c2"), "(BODY[])")
    assert [s for _, s in fetch_all(imap, "COI/Chats")] == ["c2"]
    assert "\\Seen" in fetch_all(imap, "COI/Chats")[0][0]


def test_seen_move_is_a_real_move(server, imap_connect, user):
    """The original leaves INBOX for good: nothing comes back after an
    index rebuild (sdbox, mdbox) or at the next sync (Maildir), and reading
    the chat again in Chats adds no copy."""
    imap = imap_connect(user)
    seen_setup(server, imap, user)
    imap.ok("FETCH", seq(imap, "c1"), "(BODY[])")
    imap.ok("NOOP")
    imap.logout()
    # (a dbox rebuild resets the index: open sessions would disconnect)
    before, after = server.resync_changes(user)
    assert after == before
    imap = imap_connect(user)
    assert sorted(s for _, s in fetch_all(imap, "INBOX")) == ["c2", "m1"]
    imap.ok("SELECT", "COI/Chats")
    imap.ok("FETCH", "1", "(BODY[])")
    imap.ok("STORE", "1", "-FLAGS", "(\\Seen)")
    imap.ok("STORE", "1", "+FLAGS", "(\\Seen)")
    assert [s for _, s in fetch_all(imap, "COI/Chats")] == ["c1"]
    assert sorted(s for _, s in fetch_all(imap, "INBOX")) == ["c2", "m1"]


def test_seen_mode_leaves_normal_mail(server, imap, user):
    seen_setup(server, imap, user)
    imap.ok("SELECT", "INBOX")
    imap.ok("STORE", "1:*", "+FLAGS", "(\\Seen)")
    assert sorted(s for _, s in fetch_all(imap, "COI/Chats")) == ["c1", "c2"]
    assert [s for _, s in fetch_all(imap, "INBOX")] == ["m1"]


def test_seen_mode_peek_and_other_flags_do_not_move(server, imap, user):
    seen_setup(server, imap, user)
    imap.ok("SELECT", "INBOX")
    imap.ok("FETCH", seq(imap, "c1"), "(BODY.PEEK[])")
    imap.ok("STORE", seq(imap, "c1"), "+FLAGS", "(\\Flagged)")
    imap.ok("STORE", seq(imap, "c2"), "-FLAGS", "(\\Seen)")
    assert message_count(imap, "COI/Chats") == 0


@pytest.mark.parametrize("change", [
    "(%s NIL)" % COI_ENABLED,            # COI disabled
    "(%s none)" % COI_MESSAGE_FILTER,    # another filter mode
])
def test_seen_moves_only_in_seen_mode_with_coi_enabled(server, imap, user,
                                                        change):
    seen_setup(server, imap, user)
    imap.ok("SETMETADATA", '""', change)
    imap.ok("SELECT", "INBOX")
    imap.ok("STORE", "1:*", "+FLAGS", "(\\Seen)")
    assert message_count(imap, "COI/Chats") == 0


def test_sieve_redirect_of_a_chat_in_active_mode(server, imap_connect, user):
    imap = imap_connect(user)
    configure(imap, mode="active")
    target = server.new_user("target")
    sieve = ManageSieve(server, user)
    sieve.put_active("redirect", 'redirect "%s";' % target)
    sieve.close()
    sender = server.new_user("sender")
    smtp_send(server, sender, [user], compose(sender, user, subject="fwd",
                                               chat=True))
    target_imap = imap_connect(target)
    assert wait_for_count(target_imap, "INBOX", 1) == 1
    assert [s for _, s in fetch_all(target_imap, "INBOX")] == ["fwd"]
    # redirect cancels the keep: nothing stays with the COI user
    assert message_count(imap, "COI/Chats") == 0
    assert message_count(imap, "INBOX") == 0


# -- configuration changes and long-lived LMTP processes ----------------


class LmtpSession:
    """One LMTP connection for many transactions: Dovecot serves it with one
    lmtp process, so every delivery after the first runs in a process that
    has delivered to the same user before."""

    def __init__(self, server):
        import smtplib
        self.lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=20)
        self.lmtp.ehlo("test.example.org")

    def deliver(self, rcpt, message):
        self.lmtp.mail("sender@example.net")
        code, text = self.lmtp.rcpt(rcpt)
        assert code == 250, (code, text)
        # data() raises on anything but 250
        self.lmtp.data(message)

    def close(self):
        self.lmtp.quit()


def test_config_changes_apply_to_the_next_delivery_of_the_same_process(
        server, imap_connect, user):
    imap = imap_connect(user)
    other = server.new_user()
    other_imap = imap_connect(other)
    configure(other_imap, mode="active")
    lmtp = LmtpSession(server)
    step = [0]

    def chat_to(rcpt=user):
        step[0] += 1
        subject = "c%d" % step[0]
        lmtp.deliver(rcpt, compose("sender@example.net", rcpt,
                                   subject=subject, chat=True))
        return subject

    def where(subject, conn=imap):
        boxes = [box for box in ("INBOX", "COI/Chats")
                 if any(s == subject for _, s in fetch_all(conn, box))]
        assert len(boxes) == 1, (subject, boxes)
        return boxes[0]

    try:
        configure(imap, mode="active")
        assert where(chat_to()) == "COI/Chats"
        # the same process delivers to another user in between
        assert where(chat_to(other), other_imap) == "COI/Chats"
        imap.ok("SETMETADATA", '""', "(%s none)" % COI_MESSAGE_FILTER)
        assert where(chat_to()) == "INBOX"
        imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
        assert where(chat_to()) == "COI/Chats"
        # disabled by deleting the Chats folder (indirect)
        imap.ok("UNSELECT")
        imap.ok("DELETE", "COI/Chats")
        subject = chat_to()
        assert fetch_all(imap, "INBOX")[-1] == (set(), subject)
        # enabled again by another process (doveadm), no IMAP involved
        server.doveadm("mailbox", "metadata", "set", "-u", user, "-s", "",
                       COI_ENABLED, "yes")
        assert where(chat_to()) == "COI/Chats"
        # the attributes removed behind Dovecot's back: unconfigured
        server.forget_attributes(user)
        subject = chat_to()
        assert fetch_all(imap, "INBOX")[-1] == (set(), subject)
        # the other user's configuration was never affected
        assert where(chat_to(other), other_imap) == "COI/Chats"
    finally:
        lmtp.close()
