"""Hostile input and faults: what an authenticated IMAP client, a local
user or a damaged spool can throw at the plugins. Each case gets a clear
answer and leaves every process running; none loses or duplicates mail
(the resync check of conftest.py runs after each test too)."""

import base64
import grp
import os
import stat
import subprocess
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, Imap
from coitest.mail import compose, lmtp_send, message_count
from coitest.server import DOVECOT_24, DevServer, settings_conf
from test_webpush import (SUBSCRIPTIONS, listed, sub_entry, subscribe,
                          subscribe_validated)

PUSH_SOCKET = ("dovecot", "run", "coi-push")


def socket_path(server):
    return os.path.join(server.state_dir, *PUSH_SOCKET)


def send_job_lines(server, lines):
    import socket
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(socket_path(server))
        sock.sendall(b"".join(line + b"\n" for line in lines))


def coi_push_pid(server):
    """The pid of the server's coi-push process (a child of its master),
    read from /proc: ps hangs when it inherits the sanitizer runtime of
    ./test --sanitize."""
    with open(os.path.join(server.state_dir, "dovecot", "run",
                           "master.pid")) as f:
        master = f.read().strip()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat_line = f.read()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces
        ppid = stat_line.rsplit(")", 1)[1].split()[1]
        if ppid == master and b"coi-push" in cmdline:
            pids.append(pid)
    assert len(pids) == 1, (pids, server.log_tail())
    return pids[0]


def assert_no_crash(server, offset):
    log = server.log_since(offset)
    for word in ("Panic", "Fatal", "killed with signal", "Segmentation"):
        assert word not in log, log


def deliver(server, user, subject="hello", chat=False):
    msg = compose("Alice <alice@example.net>", user, subject=subject,
                  chat=chat)
    replies = lmtp_send(server, "alice@example.net", [user], msg)
    assert replies[user][0] == 250, replies


# -- IMAP ------------------------------------------------------------------

def test_listing_many_webpush_subscriptions(server, imap, push):
    """Listing grew the caller's data-stack array in a frame of its own:
    five subscriptions were enough to kill the imap process."""
    offset = server.log_size()
    for i in range(8):
        sub = push.new_subscription()
        assert subscribe(imap, "many-subs-%d" % i, sub).status == "OK"
    got = listed(imap)
    assert sorted(got) == sorted("many-subs-%d" % i for i in range(8))
    # depth infinity and the subtree itself, on a connection that lives on
    assert len(imap.getmetadata("", SUBSCRIPTIONS, depth="infinity")) >= 8
    imap.ok("NOOP")
    assert_no_crash(server, offset)


def test_metadata_errors_name_no_internal_keys(imap):
    for entry, value in (
            ("/private/vendor/vendor.dovecot/webpush/vapid", "x"),
            ("/private/vendor/vendor.dovecot/coi/config/mailbox-root", "X"),
            (sub_entry("bad id!"), "{}"),
            (sub_entry("good-id-1"), "not json"),
            (sub_entry("good-id-2") + "/validate", "nothing to validate"),
            (COI_MESSAGE_FILTER, "sometimes"),
            (COI_ENABLED, "\x7f")):
        res = imap.setmetadata("", entry, value)
        assert res.status in ("NO", "BAD"), (entry, res)
        assert "pvt" not in res.text and "/server/" not in res.text, res
        assert "/var/" not in res.text and "/tmp" not in res.text, res


# -- the coi-push socket ---------------------------------------------------

def test_push_socket_is_only_for_mail_processes(server):
    """Mode 0660 and Dovecot's internal group, which imap, lmtp and
    doveadm get as an extra group: no other local user can connect."""
    st = os.stat(socket_path(server))
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert grp.getgrgid(st.st_gid).gr_name == "dovecot"
    res = subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c",
         "import socket,sys; s=socket.socket(socket.AF_UNIX); "
         "s.connect(sys.argv[1])", socket_path(server)],
        capture_output=True, text=True)
    assert res.returncode != 0 and "PermissionError" in res.stderr, res


