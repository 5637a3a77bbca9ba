"""IDLE without lib-storage's 500 ms delay (coi_idle_fast_notify): a change
of the mailbox reaches an idling session at once, for every user with the
plugin, COI enabled or not.

How fast is measured by tests/bench/bench_idle.py, not here. These tests
check what was reported and by which path: the plugin logs a debug line
in its event category coi-idle each time it reports a change itself, so
with "log_debug = category=coi-idle" a test tells the fast path from
Dovecot's own delayed one without timing anything."""

import time

import pytest

from coitest.imap import COI_ENABLED, Idler, Listener
from coitest.mail import compose, lmtp_send
from coitest.server import DOVECOT_24, DevServer

FAST = "coi: Reporting a mailbox change at once"


@pytest.fixture(scope="module")
def server():
    """A server of its own: the debug lines of the plugin's IDLE path."""
    srv = DevServer(extra_conf="log_debug = category=coi-idle\n")
    srv.start()
    yield srv
    srv.cleanup()


def deliver(server, user, count=1):
    for i in range(count):
        res = lmtp_send(server, "sender@example.net", [user],
                        compose("sender@example.net", user,
                                subject="m%d" % i))
        assert res[user][0] == 250, res


def fast_reports(server, offset, user):
    return [line for line in server.log_since(offset).splitlines()
            if FAST in line and user in line]


def test_new_mail_reported_at_once(server, imap_connect):
    user = server.new_user()
    offset = server.log_size()
    idler = Idler(imap_connect(user))
    deliver(server, user)
    idler.wait_for(rb"\* 1 EXISTS\r\n")
    assert server.wait_for_log(offset, FAST)
    assert fast_reports(server, offset, user)
    idler.done()


def test_expunge_and_flags_from_another_session(server, imap_connect):
    user = server.new_user()
    deliver(server, user, 2)
    other = imap_connect(user)
    other.ok("SELECT", "INBOX")
    idler = Idler(imap_connect(user))

    offset = server.log_size()
    other.ok("STORE", "2", "+FLAGS", "(\\Flagged)")
    idler.wait_for(rb"\* 2 FETCH \(FLAGS \(\\Flagged\)")
    other.ok("STORE", "1", "+FLAGS", "(\\Deleted)")
    other.ok("EXPUNGE")
    idler.wait_for(rb"\* 1 EXPUNGE\r\n")
    assert fast_reports(server, offset, user)
    idler.done()


def test_burst_loses_nothing(server, imap_connect):
    """Deliveries while IDLE is busy reporting earlier ones: every one
    of them is reported, whether at once or at the end of a window."""
    user = server.new_user()
    idler = Idler(imap_connect(user))
    deliver(server, user, 60)
    idler.wait_for(rb"\* 60 EXISTS\r\n")
    idler.done()
    # and the session's view is the mailbox's
    status = idler.imap.command("STATUS", "INBOX", "(MESSAGES)")
    assert b"MESSAGES 60" in b"".join(status.untagged)


def test_coi_enabled_user(server, imap_connect):
    """Users who enabled COI get the same: chats and mail in INBOX."""
    user = server.new_user()
    setup = imap_connect(user)
    assert setup.setmetadata("", COI_ENABLED, "yes").status == "OK"
    offset = server.log_size()
    idler = Idler(imap_connect(user))
    deliver(server, user)
    idler.wait_for(rb"\* 1 EXISTS\r\n")
    assert server.wait_for_log(offset, FAST)
    idler.done()


def test_switched_off_gives_dovecots_behaviour(server, imap_connect):
    user = server.new_custom_user({"coi_idle_fast_notify": "no"})
    fast_user = server.new_user()
    offset = server.log_size()
    idler = Idler(imap_connect(user))
    fast_idler = Idler(imap_connect(fast_user))
    deliver(server, user)
    deliver(server, fast_user)
    idler.wait_for(rb"\* 1 EXISTS\r\n")
    fast_idler.wait_for(rb"\* 1 EXISTS\r\n")
    # the other user's line shows the log has caught up with both
    assert server.wait_for_log(offset, FAST)
    assert fast_reports(server, offset, fast_user)
    assert not fast_reports(server, offset, user)
    idler.done()
    fast_idler.done()


@pytest.mark.skipif(DOVECOT_24, reason="Dovecot 2.4's NOTIFY checks the "
                    "selected mailbox every second instead: each time it "
                    "adds the mailbox watch it syncs at once, which removes "
                    "the watch again (imap-notify.c)")
def test_notify_on_the_selected_mailbox(server, imap_connect):
    """RFC 5465 NOTIFY reports changes of the selected mailbox without
    IDLE, through the same mailbox watch."""
    user = server.new_user()
    offset = server.log_size()
    listener = Listener(imap_connect(user))
    listener.imap.ok("NOTIFY", "SET", "(SELECTED (MessageNew (UID) "
                     "MessageExpunge FlagChange))")
    # Dovecot watches the selected mailbox again only 1 s after the last
    # command ended (IMAP_NOTIFY_WATCH_ADD_DELAY_MSECS in imap-notify.c);
    # a change before that is not seen by any watch, with or without the
    # plugin
    time.sleep(2)
    deliver(server, user)
    listener.wait_for(rb"\* 1 EXISTS\r\n")
    assert server.wait_for_log(offset, FAST)
    assert fast_reports(server, offset, user)
