"""Sending and delivering test messages, and ManageSieve, for the tests."""

import base64
import smtplib
import socket
import subprocess
import time
import uuid

from .imap import quote
from .server import dovecot_tool


def compose(sender, to, subject="test", chat=False, message_id=None,
            references=None, extra_headers=(), body="hello"):
    """An RFC 5322 message as bytes. chat=True adds Chat-Version: 1.0."""
    if message_id is None:
        message_id = "<%s@example.org>" % uuid.uuid4().hex
    lines = ["From: %s" % sender, "To: %s" % to, "Subject: %s" % subject,
             "Date: Sun, 22 Nov 2026 12:00:00 +0000",
             "Message-ID: %s" % message_id]
    if chat:
        lines.append("Chat-Version: 1.0")
    if references:
        lines.append("References: %s" % references)
    lines += list(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def smtp_send(server, sender, recipients, message):
    with smtplib.SMTP(server.host, server.smtp_port, timeout=20) as smtp:
        smtp.login(sender, "pass")
        smtp.sendmail(sender, recipients, message)


def lmtp_send(server, sender, recipients, message):
    """One LMTP transaction; returns {recipient: (code, text)}."""
    lmtp = smtplib.LMTP(server.host, server.lmtp_port, timeout=20)
    try:
        lmtp.ehlo("test.example.org")
        lmtp.mail(sender)
        for rcpt in recipients:
            code, text = lmtp.rcpt(rcpt)
            assert code == 250, (rcpt, code, text)
        lmtp.putcmd("data")
        code, text = lmtp.getreply()
        assert code == 354, (code, text)
        stuffed = message.replace(b"\r\n.", b"\r\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        lmtp.send(stuffed + b"\r\n.\r\n")
        return {rcpt: lmtp.getreply() for rcpt in recipients}
    finally:
        lmtp.close()


def lda_deliver(server, recipient, message):
    conf = "%s/dovecot/dovecot.conf" % server.state_dir
    res = subprocess.run([dovecot_tool("dovecot-lda"), "-c", conf,
                          "-d", recipient, "-f", "sender@example.net"],
                         input=message, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr.decode(errors="replace")


def wait_for_count(imap, mailbox, count, timeout=20):
    """Waits until mailbox has count messages; returns the count seen."""
    deadline = time.time() + timeout
    n = -1
    while time.time() < deadline:
        n = message_count(imap, mailbox)
        if n >= count:
            return n
        time.sleep(0.1)
    return n


def message_count(imap, mailbox):
    resp = imap.command("STATUS", quote(mailbox), "(MESSAGES)")
    if resp.status != "OK":
        return 0
    for line in resp.untagged:
        if b"MESSAGES " in line:
            return int(line.rsplit(b"MESSAGES ", 1)[1].split(b")")[0])
    return 0


def fetch_all(imap, mailbox):
    """[(flags set without \\Recent, subject)] of every message."""
    imap.ok("EXAMINE", quote(mailbox))
    resp = imap.ok("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])") \
        if message_count(imap, mailbox) else None
    out = []
    if resp is None:
        return out
    from .imap import tokenize
    for line in resp.untagged:
        toks = tokenize(line)
        if len(toks) < 4 or toks[2].upper() != b"FETCH":
            continue
        items = toks[3]
        data = dict(zip(items[0::2], items[1::2]))
        flags = {f.decode() for f in data[b"FLAGS"]} - {"\\Recent"}
        subject = b""
        for key, value in data.items():
            if key.upper().startswith(b"BODY["):
                subject = value.split(b":", 1)[1].strip() if b":" in value else b""
        out.append((flags, subject.decode()))
    return out


class ManageSieve:
    """Just enough ManageSieve (RFC 5804) to upload and activate scripts."""

    def __init__(self, server, user):
        self.sock = socket.create_connection((server.host, server.sieve_port),
                                             timeout=15)
        self.buf = b""
        self._response()
        auth = base64.b64encode(b"\0" + user.encode() + b"\0pass").decode()
        self._command('AUTHENTICATE "PLAIN" "%s"' % auth)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise IOError("ManageSieve connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _literal(self, size):
        while len(self.buf) < size:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise IOError("ManageSieve connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def _response(self):
        lines = []
        while True:
            line = self._line()
            # a response text may come as a literal: NO {42}
            if line.endswith(b"}") and b"{" in line:
                head, size = line[:-1].rsplit(b"{", 1)
                line = head + self._literal(int(size.rstrip(b"+")))
                line += self._line()
            lines.append(line)
            if line.startswith((b"OK", b"NO", b"BYE")):
                if not line.startswith(b"OK"):
                    raise IOError(b"\n".join(lines).decode(errors="replace"))
                return lines

    def _command(self, cmd, literal=None):
        data = cmd.encode()
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        self.sock.sendall(data + b"\r\n")
        return self._response()

    def capabilities(self):
        """The capability lines of the greeting's CAPABILITY response."""
        return self._command("CAPABILITY")[:-1]

    def put(self, name, script):
        """PUTSCRIPT; raises IOError with the server's reply on NO."""
        return self._command('PUTSCRIPT "%s"' % name, script.encode())

    def check(self, script):
        """CHECKSCRIPT; raises IOError with the server's reply on NO."""
        return self._command("CHECKSCRIPT", script.encode())

    def put_active(self, name, script):
        self._command('PUTSCRIPT "%s"' % name, script.encode())
        self._command('SETACTIVE "%s"' % name)

    def close(self):
        try:
            self.sock.sendall(b"LOGOUT\r\n")
        finally:
            self.sock.close()
