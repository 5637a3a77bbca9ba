#!/usr/bin/env python3
"""New mail in IDLE: how long after a delivery an idling client sees it,
for a user with the plugin ("coi plugin": coi_idle_fast_notify, the
default; COI not enabled, as for Delta Chat users) and a user without any
COI plugin ("vanilla"), side by side on one private server:

  LMTP        from the end of LMTP DATA to "* N EXISTS" in IDLE;
  SMTP        from the SMTP submission to Postfix (which delivers over
              LMTP) to "* N EXISTS";
  Delta Chat  the real Delta Chat core (deltachat-rpc-server, installed by
              scripts/install-deps --test): from sending a text on one
              account to the IncomingMsg event of the other, two verified
              accounts per configuration;
  burst       CPU time of the idling user's imap process while that many
              messages are delivered to the user as fast as LMTP takes
              them (both users' deliveries interleaved), and how many
              times IDLE reported.

    tests/bench/bench_idle.py [--messages 200] [--smtp 50] [--deltachat 20]
                              [--burst 1000] [--rounds 3]

The latency samples alternate which configuration gets its message first;
the next message goes out once both were seen (so after vanilla's 500 ms:
chat-like gaps, every plugin report is the first of its window). Run as
root (starts the development server)."""

import argparse
import os
import re
import select
import smtplib
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench_delivery import cpu_ns, process_serving  # noqa: E402
from coitest.deltachat import RpcServer, setup_pair  # noqa: E402
from coitest.imap import Idler, Imap  # noqa: E402
from coitest.mail import compose  # noqa: E402
from coitest.server import PASSWORD, DevServer  # noqa: E402

PLUGIN = "coi plugin"
VANILLA = "vanilla"
CONFIGS = [PLUGIN, VANILLA]


def new_users(server, count):
    """{config: [user, ...]}"""
    return {PLUGIN: [server.new_user("idle") for _ in range(count)],
            VANILLA: [server.new_vanilla_user() for _ in range(count)]}


class Watched:
    """A user idling on INBOX, and how many messages it has."""

    def __init__(self, server, user):
        self.user = user
        imap = Imap(server.host, server.imap_port, timeout=60)
        imap.login(user)
        self.idler = Idler(imap)
        self.count = 0
        self.pid = process_serving(server.imap_port, imap.sock)

    def expect_next(self):
        """The pattern of the EXISTS of the next message."""
        self.count += 1
        return re.compile(rb"\* %d EXISTS\r\n" % self.count)

    def close(self):
        self.idler.done()
        self.idler.imap.logout()


def lmtp_connect(server):
    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=60)
    lmtp.ehlo("bench.example.org")
    return lmtp


