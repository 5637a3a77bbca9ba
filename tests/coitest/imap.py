"""A small raw IMAP client for tests.

imaplib hides too much for protocol tests (literals, METADATA, exact
response codes), so this one sends exactly what it is given and parses
responses into tokens: bytes for atoms/strings/literals, None for NIL and
lists for parenthesised groups."""

import re
import select
import socket
import time

COI_CONFIG = "/private/vendor/vendor.dovecot/coi/config"
COI_ENABLED = COI_CONFIG + "/enabled"
COI_MAILBOX_ROOT = COI_CONFIG + "/mailbox-root"
COI_MESSAGE_FILTER = COI_CONFIG + "/message-filter"

_LITERAL_RE = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Literal:
    """A literal argument: synchronizing ({n}) unless nonsync (LITERAL+)."""

    def __init__(self, data, nonsync=False):
        self.data = data if isinstance(data, bytes) else data.encode()
        self.nonsync = nonsync


class Raw:
    """Bytes appended to a command without a separating space."""

    def __init__(self, data):
        self.data = data


class Response:
    def __init__(self, status, text, untagged):
        self.status = status
        self.text = text
        self.untagged = untagged

    @property
    def code(self):
        m = re.match(r"\[([^\]\s]+)", self.text)
        return m.group(1) if m else None

    def __repr__(self):
        return "Response(%s %r)" % (self.status, self.text)


class ImapError(Exception):
    pass


def tokenize(data):
    """Parses one response (with its literals inlined) into tokens."""
    pos = 0
    stack = [[]]
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c in (b" ", b"\r", b"\n"):
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            group = stack.pop()
            stack[-1].append(group)
            pos += 1
        elif c == b'"':
            pos += 1
            out = bytearray()
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                out += data[pos:pos + 1]
                pos += 1
            pos += 1
            stack[-1].append(bytes(out))
        elif c in (b"{", b"~") and re.match(rb"~?\{\d+\+?\}\r\n", data[pos:]):
            m = re.match(rb"~?\{(\d+)\+?\}\r\n", data[pos:])
            size = int(m.group(1))
            start = pos + m.end()
            stack[-1].append(data[start:start + size])
            pos = start + size
        else:
            m = re.match(rb"[^ ()\r\n\[]*(\[[^\]]*\])?[^ ()\r\n]*", data[pos:])
            atom = m.group(0)
            pos += len(atom)
            stack[-1].append(None if atom.upper() == b"NIL" else atom)
    while len(stack) > 1:
        group = stack.pop()
        stack[-1].append(group)
    return stack[0]


