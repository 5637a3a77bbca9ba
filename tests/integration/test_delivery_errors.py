"""Storage errors at delivery (issue 3, "never lose mail"): quota and other
storage failures are reported exactly as Dovecot reports them without the
COI plugin (a temporary failure, or a permanent one where Dovecot's
settings say so), nothing is stored partially, and the sender can retry.

Every test compares a user with COI enabled (filter "active") against a
user without any COI plugin, in the same LMTP transaction or LDA run."""

import os
import subprocess
import threading
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER
from coitest.imap import Imap
from coitest.mail import compose, fetch_all, lmtp_send, message_count
from coitest.server import dovecot_tool

QUOTA = "20K"
FILLER_SIZE = 14 * 1024   # leaves about 6 KiB
SMALL_SIZE = 1024         # fits
BIG_SIZE = 8 * 1024       # does not


def body(size):
    line = "x" * 76 + "\r\n"
    return line * (size // len(line))


def msg(subject, size, chat):
    return compose("sender@example.net", "rcpt@example.org", subject=subject,
                   chat=chat, body=body(size))


def configure_active(imap):
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)


def subjects(imap, box):
    if box not in imap.list():
        return []
    return sorted(s for _, s in fetch_all(imap, box))


def contents(conns):
    """{user: (INBOX subjects, COI/Chats subjects)}"""
    return {user: (subjects(imap, "INBOX"), subjects(imap, "COI/Chats"))
            for user, imap in conns.items()}


def reply_class(reply):
    """(code, enhanced status code) of an LMTP reply."""
    code, text = reply
    return code, text.split()[0].decode()


@pytest.fixture
def quota_users(server, imap_connect, request):
    """(COI user, vanilla user), both with QUOTA, almost full, and their
    IMAP connections. request.param: quota_full_tempfail."""
    fields = {"quota_full_tempfail": "yes" if request.param else "no"}
    coi, vanilla = server.new_custom_users([
        server.quota_user_fields(QUOTA, coi=True, fields=fields),
        server.quota_user_fields(QUOTA, coi=False, fields=fields)], "quota")
    conns = {coi: imap_connect(coi), vanilla: imap_connect(vanilla)}
    configure_active(conns[coi])
    replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                        msg("filler", FILLER_SIZE, chat=False))
    assert all(code == 250 for code, _ in replies.values()), replies
    return coi, vanilla, conns, request.param


def expected_quota_reply(tempfail):
    return (452, "4.2.2") if tempfail else (552, "5.2.2")


@pytest.mark.parametrize("quota_users", [False, True], indirect=True,
                         ids=["quota_full_tempfail=no",
                              "quota_full_tempfail=yes"])
@pytest.mark.parametrize("chat", [True, False], ids=["chat", "mail"])
def test_over_quota_is_reported_as_without_coi(server, quota_users, chat):
    coi, vanilla, conns, tempfail = quota_users
    # there is room for a small message: the limit is what refuses the
    # big one, and chats are filed as usual up to it
    replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                        msg("small", SMALL_SIZE, chat))
    assert all(code == 250 for code, _ in replies.values()), replies
    before = contents(conns)
    assert before[coi] == ((["filler"], ["small"]) if chat else
                           (["filler", "small"], []))

    replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                        msg("big", BIG_SIZE, chat))
    assert reply_class(replies[vanilla]) == expected_quota_reply(tempfail)
    assert reply_class(replies[coi]) == reply_class(replies[vanilla])
    # the same reason, too (the text names the recipient)
    assert replies[coi][1].replace(coi.encode(), b"USER") == \
        replies[vanilla][1].replace(vanilla.encode(), b"USER")
    # nothing stored anywhere, not even partially
    assert contents(conns) == before
    for imap in conns.values():
        assert message_count(imap, "INBOX") + \
            message_count(imap, "COI/Chats") == 2


@pytest.mark.parametrize("quota_users", [False, True], indirect=True,
                         ids=["quota_full_tempfail=no",
                              "quota_full_tempfail=yes"])
