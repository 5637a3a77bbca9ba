"""Blocked contacts at delivery (coi-client-spec.md "Contact Storage
Messages", "Blocking Contacts"): contact messages in COI/Contacts with a
COI-Blocked header keep their senders' mail out of INBOX and COI/Chats,
away from Sieve and push, through real LMTP, dovecot-lda and IMAP."""

import hashlib
import os
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, Literal, quote
from coitest.server import DOVECOT_24
from coitest.mail import (ManageSieve, compose, fetch_all, lda_deliver,
                          lmtp_send, message_count, smtp_send,
                          wait_for_count)

CONTACTS = "COI/Contacts"
BLOCKED = "Blocked"
INDEX_FILE = "dovecot-coi-blocklist"


def addr_hash(address):
    return hashlib.sha3_256(address.lower().encode()).hexdigest()


def enable(imap, mode="active"):
    assert imap.setmetadata("", COI_ENABLED, "yes").status == "OK"
    assert imap.setmetadata("", COI_MESSAGE_FILTER, mode).status == "OK"


def contact(*addresses, blocked=True, hashes=None, extra=()):
    """A contact storage message as a client writes it."""
    lines = ["From: <me@example.org>", "Subject: Contact",
             "Date: Sun, 22 Nov 2026 12:00:00 +0000",
             "Chat-Content: contact", "Content-Type: text/html"]
    for h in (hashes if hashes is not None else
              [addr_hash(a) for a in addresses]):
        lines.append("COI-From-Hash: %s" % h)
    if blocked:
        lines.append("COI-Blocked: yes")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n<p class=\"h-card\">x</p>\r\n").encode()


def append_contact(imap, message):
    resp = imap.ok("APPEND", quote(CONTACTS), Literal(message, nonsync=True))
    # [APPENDUID uidvalidity uid]
    return int(resp.text.split("]")[0].split()[-1])


def expunge_uid(imap, uid):
    imap.ok("SELECT", quote(CONTACTS))
    imap.ok("UID", "STORE", str(uid), "+FLAGS", "(\\Deleted)")
    imap.ok("EXPUNGE")
    imap.ok("UNSELECT")


def lmtp(server, user, sender, subject="hello", chat=False, from_=None,
         **kw):
    msg = compose(from_ or sender, user, subject=subject, chat=chat, **kw)
    replies = lmtp_send(server, sender, [user], msg)
    assert replies[user][0] == 250, replies
    return msg


def boxes(imap):
    return {box: [s for _, s in fetch_all(imap, box)]
            for box in ("INBOX", "COI/Chats", BLOCKED)
            if box in imap.list()}


def subjects_in(imap, box):
    if box not in imap.list():
        return []
    return sorted(s for _, s in fetch_all(imap, box))


def contacts_index_path(server, user):
    return os.path.join(server.mailbox_index_dir(user, "COI/Contacts"),
                        INDEX_FILE)


@pytest.fixture
def blocked_sender(server):
    return server.new_user("spammer")