def job(*user_url, **fields):
    """A job line: user and url, then fields that replace or add to them."""
    out = {"protocol": "deltachat", "user": user_url[0], "url": user_url[1],
           "body": base64.b64encode(b"token").decode()}
    out.update(fields)
    return "\t".join("%s=%s" % kv for kv in out.items()).encode()


# Dovecot's tab escaping: \x01r is CR, \x01n LF, \x01t TAB
CRLF = "\x01r\x01n"
HOSTILE_JOBS = [
    # headers of its own, and CR/LF in every field that reaches HTTP
    dict(header="X-A: a\r\nX-B: b"),
    dict(header="X-A: a" + CRLF + "X-B: b"),
    dict(user="u" + CRLF + "X: y"),
    dict(url="http://127.0.0.1:9/" + CRLF + "Host: evil"),
    dict(url="http://127.0.0.1:9/ HTTP/1.1" + CRLF + CRLF + "GET / x"),
    dict(protocol="webpush", p256dh="BCVx", auth="BTBZ", urgency="high",
         vapid="vapid t=a" + CRLF + "Transfer-Encoding: chunked, k=b"),
    # a forged gone record ("key<TAB>time<LF>")
    dict(gone="victim\x01t9000000000\x01nx"),
    # counters and times that overflowed
    dict(attempts="4294967295"),
    dict(next="99999999999999999999"),
    dict(send_attempts="4294967295"),
    dict(protocol="../../etc"),
]


def test_hostile_jobs_are_refused_and_the_service_lives(server, user):
    offset = server.log_size()
    pid = coi_push_pid(server)
    lines = [job(user, "http://127.0.0.1:9/notify", **fields)
             for fields in HOSTILE_JOBS]
    for line in lines:
        send_job_lines(server, [line])
    # all refused but the two with a header field, which is no field any
    # more and ignored (the first one's raw CR LF ends its line: the
    # rest, "X-B: b", is refused)
    deadline = time.monotonic() + 10
    while server.log_since(offset).count("Invalid job") < len(lines) - 1:
        assert time.monotonic() < deadline, server.log_since(offset)
        time.sleep(0.1)
    time.sleep(0.5)
    assert server.log_since(offset).count("Invalid job") == len(lines) - 1
    assert coi_push_pid(server) == pid
    assert_no_crash(server, offset)
    # nothing of it reached the spool
    jobs = os.path.join(server.state_dir, "push-spool", "jobs")
    for name in os.listdir(jobs):
        with open(os.path.join(jobs, name), "rb") as f:
            assert b"evil" not in f.read()


def test_header_field_reaches_no_request(server, user, push):
    """The old free-form header field is ignored: the service builds every
    header itself."""
    sub = push.new_subscription()
    line = job(user, sub.endpoint, protocol="webpush", p256dh=sub.p256dh,
               auth=sub.auth, urgency="normal",
               vapid="vapid t=aaa.bbb.ccc, k=BBBB",
               header="X-Injected: yes",
               body=base64.b64encode(b'{"subject":"x"}').decode())
    send_job_lines(server, [line])
    req = push.wait_for_requests(sub, 1)[0]
    assert "X-Injected" not in req.headers
    assert req.headers["Urgency"] == "normal"
    assert req.payload["subject"] == "x"


