"""The mail attributes in a database (COI_ATTRIBUTE_DICT=pgsql, which
./test runs these with): while it is down, deliveries go on without COI
and log one error, METADATA answers NO without internals; once it is back
everything works again without restarting Dovecot."""

import os
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, \
    INTERNAL_MARKERS
from coitest.mail import compose, lmtp_send, message_count, wait_for_count

pytestmark = pytest.mark.skipif(
    os.environ.get("COI_ATTRIBUTE_DICT", "file") != "pgsql",
    reason="the attributes in PostgreSQL: ./test runs this with "
           "COI_ATTRIBUTE_DICT=pgsql")

CHATS = "COI/Chats"


def deliver_chat(server, user, subject):
    replies = lmtp_send(server, "alice@example.net", [user],
                        compose("Alice <alice@example.net>", user,
                                subject=subject, chat=True))
    assert replies[user][0] == 250, replies


def test_database_outage_and_return(server, imap_connect, user):
    imap = imap_connect(user)
    assert imap.setmetadata("", COI_ENABLED, "yes").status == "OK"
    assert imap.setmetadata("", COI_MESSAGE_FILTER, "active").status == "OK"
    deliver_chat(server, user, "before")
    assert wait_for_count(imap, CHATS, 1) == 1

    offset = server.log_size()
    server.script("pgsql-stop")
    try:
        # delivered all the same, as without COI, with one error
        deliver_chat(server, user, "during")
        assert wait_for_count(imap, "INBOX", 1) == 1
        assert message_count(imap, CHATS) == 1
        resp = imap.command("GETMETADATA", '""', "(%s)" % COI_ENABLED)
        assert resp.status == "NO", resp
        resp2 = imap.command("SETMETADATA", '""',
                             "(%s %s)" % (COI_ENABLED, "NIL"))
        assert resp2.status == "NO", resp2
        for marker in INTERNAL_MARKERS:
            assert marker not in resp.text and marker not in resp2.text, \
                (resp, resp2)
        log = server.log_since(offset)
        ours = [line for line in log.splitlines()
                if "coi:" in line and "Error:" in line and
                "lmtp(%s)" % user in line]
        assert len(ours) == 1, log
        assert "delivering without COI" in ours[0], ours
    finally:
        server.script("pgsql-start")

    # back: the dict processes reconnect by themselves (a bound against
    # hangs, not a speed requirement)
    deadline = time.monotonic() + 30
    while True:
        resp = imap.command("GETMETADATA", '""', "(%s)" % COI_ENABLED)
        if resp.status == "OK" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert resp.status == "OK", resp
    assert imap.getmetadata("", COI_ENABLED)[COI_ENABLED] == b"yes"
    deliver_chat(server, user, "after")
    assert wait_for_count(imap, CHATS, 2) == 2
    assert message_count(imap, "INBOX") == 1
