"""The private server itself: what ./run and the test harness promise."""

import smtplib
import socket
import time

from coitest.imap import Imap


def listening_addresses(port):
    """Local addresses with a listening TCP socket on port (IPv4 and 6)."""
    found = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            addr, hexport = cols[1].rsplit(":", 1)
            if int(hexport, 16) == port and cols[3] == "0A":
                found.add(addr)
    return found


def test_all_services_listen_on_loopback_only(server):
    for port in (server.imap_port, server.smtp_port, server.lmtp_port,
                 server.sieve_port, server.turn_port):
        addrs = listening_addresses(port)
        assert addrs, "nothing listens on port %d" % port
        # 0100007F is 127.0.0.1 in /proc's little-endian hex
        assert addrs == {"0100007F"}, (port, addrs)


def test_smtp_with_auth_delivers_through_lmtp_to_inbox(server, imap_connect,
                                                        user):
    sender = server.new_user()
    msg = ("From: %s\r\nTo: %s\r\nSubject: harness\r\n"
           "Message-ID: <harness-%s>\r\n\r\nhello\r\n" % (sender, user, user))
    with smtplib.SMTP(server.host, server.smtp_port, timeout=15) as smtp:
        smtp.login(sender, "pass")
        smtp.sendmail(sender, [user], msg)
    imap = imap_connect(user)
    deadline = time.time() + 15
    while time.time() < deadline:
        resp = imap.ok("STATUS", "INBOX", "(MESSAGES)")
        if b"MESSAGES 1)" in resp.untagged[0]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("message not delivered:\n" +
                             server.log_tail("postfix.log"))
    imap.ok("SELECT", "INBOX")
    resp = imap.ok("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: harness" in resp.untagged[0]


def test_smtp_offers_auth(server):
    with smtplib.SMTP(server.host, server.smtp_port, timeout=15) as smtp:
        smtp.ehlo()
        mechs = smtp.esmtp_features.get("auth", "").upper().split()
        assert "PLAIN" in mechs and "LOGIN" in mechs
        code, _ = smtp.login(server.new_user(), "pass")
        assert code == 235


def test_login_requires_the_dev_password_and_domain(server):
    imap = Imap(server.host, server.imap_port)
    try:
        assert imap.command("LOGIN", '"a@example.org"', '"wrong"').status == "NO"
        assert imap.command("LOGIN", '"a@example.net"', '"pass"').status == "NO"
        # a bare name is completed to NAME@example.org
        assert imap.command("LOGIN", '"bare"', '"pass"').status == "OK"
    finally:
        imap.logout()


def test_managesieve_answers(server):
    with socket.create_connection((server.host, server.sieve_port), 10) as s:
        greeting = b""
        while b"OK" not in greeting:
            greeting += s.recv(4096)
        assert b'"SIEVE"' in greeting.upper()


def test_second_start_reports_running_instance(server):
    res = server.script("start", check=False)
    assert res.returncode != 0
    assert "already running" in res.stderr
    # and the running instance is untouched
    imap = Imap(server.host, server.imap_port)
    imap.logout()


def test_status_reports_both_servers(server):
    res = server.script("status")
    assert "Dovecot running" in res.stdout
    assert "Postfix running" in res.stdout
    assert "coturn running: TURN 127.0.0.1:%d" % server.turn_port in res.stdout


def test_system_configuration_untouched(server):
    # nothing under /etc/dovecot or /etc/postfix changed since the private
    # instance's state directory was made
    import os
    started = os.path.getmtime(os.path.join(server.state_dir, "ports"))
    for top in ("/etc/dovecot", "/etc/postfix"):
        for root, _, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                assert os.lstat(path).st_mtime < started, path


def test_our_modules_are_copies_not_links(server):
    """The private module directory links the system's modules and copies
    ours; a system module with one of our names (an installed
    dovecot-coi) is not linked, so nothing is ever written through a link
    into the system's module directory."""
    import os
    modules = os.path.join(server.state_dir, "modules")
    ours = set()
    for root, _, files in os.walk(modules):
        for name in files:
            path = os.path.join(root, name)
            if name.startswith("lib") and "coi" in name:
                assert not os.path.islink(path), path
                ours.add(name)
            elif os.path.islink(path):
                assert not os.readlink(path).startswith(server.state_dir)
    assert "lib20_coi_plugin.so" in ours