class Imap:
    def __init__(self, host, port, timeout=15):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.tag_no = 0
        self.greeting = self._read_response()

    # -- transport -----------------------------------------------------
    def _read_line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ImapError("connection closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def _read_exact(self, size):
        while len(self.buf) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ImapError("connection closed by server")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def _read_response(self):
        """One server response with literals inlined."""
        data = self._read_line()
        while True:
            m = _LITERAL_RE.search(data)
            if not m:
                return data
            data += self._read_exact(int(m.group(1)))
            data += self._read_line()

    def send(self, data):
        self.sock.sendall(data)

    def read_until_closed(self):
        """Every response the server sends until it closes the connection:
        what a command gets that the server answers with BYE only."""
        responses = []
        while True:
            try:
                responses.append(self._read_response())
            except ImapError:
                return responses

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- commands ------------------------------------------------------
    def next_tag(self):
        self.tag_no += 1
        return "t%d" % self.tag_no

    def command(self, *args):
        """Sends one command built from args (str, bytes or Literal) and
        returns its Response. Synchronizing literals wait for '+'."""
        tag = self.next_tag()
        out = tag.encode()
        for arg in args:
            if isinstance(arg, Raw):
                out += arg.data
                continue
            out += b" "
            if isinstance(arg, Literal):
                out += b"{%d%s}\r\n" % (len(arg.data),
                                        b"+" if arg.nonsync else b"")
                if not arg.nonsync:
                    self.send(out)
                    out = b""
                    cont = self._read_response()
                    if not cont.startswith(b"+"):
                        return self._finish(tag, [cont])
                out += arg.data
            else:
                out += arg if isinstance(arg, bytes) else arg.encode()
        self.send(out + b"\r\n")
        return self._finish(tag, [])

    def _finish(self, tag, pending):
        untagged = []
        tagb = tag.encode() + b" "
        lines = list(pending)
        while True:
            line = lines.pop(0) if lines else self._read_response()
            if line.startswith(tagb):
                rest = line[len(tagb):].decode("utf-8", "replace").rstrip("\r\n")
                status, _, text = rest.partition(" ")
                return Response(status, text, untagged)
            untagged.append(line)

    def ok(self, *args):
        resp = self.command(*args)
        if resp.status != "OK":
            raise ImapError("%s failed: %s %s" % (args, resp.status, resp.text))
        return resp

    def login(self, user, password="pass"):
        return self.ok("LOGIN", quote(user), quote(password))

    def capabilities(self):
        resp = self.ok("CAPABILITY")
        for line in resp.untagged:
            if line.upper().startswith(b"* CAPABILITY "):
                return set(line[13:].decode().strip().upper().split())
        raise ImapError("no CAPABILITY response")

    def list(self, pattern="*", cmd="LIST"):
        """{name: set(flags)}"""
        resp = self.ok(cmd, '""', quote(pattern))
        boxes = {}
        for line in resp.untagged:
            toks = tokenize(line)
            if len(toks) >= 5 and toks[1].upper() == cmd.encode():
                boxes[toks[4].decode()] = {f.decode() for f in toks[2]}
        return boxes

    def lsub(self, pattern="*"):
        return self.list(pattern, "LSUB")

    def getmetadata(self, mailbox, *entries, depth=None):
        """{entry: bytes or None} for the entries the server returned."""
        args = ["GETMETADATA"]
        if depth is not None:
            args.append("(DEPTH %s)" % depth)
        args += [quote(mailbox), "(%s)" % " ".join(entries)]
        resp = self.ok(*args)
        return parse_metadata(resp.untagged)

    def setmetadata(self, mailbox, entry, value):
        """value: None (NIL), str/bytes (quoted), or Literal."""
        if value is None:
            val = "NIL"
        elif isinstance(value, Literal):
            return self.command("SETMETADATA", quote(mailbox),
                                "(" + entry, value, Raw(b")"))
        else:
            val = quote(value)
        return self.command("SETMETADATA", quote(mailbox),
                            "(%s %s)" % (entry, val))

    def logout(self):
        try:
            self.command("LOGOUT")
        except (ImapError, OSError):
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.logout()


def quote(s):
    if isinstance(s, bytes):
        s = s.decode()
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_metadata(untagged):
    result = {}
    for line in untagged:
        toks = tokenize(line)
        if len(toks) < 4 or toks[1].upper() != b"METADATA":
            continue
        items = toks[3]
        for i in range(0, len(items) - 1, 2):
            result[items[i].decode()] = items[i + 1]
    return result


# What a client must never see in an error text.
INTERNAL_MARKERS = ("pvt", "vendor.dovecot/pvt", "/var/", "/tmp/",
                    "dovecot-attributes", ".pem")


def assert_cannot(resp, *must_contain):
    """resp is "NO [CANNOT] <text>" without internal names or paths, and
    the text contains every string of must_contain."""
    assert resp.status == "NO", resp
    assert resp.code == "CANNOT", resp
    for marker in INTERNAL_MARKERS:
        assert marker not in resp.text, resp
    for text in must_contain:
        assert text in resp.text, resp


class Listener:
    """An IMAP session that selected INBOX and waits for what the server
    sends on its own."""

    def __init__(self, imap):
        self.imap = imap
        self.data = b""
        # (end offset in data, time.monotonic() it arrived) per recv()
        self.chunks = []
        imap.ok("SELECT", "INBOX")

    def wait_for(self, pattern, timeout=20):
        """The first match of pattern in what the server sent; fails if
        nothing matches within timeout (a bound against hangs, not a speed
        requirement)."""
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = regex.search(self.data)
            if m:
                return m
            left = deadline - time.time()
            assert left > 0, "the server sent %r, no %r" % (self.data,
                                                            pattern)
            ready, _, _ = select.select([self.imap.sock], [], [],
                                        min(left, 1))
            if ready:
                self.receive()

    def receive(self):
        """Reads what the server sent (the socket is readable)."""
        chunk = self.imap.sock.recv(65536)
        assert chunk, "connection closed: %r" % self.data
        self.data += chunk
        self.chunks.append((len(self.data), time.monotonic()))

    def arrival(self, match):
        """When the end of match arrived (time.monotonic())."""
        for end, when in self.chunks:
            if end >= match.end():
                return when
        raise ValueError("match beyond the data received")


class Idler(Listener):
    """A session idling on INBOX."""

    def __init__(self, imap):
        super().__init__(imap)
        imap.send(b"i1 IDLE\r\n")
        assert imap._read_response().startswith(b"+")

    def done(self):
        self.imap.send(b"DONE\r\n")
        self.wait_for(rb"i1 OK ")
