#!/usr/bin/env python3
"""Delta Chat push on delivery: how long after the end of LMTP DATA the
notifier receives the POST (p50, p99; through the coi-push service), and
what a notifier that never answers costs the LMTP reply compared with a
user without device tokens, measured side by side (interleaved rounds) on
one private server, with the production dedupe interval.

    tests/bench/bench_devicetoken.py [--messages 200] [--rounds 3]

Run as root (starts the development server)."""

import argparse
import base64
import os
import smtplib
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from coitest.imap import Imap  # noqa: E402
from coitest.mail import compose  # noqa: E402
from coitest.deltachat_notifier import Notifier  # noqa: E402
from coitest.server import DevServer, settings_conf  # noqa: E402

# The production dedupe interval (10 s) instead of the development
# server's 2 s: a notifier that never answers then gets at most one request
# per token and interval, as in production.
EXTRA_CONF = settings_conf({"coi_push_spool_dedupe_interval": "10 secs"})


def register(server, user, token):
    with Imap(server.host, server.imap_port) as imap:
        imap.login(user)
        tag = imap.next_tag()
        data = token.encode()
        imap.send(b'%s SETMETADATA "INBOX" (/private/devicetoken {%d+}\r\n'
                  b'%s)\r\n' % (tag.encode(), len(data), data))
        resp = imap._finish(tag, [])
        assert resp.status == "OK", resp


def new_token():
    return "openpgp:" + base64.b64encode(os.urandom(600)).decode()


class Deliverer:
    """One LMTP connection; deliver() returns (end of DATA, reply latency)."""

    def __init__(self, server, user):
        self.user = user
        self.lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=60)
        self.lmtp.ehlo("bench.example.org")
        self.count = 0

    def deliver(self):
        self.count += 1
        msg = compose("sender@example.net", self.user,
                      subject="bench %d" % self.count, chat=True,
                      body="x" * 1500)
        self.lmtp.mail("sender@example.net")
        self.lmtp.rcpt(self.user)
        start = time.time()
        code, _ = self.lmtp.data(msg)
        assert code == 250
        return start, time.time() - start

    def close(self):
        self.lmtp.quit()


def percentile(values, pct):
    values = sorted(values)
    return values[min(len(values) - 1,
                      int(round(pct / 100 * (len(values) - 1))))]


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    server = DevServer(extra_conf=EXTRA_CONF)
    server.start()
    notifier = Notifier().start()
    hanging = Notifier().start()
    hanging.hang()
    try:
        # One user and token per message, so that the dedupe interval
        # never delays a measured notification.
        users = server.new_custom_users(
            [{"coi_deltachat_notify_url": notifier.notify_url}] *
            args.messages, prefix="benchlat")
        tokens = []
        for user in users:
            tokens.append(new_token())
            register(server, user, tokens[-1])
        latencies = []
        for user, token in zip(users, tokens):
            conn = Deliverer(server, user)
            start, _ = conn.deliver()
            req, = notifier.wait_for_requests(token, 1, timeout=30)
            latencies.append(req.received - start)
            conn.close()
        print("notification latency, end of LMTP DATA -> POST at the "
              "notifier (%d messages, one at a time)" % args.messages)
        print("| p50 ms | p99 ms | mean ms |")
        print("|---|---|---|")
        print("| %.1f | %.1f | %.1f |" % (
            percentile(latencies, 50) * 1000,
            percentile(latencies, 99) * 1000,
            statistics.mean(latencies) * 1000))

        none_user, ok_user, hang_user = server.new_custom_users([
            {"coi_deltachat_notify_url": notifier.notify_url},
            {"coi_deltachat_notify_url": notifier.notify_url},
            {"coi_deltachat_notify_url": hanging.notify_url}])
        register(server, ok_user, new_token())
        register(server, hang_user, new_token())
        names = ("none", "ok", "hang")
        conns = {name: Deliverer(server, user) for name, user in
                 zip(names, (none_user, ok_user, hang_user))}
        results = {name: [] for name in names}
        ratios = {"hang": [], "ok": []}
        for _ in range(args.rounds):
            round_lat = {name: [] for name in names}
            for _ in range(args.messages):
                for name in names:
                    round_lat[name].append(conns[name].deliver()[1])
            for name in results:
                results[name].extend(round_lat[name])
            for name in ratios:
                ratios[name].append(statistics.median(round_lat[name]) /
                                    statistics.median(round_lat["none"]))
        for c in conns.values():
            c.close()
        print()
        print("LMTP reply latency (%d rounds x %d messages, interleaved)" %
              (args.rounds, args.messages))
        print("| configuration | p50 ms | p99 ms | mean ms |")
        print("|---|---|---|---|")
        for name, label in (("none", "no device tokens"),
                            ("ok", "1 token, notifier answers 200"),
                            ("hang", "1 token, notifier never answers")):
            lat = results[name]
            print("| %s | %.2f | %.2f | %.2f |" % (
                label, percentile(lat, 50) * 1000,
                percentile(lat, 99) * 1000, statistics.mean(lat) * 1000))
        print()
        for name in ("ok", "hang"):
            print("ratio of medians per round (%s / none): %s; median %.3f"
                  % (name, ", ".join("%.3f" % r for r in ratios[name]),
                     statistics.median(ratios[name])))
        hang_ok = [h / o for h, o in zip(ratios["hang"], ratios["ok"])]
        print("hang / ok per round: %s; median %.3f" % (
            ", ".join("%.3f" % r for r in hang_ok),
            statistics.median(hang_ok)))
    finally:
        hanging.stop()
        notifier.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