def test_over_quota_chat_is_filed_when_the_sender_retries(server,
                                                         quota_users):
    coi, vanilla, conns, tempfail = quota_users
    big = msg("big", BIG_SIZE, chat=True)
    replies = lmtp_send(server, "sender@example.net", [coi, vanilla], big)
    assert reply_class(replies[coi]) == expected_quota_reply(tempfail)
    # the user makes room; the sender's retry is delivered and filed
    for imap in conns.values():
        imap.ok("SELECT", "INBOX")
        imap.ok("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
        imap.ok("EXPUNGE")
        imap.ok("UNSELECT")
    replies = lmtp_send(server, "sender@example.net", [coi, vanilla], big)
    assert all(code == 250 for code, _ in replies.values()), replies
    assert contents(conns) == {coi: ([], ["big"]), vanilla: (["big"], [])}
    assert [f for f, _ in fetch_all(conns[coi], "COI/Chats")] == [{"$Chat"}]


def lda_run(server, recipient, message):
    """dovecot-lda with -e (rejections as exit codes, no bounce mail)."""
    res = subprocess.run([dovecot_tool("dovecot-lda"), "-c",
                          server.conf_path, "-e", "-d", recipient,
                          "-f", "sender@example.net"],
                         input=message, capture_output=True, timeout=30)
    return res.returncode, res.stderr.decode(errors="replace")


@pytest.mark.parametrize("quota_users", [False, True], indirect=True,
                         ids=["quota_full_tempfail=no",
                              "quota_full_tempfail=yes"])
def test_over_quota_with_dovecot_lda(server, quota_users):
    coi, vanilla, conns, tempfail = quota_users
    before = contents(conns)
    big = msg("big", BIG_SIZE, chat=True)
    rc_vanilla, err_vanilla = lda_run(server, vanilla, big)
    rc_coi, err_coi = lda_run(server, coi, big)
    # EX_TEMPFAIL or EX_NOPERM, with the same reason
    assert rc_vanilla == (75 if tempfail else 77), err_vanilla
    assert (rc_coi, err_coi) == (rc_vanilla, err_vanilla)
    assert contents(conns) == before


def mailbox_dir(server, user, box):
    return server.mailbox_dir(user, box)


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "mail"])
def test_storage_failure_is_temporary_as_without_coi(server, imap_connect,
                                                     chat):
    """Neither <root>/Chats nor INBOX can be written (here: permissions):
    the COI user gets the reply a user without COI gets for an unwritable
    INBOX, and a retry after the repair is filed as usual."""
    coi = server.new_user()
    vanilla = server.new_vanilla_user()
    conns = {coi: imap_connect(coi), vanilla: imap_connect(vanilla)}
    configure_active(conns[coi])
    replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                        msg("first", SMALL_SIZE, chat))
    assert all(code == 250 for code, _ in replies.values()), replies
    before = contents(conns)

    broken = [mailbox_dir(server, coi, "INBOX"),
              mailbox_dir(server, coi, "COI/Chats"),
              mailbox_dir(server, vanilla, "INBOX")]
    for path in broken:
        assert os.path.isdir(path), path
        os.chmod(path, 0)
    offset = server.log_size()
    try:
        replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                            msg("second", SMALL_SIZE, chat))
    finally:
        for path in broken:
            os.chmod(path, 0o700)
    # Dovecot's temporary failure for storage errors other than quota
    assert reply_class(replies[vanilla]) == (451, "4.2.0"), replies
    assert reply_class(replies[coi]) == reply_class(replies[vanilla])
    assert server.wait_for_log(offset, "Error"), server.log_since(offset)
    assert contents(conns) == before

    replies = lmtp_send(server, "sender@example.net", [coi, vanilla],
                        msg("second", SMALL_SIZE, chat))
    assert all(code == 250 for code, _ in replies.values()), replies
    after = contents(conns)
    if chat:
        assert after[coi] == ([], ["first", "second"])
    else:
        assert after[coi] == (["first", "second"], [])
    assert after[vanilla] == (["first", "second"], [])


def test_chats_deleted_during_deliveries(server, imap_connect):
    """A client deletes and re-creates Chats while chats are delivered:
    a save that opened Chats before the delete fails, and is stored into
    INBOX as Dovecot stores a message whose default mailbox failed, never
    answered with a temporary failure (451)."""
    user = server.new_user()
    configure_active(imap_connect(user))
    stop = threading.Event()
    errors = []

    def churn():
        imap = Imap(server.host, server.imap_port)
        try:
            imap.login(user)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                imap.command("DELETE", "COI/Chats")
                imap.command("CREATE", "COI/Chats")
        except Exception as e:   # reported by the main thread
            errors.append(e)
        finally:
            imap.logout()

    thread = threading.Thread(target=churn)
    thread.start()
    replies = []
    try:
        for i in range(60):
            replies.append(lmtp_send(server, "sender@example.net", [user],
                                     msg("race %d" % i, SMALL_SIZE, True)))
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert [r for r in replies if r[user][0] != 250] == []
