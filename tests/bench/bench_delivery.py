#!/usr/bin/env python3
"""Delivery throughput over LMTP, measured side by side on one private server:

  vanilla + Sieve       no COI plugin (Sieve loaded, no user script);
  coi plugin, active    COI enabled with message-filter "active";
  sieve_before script   no COI plugin, sieve/coi-filter.sieve as sieve_before;
  +detail address       no COI plugin and no filter at all: the chats are
                        addressed to user+COI/Chats and Dovecot files them
                        (lmtp_save_to_detail_mailbox). The cost of storing
                        into a second folder with nothing deciding where.

    tests/bench/bench_delivery.py [--messages 2000] [--rounds 10]
    tests/bench/bench_delivery.py --callgrind [--messages 200]
    ... [--extra-conf FILE]   Dovecot settings to try, for all of them

N messages (half chats, 1.5 kB) go to one user per configuration, one LMTP
transaction each. Every configuration has its own LMTP connection for the
whole run, so a long-lived lmtp process of its own, and the deliveries are
interleaved message by message (message i goes to A B C D, message i+1 to
B C D A, ...), so that load from elsewhere on the machine hits all of them
alike. Each delivery is timed separately, and the CPU time of the process
serving it is read around it. The messages are split into rounds; for each
round the time of every configuration is compared with the vanilla time of
the same round. Reported: throughput over the whole run, the median of the
per-round ratios (with their range), and the same for the lmtp CPU time.

--callgrind runs the lmtp service under valgrind's callgrind and reports the
instructions executed per delivered message instead (deterministic, so it
needs no rounds; slow, so use fewer messages).

Run as root (it starts the development server)."""

import argparse
import glob
import os
import shutil
import smtplib
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, Imap  # noqa: E402
from coitest.mail import compose, message_count  # noqa: E402
from coitest.server import (DevServer, dovecot_tool,  # noqa: E402
                             service_conf, sieve_before_fields)

VANILLA = "vanilla + Sieve"
PLUGIN = "coi plugin, active"
SIEVE_BEFORE = "sieve_before script"
DETAIL = "+detail address"
CONFIGS = [VANILLA, PLUGIN, SIEVE_BEFORE, DETAIL]
WARMUP = 20

BASE_CONF = "lmtp_save_to_detail_mailbox = yes\n"


def callgrind_conf(outdir):
    """The lmtp service under callgrind, one process per connection."""
    return service_conf("lmtp", {
        "executable": "/usr/bin/valgrind --tool=callgrind "
                      "--callgrind-out-file=%s/callgrind.%%p %s"
                      % (outdir, dovecot_tool("lmtp")),
        "service_count": "1",
        "vsz_limit": "0",
    })


def make_messages(count):
    """[(is_chat, message)]: every second one is a chat."""
    msgs = []
    for i in range(count):
        chat = i % 2 == 0
        msgs.append((chat, compose("sender@example.net", "rcpt@example.org",
                                   subject="bench %d" % i, chat=chat,
                                   body="message %d\r\n" % i + "x" * 1500)))
    return msgs


def recipient(config, user, chat):
    if config == DETAIL and chat:
        name, domain = user.split("@")
        return "%s+COI/Chats@%s" % (name, domain)
    return user


def deliver_batch(server, config, user, messages):
    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=300)
    lmtp.ehlo("bench.example.org")
    for chat, msg in messages:
        deliver_one(lmtp, config, user, chat, msg)
    lmtp.quit()


def deliver_one(lmtp, config, user, chat, msg):
    lmtp.mail("sender@example.net")
    code, text = lmtp.rcpt(recipient(config, user, chat))
    if code != 250:
        raise SystemExit("%s: RCPT failed: %d %s" % (config, code, text))
    lmtp.data(msg)


def process_serving(server_port, sock):
    """The pid of the server process holding the other end of the client
    socket sock, connected to server_port on loopback."""
    port = sock.getsockname()[1]
    with open("/proc/net/tcp") as f:
        lines = f.read().splitlines()[1:]
    inode = None
    for line in lines:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port == port:
            inode = fields[9]
    if inode is None:
        raise SystemExit("no server socket for the connection from port %d"
                         % port)
    link = "socket:[%s]" % inode
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == link:
                return fd.split("/")[2]
        except OSError:
            continue
    raise SystemExit("no process holds the connection from port %d" % port)


