#!/usr/bin/env python3
"""WebPush on delivery: how long after an LMTP delivery the push arrives at
a loopback push service (p50, p99; 1 and 10 subscriptions), and what a push
service that never answers costs the LMTP reply (vs. no subscriptions),
measured side by side on one private server.

    tests/bench/bench_push.py [--messages 200] [--rounds 3] [--block 20]

Run as root (starts the development server)."""

import argparse
import os
import smtplib
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from coitest.imap import Imap, Literal  # noqa: E402
from coitest.mail import compose  # noqa: E402
from coitest.webpush_receiver import (  # noqa: E402
    PushService, validation_token)
from coitest.server import DevServer, settings_conf  # noqa: E402

SUBSCRIPTIONS = "/private/vendor/vendor.dovecot/webpush/subscriptions"
# Unlimited per-user rate: the benchmark sends far more than a user would.
EXTRA_CONF = settings_conf({"coi_push_user_rate": "0"})


def subscribe(server, user, push, count, hang=False):
    subs = []
    with Imap(server.host, server.imap_port) as imap:
        imap.login(user)
        for i in range(count):
            sub = push.new_subscription()
            sub_id = "bench-sub-%04d" % i
            resp = imap.setmetadata("", "%s/%s" % (SUBSCRIPTIONS, sub_id),
                                    Literal(sub.json().encode(), nonsync=True))
            assert resp.status == "OK", resp
            token = validation_token(push.wait_for_requests(sub, 1)[0])
            resp = imap.setmetadata("", "%s/%s/validate" % (SUBSCRIPTIONS,
                                                            sub_id), token)
            assert resp.status == "OK", resp
            if hang:
                sub.hang()
            subs.append(sub)
    return subs


def deliver(server, user, count, tag, lmtp=None):
    """Delivers count messages over one connection (lmtp, or a new one);
    returns the send times and the LMTP reply latencies."""
    own = lmtp is None
    if own:
        lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=60)
        lmtp.ehlo("bench.example.org")
    sent, latencies = [], []
    for i in range(count):
        msg = compose("sender@example.net", user,
                      subject="%s %d" % (tag, i), body="x" * 1500)
        lmtp.mail("sender@example.net")
        lmtp.rcpt(user)
        start = time.time()
        code, _ = lmtp.data(msg)
        latencies.append(time.time() - start)
        assert code == 250
        sent.append(start)
    if own:
        lmtp.quit()
    return sent, latencies


def percentile(values, pct):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


def push_latency(server, push, subs_count, messages):
    user = server.new_user("benchpush")
    subs = subscribe(server, user, push, subs_count)
    sent, _ = deliver(server, user, messages, "latency")
    latencies = []
    for sub in subs:
        reqs = push.wait_for_requests(sub, messages + 1, timeout=120)[1:]
        by_subject = {r.payload["subject"]: r.received for r in reqs}
        for i, start in enumerate(sent):
            latencies.append(by_subject["latency %d" % i] - start)
    return latencies


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--block", type=int, default=20,
                   help="messages per configuration before switching")
    args = p.parse_args()

    server = DevServer(extra_conf=EXTRA_CONF)
    server.start()
    push = PushService().start()
    try:
        print("push latency, end of LMTP DATA -> POST at the push service")
        print("| subscriptions | pushes | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        for subs_count in (1, 10):
            lat = push_latency(server, push, subs_count, args.messages)
            print("| %d | %d | %.1f | %.1f |" % (
                subs_count, len(lat), percentile(lat, 50) * 1000,
                percentile(lat, 99) * 1000))

        plain_user = server.new_user("benchnone")
        hang_user = server.new_user("benchhang")
        subscribe(server, hang_user, push, 1, hang=True)
        # One connection (one long-lived lmtp process) per configuration;
        # blocks of --block messages alternate, so that load from elsewhere
        # on the machine hits both alike, and every block pair gives a
        # ratio of its own.
        results = {"none": [], "hang": []}
        ratios = []
        conns = {}
        for name, user in (("none", plain_user), ("hang", hang_user)):
            conns[name] = smtplib.LMTP(server.host, server.lmtp_port,
                                       timeout=60)
            conns[name].ehlo("bench.example.org")
            deliver(server, user, 5, "warmup", conns[name])
        for _ in range(args.rounds):
            for block in range(args.messages // args.block):
                means = {}
                for name, user in (("none", plain_user),
                                   ("hang", hang_user)):
                    _, lat = deliver(server, user, args.block, name,
                                     conns[name])
                    results[name].extend(lat)
                    means[name] = statistics.mean(lat)
                ratios.append(means["hang"] / means["none"])
        for conn in conns.values():
            conn.quit()
        print()
        print("LMTP reply latency (per message, %d rounds x %d messages, "
              "blocks of %d)" % (args.rounds, args.messages, args.block))
        print("| configuration | p50 ms | p99 ms | mean ms | ratio (mean) |")
        print("|---|---|---|---|---|")
        base = statistics.mean(results["none"])
        for name, label in (("none", "no subscriptions"),
                            ("hang", "1 subscription, push service never answers")):
            lat = results[name]
            print("| %s | %.2f | %.2f | %.2f | %.3f |" % (
                label, percentile(lat, 50) * 1000, percentile(lat, 99) * 1000,
                statistics.mean(lat) * 1000, statistics.mean(lat) / base))
        print()
        print("ratio per block pair: median %.3f (quartiles %.3f .. %.3f, "
              "%d pairs)" % (statistics.median(ratios),
                             percentile(ratios, 25), percentile(ratios, 75),
                             len(ratios)))
    finally:
        push.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