def test_blocked_chat_and_mail_go_to_blocked(server, imap, user,
                                             blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    friend = server.new_user("friend")
    lmtp(server, user, blocked_sender, "blocked chat", chat=True)
    lmtp(server, user, blocked_sender, "blocked mail")
    lmtp(server, user, friend, "friend chat", chat=True)
    lmtp(server, user, friend, "friend mail")
    assert subjects_in(imap, "INBOX") == ["friend mail"]
    assert subjects_in(imap, "COI/Chats") == ["friend chat"]
    assert subjects_in(imap, BLOCKED) == ["blocked chat", "blocked mail"]
    # the folder was created on demand and is subscribed
    assert BLOCKED in imap.lsub()


def test_smtp_and_dovecot_lda(server, imap, user, blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    smtp_send(server, blocked_sender, [user],
              compose(blocked_sender, user, subject="via postfix"))
    assert wait_for_count(imap, BLOCKED, 1) == 1
    lda_deliver(server, user, compose(blocked_sender, user, subject="via lda"))
    assert subjects_in(imap, BLOCKED) == ["via lda", "via postfix"]
    assert message_count(imap, "INBOX") == 0


def test_discard_setting_stores_nothing(server, imap_connect, blocked_sender):
    user = server.new_custom_user({"coi_blocked_action": "discard"})
    imap = imap_connect(user)
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    offset = server.log_size()
    lmtp(server, user, blocked_sender, "discard me", chat=True)
    lmtp(server, user, blocked_sender, "discard me too")
    lmtp(server, user, server.new_user("friend"), "keep me")
    assert subjects_in(imap, "INBOX") == ["keep me"]
    assert message_count(imap, "COI/Chats") == 0
    assert BLOCKED not in imap.list()
    assert server.log_since(offset).count("Sender is blocked, message discarded") == 2


@pytest.mark.skipif(DOVECOT_24, reason="Dovecot 2.4 checks settings itself: "
                    "an invalid userdb value turns COI off for that user")
def test_invalid_action_is_one_error_and_stores(server, imap_connect,
                                               blocked_sender):
    """Settings are read once per user and a bad value is logged once per
    process: three deliveries in one LMTP transaction, one error, and the
    default action (store) for the blocked sender."""
    users = server.new_custom_users([{"coi_blocked_action": "sometimes"}] * 3)
    imaps = [imap_connect(user) for user in users]
    for imap in imaps:
        enable(imap)
        append_contact(imap, contact(blocked_sender))
    offset = server.log_size()
    replies = lmtp_send(server, blocked_sender, users,
                        compose(blocked_sender, users[0], subject="stored"))
    assert all(reply[0] == 250 for reply in replies.values()), replies
    for imap in imaps:
        assert subjects_in(imap, BLOCKED) == ["stored"]
    log = server.log_since(offset)
    assert log.count("Invalid coi_blocked_action=sometimes") == 1, log


def test_blocked_mailbox_setting(server, imap_connect, blocked_sender):
    user = server.new_custom_user({"coi_blocked_mailbox": "Junk/Blocked"})
    imap = imap_connect(user)
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    lmtp(server, user, blocked_sender, "elsewhere")
    assert subjects_in(imap, "Junk/Blocked") == ["elsewhere"]
    assert message_count(imap, "INBOX") == 0


def test_coi_disabled_means_no_blocking(server, imap, user, blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    assert imap.setmetadata("", COI_ENABLED, None).status == "OK"
    lmtp(server, user, blocked_sender, "not blocked", chat=True)
    assert subjects_in(imap, "INBOX") == ["not blocked"]
    assert BLOCKED not in imap.list()


def test_contact_without_coi_blocked_does_not_block(server, imap, user,
                                                     blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender, blocked=False))
    lmtp(server, user, blocked_sender, "a friend")
    assert subjects_in(imap, "INBOX") == ["a friend"]


def test_changes_take_effect_for_the_next_delivery(server, imap, user,
                                                   blocked_sender):
    enable(imap)
    # an unrelated contact, so the index exists before the block
    append_contact(imap, contact(server.new_user("other")))
    lmtp(server, user, blocked_sender, "before")
    # block: a client APPENDs the new version and EXPUNGEs the old one
    old = append_contact(imap, contact(blocked_sender, blocked=False))
    lmtp(server, user, blocked_sender, "known, not blocked")
    new = append_contact(imap, contact(blocked_sender))
    expunge_uid(imap, old)
    lmtp(server, user, blocked_sender, "blocked")
    # unblock by EXPUNGE alone (UIDNEXT does not change)
    expunge_uid(imap, new)
    lmtp(server, user, blocked_sender, "after unblock")
    # block again and unblock with \Deleted + EXPUNGE through another
    # APPEND of an unblocked version
    blocked_uid = append_contact(imap, contact(blocked_sender))
    lmtp(server, user, blocked_sender, "blocked again")
    append_contact(imap, contact(blocked_sender, blocked=False))
    expunge_uid(imap, blocked_uid)
    lmtp(server, user, blocked_sender, "unblocked again")
    assert subjects_in(imap, "INBOX") == sorted([
        "before", "known, not blocked", "after unblock", "unblocked again"])
    assert subjects_in(imap, BLOCKED) == ["blocked", "blocked again"]


def test_changes_apply_within_one_lmtp_connection(server, imap, user,
                                                   blocked_sender):
    """A long-lived LMTP process sees a contact change made between two of
    its deliveries."""
    import smtplib
    enable(imap)
    uid = append_contact(imap, contact(blocked_sender))
    lmtp_conn = smtplib.LMTP(server.host, server.lmtp_port, timeout=20)
    try:
        lmtp_conn.ehlo("test.example.org")
        for subject in ("first", "second"):
            lmtp_conn.sendmail(blocked_sender, [user], compose(
                blocked_sender, user, subject=subject))
            if subject == "first":
                expunge_uid(imap, uid)
    finally:
        lmtp_conn.quit()
    assert subjects_in(imap, BLOCKED) == ["first"]
    assert subjects_in(imap, "INBOX") == ["second"]


def test_first_block_applies_within_one_lmtp_connection(server, imap, user,
                                                       blocked_sender):
    """An LMTP process remembers that a user blocks nobody (while the
    Contacts folder is unchanged); the first blocking contact, appended
    between two of its deliveries, applies to the second."""
    import smtplib
    enable(imap)
    append_contact(imap, contact("someone.else@example.net", blocked=False))
    lmtp_conn = smtplib.LMTP(server.host, server.lmtp_port, timeout=20)
    try:
        lmtp_conn.ehlo("test.example.org")
        for subject in ("first", "again", "second"):
            lmtp_conn.sendmail(blocked_sender, [user], compose(
                blocked_sender, user, subject=subject))
            if subject == "again":
                append_contact(imap, contact(blocked_sender))
    finally:
        lmtp_conn.quit()
    assert subjects_in(imap, "INBOX") == ["again", "first"]
    assert subjects_in(imap, BLOCKED) == ["second"]


def test_index_is_rebuilt_only_when_contacts_change(server, imap, user,
                                                    blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    lmtp(server, user, blocked_sender, "one")
    # the rebuild's own reading changed the folder's log (cache): the next
    # delivery only restamps the file
    lmtp(server, user, blocked_sender, "two")
    path = contacts_index_path(server, user)
    with open(path) as f:
        first = f.read()
    assert addr_hash(blocked_sender) in first
    st = os.stat(path)
    for i in range(3):
        lmtp(server, user, blocked_sender, "again %d" % i)
        lmtp(server, user, server.new_user("friend"), "friend %d" % i)
    st2 = os.stat(path)
    assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    # a change of the folder makes the next delivery rewrite it
    other = server.new_user("x")
    append_contact(imap, contact(other))
    lmtp(server, user, blocked_sender, "after change")
    assert os.stat(path).st_ino != st.st_ino
    assert message_count(imap, BLOCKED) == 6
    # a flag change alone keeps the blocked hashes
    imap.ok("SELECT", quote(CONTACTS))
    imap.ok("STORE", "1:*", "+FLAGS", "(\\Flagged \\Seen)")
    imap.ok("UNSELECT")
    lmtp(server, user, blocked_sender, "after flags")
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[1:] == sorted([addr_hash(blocked_sender), addr_hash(other)])
    assert message_count(imap, BLOCKED) == 7


def test_broken_or_missing_index_is_rebuilt(server, imap, user,
                                            blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    lmtp(server, user, blocked_sender, "one")
    path = contacts_index_path(server, user)
    with open(path) as f:
        good = f.read()
    header = good.splitlines()[0]
    for broken in ("", "garbage\n", header + "\n", good[:-10]):
        with open(path, "w") as f:
            f.write(broken)
        lmtp(server, user, blocked_sender, "broken %r" % broken[:5])
    os.unlink(path)
    lmtp(server, user, blocked_sender, "missing")
    assert message_count(imap, BLOCKED) == 6
    assert message_count(imap, "INBOX") == 0


def test_any_of_several_from_addresses(server, imap, user, blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    friend = server.new_user("friend")
    lmtp(server, user, friend, "co-authored",
         from_="Friend <%s>, Spammer <%s>" % (friend, blocked_sender))
    lmtp(server, user, friend, "two From headers",
         from_=friend, extra_headers=["From: %s" % blocked_sender])
    lmtp(server, user, friend, "friend alone")
    assert subjects_in(imap, "INBOX") == ["friend alone"]
    assert subjects_in(imap, BLOCKED) == ["co-authored", "two From headers"]


def test_address_case_does_not_matter(server, imap, user):
    enable(imap)
    # the spec's example hash, stored as a client computes it
    assert addr_hash("john.doe@coi-dev.org") == \
        "74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0"
    append_contact(imap, contact("john.doe@coi-dev.org"))
    lmtp(server, user, "john.doe@coi-dev.org", "mixed case",
         from_='"John Doe" <John.Doe@COI-Dev.ORG>')
    append_contact(imap, contact(hashes=[addr_hash("x@y.org").upper()]))
    lmtp(server, user, "x@y.org", "upper-case hash", from_="X@Y.org")
    assert subjects_in(imap, BLOCKED) == ["mixed case", "upper-case hash"]


def test_malformed_contact_headers_are_ignored(server, imap, user,
                                               blocked_sender):
    enable(imap)
    good = addr_hash(blocked_sender)
    bad = [good[:-1], good + "0", "z" + good[1:], "<%s>" % good,
           good[:32] + " " + good[32:], "", "yes"]
    append_contact(imap, contact(hashes=bad))
    lmtp(server, user, blocked_sender, "not blocked by garbage")
    assert subjects_in(imap, "INBOX") == ["not blocked by garbage"]
    # one valid hash among the garbage counts
    append_contact(imap, contact(hashes=bad + [" %s " % good]))
    lmtp(server, user, blocked_sender, "blocked")
    assert subjects_in(imap, BLOCKED) == ["blocked"]


def test_hostile_contact_messages_cost_bounded(server, imap, user,
                                               blocked_sender):
    enable(imap)
    many = [addr_hash("n%d@example.com" % i) for i in range(5000)]
    # 5000 hash headers: the first 100 count, the rest are ignored
    append_contact(imap, contact(hashes=many))
    # a header larger than 1 MiB: the message is ignored entirely
    append_contact(imap, contact(blocked_sender, extra=[
        "X-Huge-%d: %s" % (i, "a" * 900) for i in range(1200)]))
    start = time.monotonic()
    lmtp(server, user, "n5@example.com", "within the limit",
         from_="n5@example.com")
    lmtp(server, user, "n4999@example.com", "beyond the limit",
         from_="n4999@example.com")
    lmtp(server, user, blocked_sender, "huge header contact")
    assert time.monotonic() - start < 20
    assert subjects_in(imap, BLOCKED) == ["within the limit"]
    assert subjects_in(imap, "INBOX") == ["beyond the limit",
                                          "huge header contact"]


def test_sieve_vacation_does_not_answer_blocked_senders(
        server, imap_connect, user, blocked_sender):
    imap = imap_connect(user)
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    sieve = ManageSieve(server, user)
    sieve.put_active("vacation", 'require "vacation"; '
                     'vacation :days 1 :subject "away" "I am away";')
    sieve.close()
    friend = server.new_user("friend")
    smtp_send(server, blocked_sender, [user],
              compose(blocked_sender, user, subject="from blocked"))
    assert wait_for_count(imap, BLOCKED, 1) == 1
    smtp_send(server, friend, [user], compose(friend, user, subject="hi"))
    # the friend's vacation reply arrives: the blocked sender's would have
    # been sent before it
    friend_imap = imap_connect(friend)
    assert wait_for_count(friend_imap, "INBOX", 1) == 1
    assert [s for _, s in fetch_all(friend_imap, "INBOX")] == ["away"]
    time.sleep(1)
    assert message_count(imap_connect(blocked_sender), "INBOX") == 0


def test_sieve_redirect_does_not_forward_blocked_mail(
        server, imap_connect, user, blocked_sender):
    imap = imap_connect(user)
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    target = server.new_user("target")
    sieve = ManageSieve(server, user)
    sieve.put_active("redirect", 'redirect "%s";' % target)
    sieve.close()
    lmtp(server, user, blocked_sender, "blocked")
    lmtp(server, user, server.new_user("friend"), "forwarded")
    target_imap = imap_connect(target)
    assert wait_for_count(target_imap, "INBOX", 1) == 1
    time.sleep(1)
    assert [s for _, s in fetch_all(target_imap, "INBOX")] == ["forwarded"]
    assert subjects_in(imap, BLOCKED) == ["blocked"]
    assert message_count(imap, "INBOX") == 0


def test_storing_into_blocked_fails_falls_back_to_inbox(
        server, imap, user, blocked_sender):
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    imap.ok("CREATE", BLOCKED)
    path = server.mailbox_dir(user, BLOCKED)
    assert os.path.isdir(path)
    os.chmod(path, 0)
    offset = server.log_size()
    try:
        lmtp(server, user, blocked_sender, "never lost", chat=True)
    finally:
        os.chmod(path, 0o700)
    assert subjects_in(imap, "INBOX") == ["never lost"]
    assert message_count(imap, BLOCKED) == 0
    log = server.log_since(offset)
    assert "Error: coi: Cannot store the blocked sender's message" in log


def test_users_without_the_plugin_are_untouched(server, imap_connect,
                                                vanilla_user, blocked_sender):
    imap = imap_connect(vanilla_user)
    imap.ok("CREATE", CONTACTS)
    append_contact(imap, contact(blocked_sender))
    lmtp(server, vanilla_user, blocked_sender, "plain")
    assert subjects_in(imap, "INBOX") == ["plain"]


# -- doveadm ---------------------------------------------------------------

def doveadm_rows(server, *args):
    res = server.doveadm("-f", "tab", *args)
    lines = res.stdout.strip().splitlines()
    return [line.split("\t") for line in lines[1:]]


def test_doveadm_block_list_unblock(server, imap_connect, user,
                                    blocked_sender):
    imap = imap_connect(user)
    enable(imap)
    friend = server.new_user("friend")
    append_contact(imap, contact(friend, blocked=False))
    assert doveadm_rows(server, "coi", "blocklist", "list", "-u", user) == []

    rows = doveadm_rows(server, "coi", "blocklist", "block", "-u", user,
                        blocked_sender.upper())
    assert rows == [[blocked_sender, addr_hash(blocked_sender), "blocked"]]
    # an existing contact gets a new version with COI-Blocked
    rows = doveadm_rows(server, "coi", "blocklist", "block", "-u", user,
                        friend)
    assert rows[0][2] == "blocked"
    rows = doveadm_rows(server, "coi", "blocklist", "block", "-u", user,
                        friend)
    assert rows[0][2] == "unchanged"
    listed = doveadm_rows(server, "coi", "blocklist", "list", "-u", user)
    assert sorted(h for h, _ in listed) == sorted(
        [addr_hash(blocked_sender), addr_hash(friend)])
    # clients see contact messages: two, the friend's old one expunged
    assert message_count(imap, CONTACTS) == 2
    lmtp(server, user, blocked_sender, "blocked 1")
    lmtp(server, user, friend, "blocked 2")
    assert subjects_in(imap, BLOCKED) == ["blocked 1", "blocked 2"]

    rows = doveadm_rows(server, "coi", "blocklist", "unblock", "-u", user,
                        friend)
    assert rows[0][2] == "unblocked"
    assert [h for h, _ in doveadm_rows(server, "coi", "blocklist", "list",
                                       "-u", user)] == [addr_hash(blocked_sender)]
    # the old version is gone from the mail files too, not only from the
    # index: a rebuild does not bring the block back (a dbox rebuild
    # resets the index: the session reconnects)
    imap.logout()
    before, after = server.resync_changes(user)
    assert after == before
    imap = imap_connect(user)
    lmtp(server, user, friend, "welcome back")
    assert subjects_in(imap, "INBOX") == ["welcome back"]
    # the unblocked contact is kept, without COI-Blocked
    imap.ok("EXAMINE", quote(CONTACTS))
    resp = imap.ok("FETCH", "1:*", "(BODY.PEEK[HEADER])")
    data = b"".join(resp.untagged)
    assert data.count(b"COI-Blocked") == 1
    assert data.count(addr_hash(friend).encode()) == 1


def test_doveadm_rejects_invalid_addresses(server, user):
    for bad in ("no-at-sign", "a b@example.org", "<x@example.org>", "@x"):
        res = server.doveadm("coi", "blocklist", "block", "-u", user, bad,
                             check=False)
        assert res.returncode != 0, bad
        assert "Invalid address" in res.stderr


# -- push ------------------------------------------------------------------

def test_no_webpush_for_blocked_senders(server, imap, user, push,
                                        blocked_sender):
    from test_webpush import subscribe_validated
    enable(imap)
    append_contact(imap, contact(blocked_sender))
    sub = subscribe_validated(imap, push, "blocked-push-1")
    lmtp(server, user, blocked_sender, "blocked chat", chat=True)
    lmtp(server, user, blocked_sender, "blocked mail")
    lmtp(server, user, server.new_user("friend"), "friend mail")
    # validation push, then only the friend's message
    reqs = push.wait_for_requests(sub, 2)
    assert reqs[1].payload["subject"] == "friend mail"
    push.assert_no_more_requests(sub, count=2, seconds=1.5)
    assert message_count(imap, BLOCKED) == 2