def cpu_ns(pid):
    with open("/proc/%s/schedstat" % pid) as f:
        return int(f.read().split()[0])


def setup_users(server):
    # coi-server copies the shipped scripts there, owned by the mail user
    # (Sieve stores the compiled binary next to the script)
    script = os.path.join(server.state_dir, "sieve", "coi-filter.sieve")

    users = {
        VANILLA: server.new_vanilla_user(),
        PLUGIN: server.new_user(),
        SIEVE_BEFORE: server.new_user("sievebefore"),
        DETAIL: server.new_vanilla_user(),
    }
    server._add_userdb_line(
        "users-without-coi",
        users[SIEVE_BEFORE] + ":::::::" + " ".join(
            "userdb_%s=%s" % kv for kv in sieve_before_fields(script).items()))
    # Every user has logged in once, as real users have; the ones whose
    # chats are filed have the folder.
    for config, user in users.items():
        imap = Imap(server.host, server.imap_port)
        imap.login(user)
        imap.ok("LIST", '""', "*")
        if config == PLUGIN:
            imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
            imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
        elif config != VANILLA:
            imap.ok("CREATE", "COI/Chats")
        imap.logout()
    return users


def check_stored(server, users, delivered):
    """delivered: {config: [(is_chat, message)]}"""
    for config, user in users.items():
        imap = Imap(server.host, server.imap_port)
        imap.login(user)
        inbox = message_count(imap, "INBOX")
        chats = message_count(imap, "COI/Chats")
        imap.logout()
        total = len(delivered[config])
        if inbox + chats != total:
            raise SystemExit("%s: %d of %d messages stored"
                             % (config, inbox + chats, total))
        want = 0 if config == VANILLA else \
            sum(1 for chat, _ in delivered[config] if chat)
        if chats != want:
            raise SystemExit("%s: %d chats filed, expected %d"
                             % (config, chats, want))


