#!/usr/bin/env python3
"""The cost of blocked contacts at delivery, measured side by side over LMTP
on one private server (three COI users, message-filter "active"):

  no contacts           COI enabled, COI/Contacts empty;
  with contacts         COI/Contacts holds 10,000 contact messages, 1,000
                        of them blocked (--contacts, --blocked); the
                        sender is not blocked;
  blocked sender        the same contacts, every message from a blocked
                        sender (filed into Blocked, Sieve skipped).

    tests/bench/bench_blocklist.py [--messages 2000] [--rounds 10]
                                   [--contacts 10000] [--blocked 1000]

The goal (issue 5): delivery with 10,000 contacts (1,000 blocked) within
1.05x of delivery with none, i.e. a ratio "no contacts time / this time" of
at least 0.952. As in bench_delivery.py, every configuration has its own
long-lived LMTP connection, deliveries are interleaved message by message,
each is timed with the CPU time of the serving lmtp process read around it,
and the ratios are medians of per-round ratios against the baseline of the
same round. The first deliveries (warm-up) build the blocklist index; the
timed ones only read it.

Run as root (it starts the development server)."""

import argparse
import hashlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_delivery import run_interleaved  # noqa: E402
from coitest.imap import (COI_ENABLED, COI_MESSAGE_FILTER, Imap,  # noqa: E402
                          Literal, quote)
from coitest.mail import compose, message_count  # noqa: E402
from coitest.server import DevServer  # noqa: E402

NONE = "no contacts"
MANY = "with contacts"
BLOCKED = "blocked sender"
CONFIGS = [NONE, MANY, BLOCKED]
WARMUP = 20
SENDER = "sender@example.net"
BLOCKED_SENDER = "blocked-0@example.net"
APPEND_BATCH = 500


def addr_hash(address):
    return hashlib.sha3_256(address.lower().encode()).hexdigest()


def contact(i, blocked):
    address = ("blocked-%d@example.net" if blocked
               else "friend-%d@example.net") % i
    lines = ["From: <owner@example.org>", "Subject: Contact",
             "Date: Sun, 22 Nov 2026 12:00:00 +0000",
             "Message-ID: <contact-%d@example.org>" % i,
             "Chat-Content: contact", "Content-Type: text/html",
             "COI-From-Hash: %s" % addr_hash(address)]
    if blocked:
        lines.append("COI-Blocked: yes")
    body = '<p class="h-card"><a class="u-email">%s</a></p>' % address
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def fill_contacts(imap, count, blocked):
    """count contact messages, every (count/blocked)th one blocked, with
    MULTIAPPEND (RFC 3502) in batches."""
    step = count // blocked if blocked else count + 1
    msgs = [contact(i, blocked and i % step == 0 and i // step < blocked)
            for i in range(count)]
    for start in range(0, count, APPEND_BATCH):
        args = ["APPEND", quote("COI/Contacts")]
        args += [Literal(m, nonsync=True)
                 for m in msgs[start:start + APPEND_BATCH]]
        imap.ok(*args)
    assert message_count(imap, "COI/Contacts") == count


def setup_users(server, contacts, blocked):
    users = {config: server.new_user("bench") for config in CONFIGS}
    for config, user in users.items():
        imap = Imap(server.host, server.imap_port)
        imap.login(user)
        imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
        imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
        if config != NONE:
            fill_contacts(imap, contacts, blocked)
        imap.logout()
    return users


def make_messages(count):
    msgs = []
    for i in range(count):
        chat = i % 2 == 0
        msgs.append((chat, {
            sender: compose(sender, "rcpt@example.org",
                            subject="bench %d" % i, chat=chat,
                            body="message %d\r\n" % i + "x" * 1500)
            for sender in (SENDER, BLOCKED_SENDER)}))
    return msgs


def sender_of(config):
    return BLOCKED_SENDER if config == BLOCKED else SENDER


def deliver_one(lmtp, config, user, msgs):
    lmtp.mail(sender_of(config))
    code, text = lmtp.rcpt(user)
    if code != 250:
        raise SystemExit("%s: RCPT failed: %d %s" % (config, code, text))
    code, text = lmtp.data(msgs[sender_of(config)])
    if code != 250:
        raise SystemExit("%s: DATA failed: %d %s" % (config, code, text))


def check_stored(server, users, delivered):
    for config, user in users.items():
        imap = Imap(server.host, server.imap_port)
        imap.login(user)
        counts = {box: message_count(imap, box)
                  for box in ("INBOX", "COI/Chats", "Blocked")}
        imap.logout()
        total = delivered[config]
        if config == BLOCKED:
            ok = counts["Blocked"] == total and \
                counts["INBOX"] + counts["COI/Chats"] == 0
        else:
            ok = counts["Blocked"] == 0 and \
                counts["INBOX"] + counts["COI/Chats"] == total
        if not ok:
            raise SystemExit("%s: wrong folders %r for %d messages"
                             % (config, counts, total))


def run(server, users, messages, rounds):
    delivered = {c: 0 for c in CONFIGS}

    def deliver(lmtp, config, item):
        _, msgs = item
        deliver_one(lmtp, config, users[config], msgs)
        delivered[config] += 1

    run_interleaved(server, CONFIGS, NONE, make_messages(WARMUP), messages,
                    rounds, deliver)
    check_stored(server, users, delivered)


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000,
                   help="per configuration")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--contacts", type=int, default=10000)
    p.add_argument("--blocked", type=int, default=1000)
    args = p.parse_args()

    server = DevServer()
    server.start()
    try:
        start = time.monotonic()
        users = setup_users(server, args.contacts, args.blocked)
        print("contacts stored in %.1f s" % (time.monotonic() - start),
              file=sys.stderr)
        print("%d contacts, %d of them blocked" % (args.contacts,
                                                  args.blocked))
        run(server, users, make_messages(args.messages), args.rounds)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
