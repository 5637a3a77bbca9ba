#!/usr/bin/env python3
"""Delivery throughput over LMTP: vanilla Dovecot with Sieve, the COI plugin
with filter "active", and the same filing done by the sieve_before script
sieve/coi-filter.sieve, measured side by side on one private server.

    tests/bench/bench_delivery.py [--messages 2000] [--rounds 5]

N messages (half chats) go to one user per configuration, one LMTP
transaction each over a single connection, in rounds that alternate the
configurations so that machine noise hits all of them alike. Prints
messages/second and ratios against vanilla. Run as root (starts the
development server)."""

import argparse
import os
import random
import shutil
import smtplib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, Imap  # noqa: E402
from coitest.mail import compose, message_count  # noqa: E402
from coitest.server import TOP, DevServer  # noqa: E402


def make_messages(count):
    msgs = []
    for i in range(count):
        chat = i % 2 == 0
        msgs.append(compose("sender@example.net", "rcpt@example.org",
                            subject="bench %d" % i, chat=chat,
                            body="message %d\r\n" % i + "x" * 1500))
    return msgs


def deliver_batch(server, user, messages):
    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=60)
    lmtp.ehlo("bench.example.org")
    start = time.perf_counter()
    for msg in messages:
        lmtp.mail("sender@example.net")
        lmtp.rcpt(user)
        lmtp.data(msg)
    elapsed = time.perf_counter() - start
    lmtp.quit()
    return elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    server = DevServer()
    server.start()
    try:
        sieve_dir = os.path.join(server.state_dir, "sieve")
        os.makedirs(sieve_dir)
        script = os.path.join(sieve_dir, "coi-filter.sieve")
        shutil.copy(os.path.join(TOP, "sieve", "coi-filter.sieve"), script)
        os.chmod(sieve_dir, 0o755)

        users = {
            "vanilla + Sieve": server.new_vanilla_user(),
            "coi plugin, active": server.new_user(),
            "sieve_before script": server.new_user("sievebefore"),
        }
        server._add_userdb_line(
            "users-without-coi",
            users["sieve_before script"] + ":::::::userdb_sieve_before=" + script)
        imap = Imap(server.host, server.imap_port)
        imap.login(users["coi plugin, active"])
        imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
        imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
        imap.logout()

        messages = make_messages(args.messages)
        per_round = max(1, args.messages // args.rounds)
        totals = {name: 0.0 for name in users}
        counts = {name: 0 for name in users}
        # warm-up: create the mailboxes and indexes outside the timing
        for name, user in users.items():
            deliver_batch(server, user, messages[:20])
        for r in range(args.rounds):
            batch = messages[r * per_round:(r + 1) * per_round]
            order = list(users.items())
            random.shuffle(order)
            for name, user in order:
                totals[name] += deliver_batch(server, user, batch)
                counts[name] += len(batch)

        # every message arrived where it should
        for name, user in users.items():
            imap = Imap(server.host, server.imap_port)
            imap.login(user)
            inbox, chats = message_count(imap, "INBOX"), message_count(imap, "COI/Chats")
            imap.logout()
            total = counts[name] + 20
            if inbox + chats != total:
                raise SystemExit("%s: %d of %d messages stored" % (name, inbox + chats, total))
            if name != "vanilla + Sieve" and chats != total // 2:
                raise SystemExit("%s: %d chats filed, expected %d" % (name, chats, total // 2))

        base = counts["vanilla + Sieve"] / totals["vanilla + Sieve"]
        print("| configuration | messages | msg/s | ratio vs vanilla |")
        print("|---|---|---|---|")
        for name in users:
            rate = counts[name] / totals[name]
            print("| %s | %d | %.0f | %.3f |" % (name, counts[name], rate, rate / base))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