def run_interleaved(server, configs, baseline, warmup, items, rounds,
                    deliver):
    """Every configuration has its own LMTP connection (so its own,
    long-lived lmtp process) and the items are interleaved: item i goes to
    each configuration in turn before item i+1, starting with a different
    configuration each time. Each delivery (deliver(lmtp, config, item)) is
    timed on its own, and the CPU time of the serving process is read
    around it. The warm-up items are delivered untimed first. Prints the
    result table (print_round_table)."""
    conns, pids = {}, {}
    for config in configs:
        conns[config] = smtplib.LMTP(server.host, server.lmtp_port,
                                     timeout=300)
        conns[config].ehlo("bench.example.org")
        pids[config] = process_serving(server.lmtp_port,
                                        conns[config].sock)
    if len(set(pids.values())) != len(configs):
        raise SystemExit("configurations share lmtp processes: %r" % pids)

    for item in warmup:
        for config in configs:
            deliver(conns[config], config, item)

    per_round = max(1, len(items) // rounds)
    wall = {c: [0.0] * rounds for c in configs}
    cpu = {c: [0] * rounds for c in configs}
    n = 0
    for r in range(rounds):
        for item in items[r * per_round:(r + 1) * per_round]:
            k = n % len(configs)
            n += 1
            for config in configs[k:] + configs[:k]:
                cpu_before = cpu_ns(pids[config])
                start = time.perf_counter()
                deliver(conns[config], config, item)
                wall[config][r] += time.perf_counter() - start
                cpu[config][r] += cpu_ns(pids[config]) - cpu_before
        print("round %d/%d: %s" % (r + 1, rounds, "  ".join(
            "%.3f" % (wall[baseline][r] / wall[c][r])
            for c in configs if c != baseline)), file=sys.stderr)
    for config in configs:
        conns[config].quit()
    print_round_table(configs, baseline, wall, cpu, rounds, per_round)


def run_throughput(server, users, messages, rounds):
    delivered = {c: [] for c in CONFIGS}

    def deliver(lmtp, config, item):
        chat, msg = item
        deliver_one(lmtp, config, users[config], chat, msg)
        delivered[config].append(item)

    run_interleaved(server, CONFIGS, VANILLA, make_messages(WARMUP),
                    messages, rounds, deliver)
    check_stored(server, users, delivered)


def print_round_table(configs, baseline, wall, cpu, rounds, per_round):
    """The result of an interleaved run: wall[config][round] and
    cpu[config][round] are seconds and nanoseconds of lmtp CPU; ratios are
    baseline/config per round (higher is faster), median and range."""
    timed = rounds * per_round
    print("%d messages per configuration (half chats), interleaved, "
          "%d rounds of %d" % (timed, rounds, per_round))
    print()
    print("| configuration | msg/s | ratio: median of rounds (min-max) "
          "| lmtp CPU us/msg | CPU ratio: median (min-max) |")
    print("|---|---|---|---|---|")
    for config in configs:
        ratios = [wall[baseline][r] / wall[config][r] for r in range(rounds)]
        cpu_ratios = [cpu[baseline][r] / cpu[config][r]
                      for r in range(rounds)]
        print("| %s | %.0f | %.3f (%.3f-%.3f) | %.0f | %.3f (%.3f-%.3f) |" % (
            config, timed / sum(wall[config]), statistics.median(ratios),
            min(ratios), max(ratios), sum(cpu[config]) / timed / 1000,
            statistics.median(cpu_ratios), min(cpu_ratios),
            max(cpu_ratios)))


def wait_for_new_file(pattern, before, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = set(glob.glob(pattern)) - before
        if new:
            # callgrind writes the file at exit; wait until it is complete
            path = new.pop()
            time.sleep(0.5)
            with open(path) as f:
                if any(line.startswith("totals:") for line in f):
                    return path
        time.sleep(0.2)
    raise SystemExit("no callgrind output appeared")


def callgrind_instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit("%s: no totals" % path)


def run_callgrind(server, users, messages, outdir):
    """Instructions per message: the difference between a process that
    delivered WARMUP messages and one that delivered WARMUP + N, so that
    process start and exit cancel out."""
    small = make_messages(WARMUP)
    per_msg = {}
    delivered = {c: [] for c in CONFIGS}
    for config in CONFIGS:
        counts = []
        for batch in (small, small + messages):
            pattern = os.path.join(outdir, "callgrind.*")
            before = set(glob.glob(pattern))
            deliver_batch(server, config, users[config], batch)
            delivered[config] += batch
            path = wait_for_new_file(pattern, before)
            counts.append(callgrind_instructions(path))
            os.rename(path, os.path.join(
                outdir, "%s-%d" % (config.split()[0].strip("+"),
                                   len(batch))))
        per_msg[config] = (counts[1] - counts[0]) / len(messages)
    check_stored(server, users, delivered)

    print("%d messages per configuration (half chats), lmtp under callgrind"
          % len(messages))
    print()
    print("| configuration | instructions/msg | ratio vs vanilla |")
    print("|---|---|---|")
    for config in CONFIGS:
        print("| %s | %.0f | %.3f |" % (
            config, per_msg[config], per_msg[VANILLA] / per_msg[config]))
    print()
    print("callgrind files: %s" % outdir)


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=None,
                   help="per configuration (default 2000, 200 with "
                   "--callgrind)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--callgrind", action="store_true")
    p.add_argument("--extra-conf", metavar="FILE",
                   help="Dovecot settings added to the server's "
                   "configuration (for all configurations alike)")
    args = p.parse_args()

    conf = BASE_CONF
    if args.extra_conf:
        with open(args.extra_conf) as f:
            conf += f.read() + "\n"
    outdir = None
    if args.callgrind:
        outdir = "/var/tmp/coi-bench-callgrind-%d" % os.getpid()
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        os.chmod(outdir, 0o1777)
        conf += callgrind_conf(outdir)
    server = DevServer(extra_conf=conf)
    server.start()
    try:
        users = setup_users(server)
        if args.callgrind:
            run_callgrind(server, users,
                          make_messages(args.messages or 200), outdir)
        else:
            run_throughput(server, users,
                           make_messages(args.messages or 2000), args.rounds)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