def test_broken_spool_files_are_moved_aside():
    srv = DevServer()
    srv.start()
    try:
        jobs = os.path.join(srv.state_dir, "push-spool", "jobs")
        user = srv.new_user()
        bad = {
            "1.attempts": job(user, "http://127.0.0.1:9/n",
                              attempts="4294967295"),
            "2.next": job(user, "http://127.0.0.1:9/n",
                          next="4294967295", attempts="1"),
            "3.crlf": job(user, "http://127.0.0.1:9/n" + CRLF + "X: y"),
            "4.garbage": b"\x00\xff not a job",
        }
        srv.stop()
        for name, content in bad.items():
            with open(os.path.join(jobs, name), "wb") as f:
                f.write(content + b"\n")
        offset = srv.log_size()
        srv.start()
        deadline = time.monotonic() + 10
        broken = os.path.join(srv.state_dir, "push-spool", "broken")
        while not (os.path.isdir(broken) and
                   len(os.listdir(broken)) == 3):
            assert time.monotonic() < deadline, srv.log_since(offset)
            time.sleep(0.1)
        assert sorted(os.listdir(broken)) == ["1.attempts", "3.crlf",
                                              "4.garbage"]
        log = srv.log_since(offset)
        assert log.count("Broken spool file") == 3, log
        # a far "next" is only waited for, within a day
        assert os.listdir(jobs) == ["2.next"]
        assert_no_crash(srv, offset)
        # a second start finds nothing to complain about
        offset = srv.log_size()
        srv.restart()
        time.sleep(1)
        assert "Broken spool file" not in srv.log_since(offset)
        assert "pending pushes loaded" in srv.log_since(offset)
        assert_no_crash(srv, offset)
    finally:
        srv.cleanup()


# -- WebPush limits --------------------------------------------------------

def test_validation_pushes_are_rate_limited(server, imap, push):
    """Re-subscribing sends a validation push to an endpoint the client
    chose: at most coi_webpush_validation_rate (10) a minute per user."""
    offset = server.log_size()
    sub = push.new_subscription()
    for i in range(25):
        assert subscribe(imap, "rate-sub-%d" % (i % 3), sub).status == "OK"
    assert server.wait_for_log(offset, "coi_webpush_validation_rate")
    time.sleep(1)
    assert len(push.requests(sub)) == 10