def lmtp_deliver(lmtp, user, msg):
    lmtp.mail("sender@example.net")
    code, text = lmtp.rcpt(user)
    if code != 250:
        raise SystemExit("RCPT %s failed: %d %s" % (user, code, text))
    lmtp.data(msg)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def print_latencies(title, samples):
    print(title)
    print("| configuration | p50 ms | p90 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for config in CONFIGS:
        ms = [s * 1000 for s in samples[config]]
        print("| %s | %.1f | %.1f | %.1f | %.1f |" % (
            config, percentile(ms, 50), percentile(ms, 90),
            percentile(ms, 99), statistics.mean(ms)))
    ratio = {p: percentile(samples[PLUGIN], p) /
             percentile(samples[VANILLA], p) for p in (50, 90, 99)}
    print("coi plugin / vanilla: p50 %.3f, p90 %.3f, p99 %.3f" % (
        ratio[50], ratio[90], ratio[99]))
    print()


def arrivals(expected, timeout=60):
    """expected: [(Watched, pattern)]. Reads all of their sessions at once
    (so each arrival time is when its data came, whatever the order) until
    every pattern matched; returns the arrival time of each."""
    found = [None] * len(expected)
    deadline = time.monotonic() + timeout
    while None in found:
        for n, (w, pattern) in enumerate(expected):
            if found[n] is None:
                m = pattern.search(w.idler.data)
                if m:
                    found[n] = w.idler.arrival(m)
        waiting = [w.idler for n, (w, _) in enumerate(expected)
                   if found[n] is None]
        if not waiting:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit("timed out waiting for %r" % [
                (w.user, p.pattern) for n, (w, p) in enumerate(expected)
                if found[n] is None])
        socks = {idler.imap.sock: idler for idler in waiting}
        ready, _, _ = select.select(list(socks), [], [], min(left, 1))
        for sock in ready:
            socks[sock].receive()
    return found


def measure_latency(count, watched, send):
    """send(config, i) delivers message i to watched[config]'s user. The
    configurations take turns going first. Returns {config: [seconds]}."""
    samples = {config: [] for config in CONFIGS}
    for i in range(count):
        order = CONFIGS if i % 2 == 0 else CONFIGS[::-1]
        expected, starts = [], []
        for config in order:
            starts.append(time.monotonic())
            send(config, i)
            expected.append((watched[config],
                             watched[config].expect_next()))
        for config, start, when in zip(order, starts, arrivals(expected)):
            samples[config].append(when - start)
    return samples


def bench_lmtp(server, count):
    users = new_users(server, 1)
    watched = {c: Watched(server, users[c][0]) for c in CONFIGS}
    lmtp = {c: lmtp_connect(server) for c in CONFIGS}

    def send(config, i):
        w = watched[config]
        lmtp_deliver(lmtp[config], w.user,
                     compose("sender@example.net", w.user,
                             subject="lmtp %d" % i))

    samples = measure_latency(count, watched, send)
    for c in CONFIGS:
        lmtp[c].quit()
        watched[c].close()
    print_latencies("LMTP: end of DATA -> * N EXISTS (%d messages)"
                    % count, samples)


def bench_smtp(server, count):
    users = new_users(server, 1)
    watched = {c: Watched(server, users[c][0]) for c in CONFIGS}
    sender = server.new_user("sender")
    smtp = smtplib.SMTP(server.host, server.smtp_port, timeout=60)
    smtp.login(sender, PASSWORD)

    def send(config, i):
        w = watched[config]
        smtp.sendmail(sender, [w.user],
                      compose(sender, w.user, subject="smtp %d" % i))

    samples = measure_latency(count, watched, send)
    smtp.quit()
    for c in CONFIGS:
        watched[c].close()
    print_latencies("SMTP (Postfix): submission -> * N EXISTS "
                    "(%d messages)" % count, samples)


def bench_deltachat(server, count):
    users = new_users(server, 2)
    with tempfile.TemporaryDirectory(prefix="coi-bench-dc-") as tmp:
        with RpcServer(os.path.join(tmp, "accounts")) as rpc:
            pairs = {c: setup_pair(server, rpc, users[c]) for c in CONFIGS}
            samples = {c: [] for c in CONFIGS}
            for i in range(count):
                order = CONFIGS if i % 2 == 0 else CONFIGS[::-1]
                for config in order:
                    alice, bob = pairs[config]
                    start = time.monotonic()
                    alice.account.misc_send_text_message(
                        alice.chat_id, "hop %d" % i)
                    bob.account.wait_for("IncomingMsg", chatId=bob.chat_id,
                                         timeout=60)
                    samples[config].append(time.monotonic() - start)
    print_latencies("Delta Chat core: send -> IncomingMsg (%d messages)"
                    % count, samples)


def bench_burst(server, count, rounds):
    """CPU time of each idling imap process over a burst, per round."""
    users = new_users(server, 1)
    watched = {c: Watched(server, users[c][0]) for c in CONFIGS}
    lmtp = {c: lmtp_connect(server) for c in CONFIGS}
    cpu = {c: [] for c in CONFIGS}
    reports = {c: [] for c in CONFIGS}
    for r in range(rounds):
        before = {c: cpu_ns(watched[c].pid) for c in CONFIGS}
        data_before = {c: len(watched[c].idler.data) for c in CONFIGS}
        for i in range(count):
            for config in CONFIGS:
                w = watched[config]
                lmtp_deliver(lmtp[config], w.user,
                             compose("sender@example.net", w.user,
                                     subject="burst %d" % i))
        expected = []
        for config in CONFIGS:
            w = watched[config]
            w.count += count - 1
            expected.append((w, w.expect_next()))
        arrivals(expected, 120)
        # the reports that follow the last one (a window's end, Dovecot's
        # own delayed check) belong to the burst too
        time.sleep(1.5)
        for config in CONFIGS:
            w = watched[config]
            cpu[config].append(cpu_ns(w.pid) - before[config])
            reports[config].append(
                w.idler.data[data_before[config]:].count(b" EXISTS\r\n"))
    for c in CONFIGS:
        lmtp[c].quit()
        watched[c].close()

    print("Burst: %d deliveries per configuration and round, interleaved, "
          "%d rounds" % (count, rounds))
    print("| configuration | imap CPU ms (median) | EXISTS reports "
          "(median) |")
    print("|---|---|---|")
    for config in CONFIGS:
        print("| %s | %.1f | %d |" % (
            config, statistics.median(cpu[config]) / 1e6,
            statistics.median(reports[config])))
    ratios = [p / v for p, v in zip(cpu[PLUGIN], cpu[VANILLA])]
    print("imap CPU coi plugin / vanilla per round: %s; median %.3f" % (
        " ".join("%.3f" % x for x in ratios), statistics.median(ratios)))
    print()


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200,
                   help="LMTP latency samples per configuration")
    p.add_argument("--smtp", type=int, default=50,
                   help="SMTP latency samples per configuration")
    p.add_argument("--deltachat", type=int, default=20,
                   help="Delta Chat hops per configuration (0: none)")
    p.add_argument("--burst", type=int, default=1000,
                   help="deliveries per burst and configuration")
    p.add_argument("--rounds", type=int, default=3,
                   help="bursts")
    args = p.parse_args()

    server = DevServer()
    server.start()
    try:
        bench_lmtp(server, args.messages)
        bench_smtp(server, args.smtp)
        if args.deltachat > 0:
            bench_deltachat(server, args.deltachat)
        bench_burst(server, args.burst, args.rounds)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