def race_for_subscriptions(server, user, sub, sessions=8, tries=3):
    """sessions IMAP sessions of user, each adding tries subscriptions at
    the same moment. Returns the statuses and the distinct NO texts."""
    import threading
    imaps = []
    for _ in range(sessions):
        imap = Imap(server.host, server.imap_port)
        imap.login(user)
        imaps.append(imap)
    # INBOX, which keeps the subscriptions, exists before the race: a new
    # user's sessions would otherwise race to create it, and Dovecot
    # answers all but one "Mailbox already exists" (as without COI)
    imaps[0].ok("STATUS", "INBOX", "(MESSAGES)")
    results = []
    answers = set()
    start = threading.Barrier(len(imaps))

    def add(n, imap):
        start.wait()
        for i in range(tries):
            res = subscribe(imap, "limit-sub-%d-%d" % (n, i), sub)
            results.append(res.status)
            if res.status != "OK":
                answers.add(res.text.split(" (")[0])

    threads = [threading.Thread(target=add, args=(n, imap))
               for n, imap in enumerate(imaps)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results, answers, len(listed(imaps[0]))
    finally:
        for imap in imaps:
            imap.logout()


def test_subscription_limit_holds_for_concurrent_sessions(server, push):
    """coi_webpush_max_subscriptions (10) counted by 8 sessions at once:
    counting and storing are one step, so no session stores an 11th.
    (Without the lock, a single race stored 11 or more in two runs of
    three; with three races per run, every run of four failed.)"""
    sub = push.new_subscription()
    for _ in range(3):
        user = server.new_user()
        offset = server.log_size()
        results, answers, stored = race_for_subscriptions(server, user, sub)
        log = server.log_since(offset)
        assert results.count("OK") == 10, (results, answers, log)
        assert answers == {"[CANNOT] Too many push subscriptions"}, \
            (answers, log)
        assert stored == 10, log


# -- LMTP ------------------------------------------------------------------

HOSTILE_MESSAGES = {
    "no header at all": b"just a body line\r\n",
    "empty": b"\r\n",
    "NUL and 8-bit junk in headers":
        b"From: a\x00b@example.net\r\nSubject: \xff\xfe\x00\r\n"
        b"Message-ID: <chat$\x00x@y>\r\nChat-Version: \x00\r\n\r\nx\r\n",
    "unterminated comment in References":
        b"From: a@example.net\r\nReferences: (((((( <chat$x@y\r\n\r\nx\r\n",
    "header without colon": b"From a@example.net\r\nChat-Version\r\n\r\n",
    "10000 References":
        b"From: a@example.net\r\nReferences: " +
        b" ".join(b"<%d@x>" % i for i in range(10000)) + b"\r\n\r\nx\r\n",
    "folded forever":
        b"From: a@example.net\r\nMessage-ID:" + b"\r\n " * 3000 +
        b"<chat$folded@x>\r\n\r\nx\r\n",
    "COI-From-Hash junk":
        b"From: a@example.net\r\nChat-Version: 1.0\r\n"
        b"COI-From-Hash: " + b"g" * 64 + b"\r\nCOI-From-Hash: \r\n"
        b"COI-Blocked: yes\r\n\r\nx\r\n",
    "long header line":
        b"From: a@example.net\r\nSubject: " + b"x" * 200000 +
        b"\r\nChat-Version: 1.0\r\n\r\nx\r\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MESSAGES))
def test_hostile_messages_are_delivered(server, imap_connect, user, push,
                                        name):
    """Whatever a sender puts into a message, a COI user (filter active,
    with a WebPush subscription, so the payload is built from it) gets it
    stored once, and no process dies."""
    imap = imap_connect(user)
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
    sub = subscribe_validated(imap, push, "hostile-msg-1")
    offset = server.log_size()
    replies = lmtp_send(server, "a@example.net", [user],
                        HOSTILE_MESSAGES[name])
    assert replies[user][0] == 250, replies
    total = sum(message_count(imap, box) for box in ("INBOX", "COI/Chats"))
    assert total == 1
    push.wait_for_requests(sub, 2)
    assert_no_crash(server, offset)


# -- settings ----------------------------------------------------------------

@pytest.mark.skipif(not DOVECOT_24, reason="Dovecot 2.3 does not check "
                    "plugin settings: see the test below")
def test_invalid_settings_stop_dovecot_24_from_starting():
    """On Dovecot 2.4 the COI settings are Dovecot's (our settings module):
    an invalid value is a configuration error naming the setting, and the
    server does not start."""
    srv = DevServer(extra_conf=settings_conf({"coi_push_timeout": "soon"}))
    try:
        with pytest.raises(RuntimeError) as start:
            srv.start()
        assert "coi_push_timeout" in str(start.value), str(start.value)
        assert srv.script("status").stdout.startswith("Dovecot not running")
    finally:
        srv.cleanup()


@pytest.mark.skipif(DOVECOT_24, reason="Dovecot 2.4 refuses to start with "
                    "an invalid value: see the test above")
def test_invalid_settings_are_logged_once_and_defaulted():
    """The coi-push service and the mail processes read the same settings
    with the same rule: an invalid value is logged, and that setting keeps
    its default; the service keeps running and its other settings apply."""
    srv = DevServer(extra_conf="plugin {\n  coi_push_timeout = soon\n"
                               "  coi_push_spool_max_jobs = many\n}\n")
    srv.start()
    try:
        offset = 0
        users = [srv.new_user(), srv.new_user()]
        # one LMTP transaction, so one process creates both users
        replies = lmtp_send(srv, "alice@example.net", users,
                            compose("Alice <alice@example.net>", users[0]))
        assert all(reply[0] == 250 for reply in replies.values()), replies
        log = srv.log_since(offset)
        service = [line for line in log.splitlines()
                   if "coi-push" in line and "Invalid coi_push_timeout" in line]
        assert len(service) == 1, log
        assert "Invalid coi_push_spool_max_jobs=many" in log, log
        # the LMTP process logs each bad value once, not per user
        lmtp = [line for line in log.splitlines()
                if "lmtp" in line and "Invalid coi_push_timeout" in line]
        assert len(lmtp) == 1, log
        assert_no_crash(srv, offset)
        coi_push_pid(srv)
    finally:
        srv.cleanup()
