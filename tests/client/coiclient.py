"""A reference COI client (coi-client-spec.md) on Python's standard library.

It works against any IMAP/SMTP server:

- extended mode, when the server advertises COI: COI is enabled and the
  message filter set through METADATA; the server files chats.
- plain mode, on any other server: the client creates COI/Chats and
  COI/Contacts itself and files chats out of INBOX on every sync, as the
  client spec's "Manual Message Filtering" describes.

Blocking (coi-client-spec.md "Blocking Contacts") works in both modes: the
client marks the contact storage message in COI/Contacts with COI-Blocked
(APPEND of the new version, EXPUNGE of the old one). In plain mode the
client itself moves the blocked senders' messages from INBOX to Blocked on
every sync; in extended mode the server does it at delivery.

Client developers can use it as an interoperability tool:

    coi-client --user alice@example.org --tls check     (a conformance report)
    coi-client --imap HOST[:PORT] --smtp HOST[:PORT] --user U --json check
    coi-client ... send bob@example.org "hello"
    coi-client ... sync
    coi-client ... list
    coi-client ... block spammer@example.net
    coi-client ... unblock spammer@example.net
"""

import argparse
import getpass
import hashlib
import json
import os
import socket
import email
import email.policy
import email.utils
import imaplib
import re
import smtplib
import ssl
import sys
import time
import uuid
from email.message import EmailMessage

__version__ = "0.1.0"

# exit codes
EXIT_OK = 0
EXIT_FAILED = 1          # a command failed, or check: a MUST check failed
EXIT_USAGE = 2           # wrong arguments (argparse)
EXIT_CONNECT = 3         # could not connect or log in

COI_CONFIG = "/private/vendor/vendor.dovecot/coi/config"
COI_ENABLED = COI_CONFIG + "/enabled"
COI_MAILBOX_ROOT = COI_CONFIG + "/mailbox-root"
COI_MESSAGE_FILTER = COI_CONFIG + "/message-filter"
FILTER_MODES = ("none", "active", "seen")
CHAT_KEYWORD = "$Chat"
BLOCKED_FOLDER = "Blocked"

for _cmd in ("GETMETADATA", "SETMETADATA", "MOVE", "IDLE", "ENABLE"):
    imaplib.Commands.setdefault(_cmd, ("AUTH", "SELECTED"))

_IMAP_TOKEN_RE = re.compile(r'"(?:\\.|[^"\\])*"|[()]|[^\s()]+')
_MSGID_RE = re.compile(r"\s*(?:\([^)]*\)\s*)*<\s*([^>]*)>")


def first_message_id(value):
    """The first <id> of a Message-ID/References value, or None."""
    if not value:
        return None
    m = _MSGID_RE.match(value)
    return m.group(1) if m else None


def is_chat_message(headers):
    """The COI chat rule, on a parsed email.message.Message (headers)."""
    if headers.get("Chat-Version") is not None:
        return True
    for name in ("Message-ID", "References"):
        mid = first_message_id(str(headers.get(name, "")))
        if mid and mid.startswith("chat$"):
            return True
    return False


def address_is_valid(address):
    """The server's rule for contact addresses (coi-contacts.c): one @ with
    something on both sides, at most 254 octets, no spaces, control
    characters, <, >, comma or double quote."""
    at = address.rfind("@")
    if at <= 0 or at == len(address) - 1 or len(address.encode()) > 254:
        return False
    return not any(ch <= " " or ch in '<>,"\x7f' for ch in address)


def address_hash(address):
    """COI-From-Hash of an address: SHA3-256 of the lowercased address."""
    return hashlib.sha3_256(address.strip().lower().encode()).hexdigest()


def header_addresses(headers, name="From"):
    return [a.lower() for _, a in email.utils.getaddresses(
        [str(v) for v in headers.get_all(name, [])]) if a]


def without_header(raw, name):
    """The raw message without any header field called name."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    out, skipping = [], False
    prefix = name.lower().encode() + b":"
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.lower().startswith(prefix)
        if not skipping:
            out.append(line)
    return b"\r\n".join(out) + b"\r\n\r\n" + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class CoiError(Exception):
    pass


class CoiClient:
    def __init__(self, imap, smtp, user, password, tls=False,
                 filter_mode="active", name=None, starttls=False,
                 cafile=None):
        self.imap_addr = imap
        self.smtp_addr = smtp
        self.user = user
        self.password = password
        # tls: implicit TLS on both connections; starttls: upgrade plain
        # connections with STARTTLS. Certificates are always verified,
        # against cafile if given, else the system's trust store.
        self.tls = tls
        self.starttls = starttls
        self.cafile = cafile
        self.filter_mode = filter_mode
        self.name = name
        self.imap = None
        self.capabilities = set()
        self.preauth_capabilities = set()
        self.root = "COI"
        self.sep = "/"

    # -- connection ----------------------------------------------------
    def connect(self):
        host, port = self.imap_addr
        if self.tls:
            self.imap = imaplib.IMAP4_SSL(host, port,
                                          ssl_context=self._ssl_context())
        else:
            self.imap = imaplib.IMAP4(host, port)
            if self.starttls:
                self.imap.starttls(ssl_context=self._ssl_context())
        self.preauth_capabilities = {c.upper() for c in self.imap.capabilities}
        self.imap.login(self.user, self.password)
        typ, data = self.imap.capability()
        self.capabilities = set(data[0].decode().upper().split())
        typ, data = self.imap.list('""', '""')
        m = re.match(rb'\([^)]*\) "(.)"', data[0] or b"")
        if m:
            self.sep = m.group(1).decode()
        return self

    def _ssl_context(self):
        return ssl.create_default_context(cafile=self.cafile)

    def close(self):
        if self.imap is not None:
            try:
                self.imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self.imap = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    @property
    def extended(self):
        """TRUE when the server is a COI server (extended mode)."""
        return "COI" in self.capabilities

    @property
    def mode(self):
        return "extended" if self.extended else "plain"

    def _check(self, result, what):
        typ, data = result
        if typ != "OK":
            raise CoiError("%s failed: %s" % (what, data))
        return data

    def folder(self, name):
        return self.root + self.sep + name

    @property
    def chats(self):
        return self.folder("Chats")

    @property
    def contacts(self):
        return self.folder("Contacts")

    # -- METADATA ------------------------------------------------------
    def getmetadata(self, *entries, depth=None):
        args = []
        if depth is not None:
            args.append("(DEPTH %s)" % depth)
        args += ['""', "(%s)" % " ".join(entries)]
        typ, data = self.imap._simple_command("GETMETADATA", *args)
        if typ != "OK":
            raise CoiError("GETMETADATA failed: %s" % data)
        typ, data = self.imap._untagged_response(typ, data, "METADATA")
        # imaplib splits responses at literals: (text ending in {N},
        # literal) tuples and plain text. An entry name is an atom starting
        # with "/", its value the next string: quoted, literal or NIL.
        tokens = []
        for item in data:
            head, literal = item if isinstance(item, tuple) else (item, None)
            tokens += _IMAP_TOKEN_RE.findall((head or b"").decode(
                errors="replace"))
            if literal is not None and tokens and \
                    re.match(r"^\{\d+\+?\}$", tokens[-1]):
                tokens[-1] = ("literal", literal.decode(errors="replace"))
        result = {}
        for i, token in enumerate(tokens[:-1]):
            if isinstance(token, str) and token.startswith("/"):
                value = tokens[i + 1]
                if isinstance(value, tuple):
                    result[token] = value[1]
                elif value.upper() == "NIL":
                    result[token] = None
                elif value.startswith('"'):
                    result[token] = re.sub(r'\\(.)', r"\1", value[1:-1])
        return result

    def setmetadata(self, entry, value):
        val = "NIL" if value is None else self.imap_string(value)
        return self.imap._simple_command("SETMETADATA", '""',
                                         "(%s %s)" % (entry, val))

    # -- setup ---------------------------------------------------------
    def setup(self, filter_mode=None):
        """Prepares the account: on a COI server enable COI and set the
        filter; elsewhere create the COI folders ourselves."""
        if filter_mode is not None:
            self.filter_mode = filter_mode
        if self.extended:
            self._check(self.setmetadata(COI_ENABLED, "yes"), "enable COI")
            self._check(self.setmetadata(COI_MESSAGE_FILTER, self.filter_mode),
                        "set message-filter")
            root = self.getmetadata(COI_MAILBOX_ROOT).get(COI_MAILBOX_ROOT)
            if root:
                self.root = root
        else:
            for box, subscribe in ((self.chats, True), (self.contacts, False)):
                typ, data = self.imap.create(self.quote(box))
                if typ != "OK" and b"ALREADYEXISTS" not in data[0].upper() \
                        and b"EXISTS" not in data[0].upper():
                    raise CoiError("CREATE %s failed: %s" % (box, data))
                if subscribe:
                    self.imap.subscribe(self.quote(box))

    @staticmethod
    def quote(name):
        """An IMAP quoted string."""
        return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


    @staticmethod
    def imap_string(value):
        """value as an IMAP string: quoted (8-bit and line ends are not
        allowed there, so those values are refused here)."""
        if any(ord(ch) > 126 or ch in "\r\n\0" for ch in value):
            raise CoiError("a METADATA value with line ends or non-ASCII "
                           "text is not supported by this client")
        return CoiClient.quote(value)

    # -- composing and sending -----------------------------------------
    def compose(self, to, text, reply_to=None, subject=None):
        """A COI text message (coi-client-spec.md "Text Messages").
        reply_to: an email.message.Message this one answers."""
        domain = self.user.rpartition("@")[2] or "localhost"
        sender = email.utils.formataddr((self.name or "", self.user))
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = sender
        msg["To"] = ", ".join(to) if isinstance(to, (list, tuple)) else to
        msg["Subject"] = subject if subject is not None else "Chat: " + text[:40]
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = "<chat$%s@%s>" % (uuid.uuid4().hex, domain)
        msg["Chat-Version"] = "1.0"
        msg["Disposition-Notification-To"] = sender
        if reply_to is not None:
            parent = str(reply_to["Message-ID"]).strip()
            refs = str(reply_to.get("References", "")).split()
            first = refs[0] if refs else parent
            msg["References"] = first if first == parent else first + " " + parent
            msg["In-Reply-To"] = parent
        msg.set_content(text, subtype="plain", charset="utf-8")
        msg.replace_header("Content-Type",
                           'text/plain; charset="utf-8"; format="flowed"')
        return msg

    def send(self, msg):
        host, port = self.smtp_addr
        if self.tls:
            smtp = smtplib.SMTP_SSL(host, port, context=self._ssl_context())
        else:
            smtp = smtplib.SMTP(host, port)
        try:
            if self.starttls:
                smtp.starttls(context=self._ssl_context())
            smtp.login(self.user, self.password)
            smtp.send_message(msg)
        finally:
            smtp.quit()
        return msg

    def send_chat(self, to, text, reply_to=None):
        return self.send(self.compose(to, text, reply_to=reply_to))

    # -- reading -------------------------------------------------------
    def _fetch_headers(self, mailbox):
        """[(uid, flags, headers)] of a mailbox."""
        typ, _ = self.imap.select(self.quote(mailbox))
        if typ != "OK":
            return []
        typ, data = self.imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER])")
        out = []
        for item in data or []:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode()
            uid = int(re.search(r"UID (\d+)", meta).group(1))
            flags = set(re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split())
            headers = email.message_from_bytes(item[1], policy=email.policy.default)
            out.append((uid, flags, headers))
        return out

    def _move(self, mailbox, uids, dest):
        if not uids:
            return
        self.imap.select(self.quote(mailbox))
        uidset = ",".join(str(u) for u in uids)
        if "MOVE" in self.capabilities:
            self._check(self.imap.uid("MOVE", uidset, self.quote(dest)), "MOVE")
        else:
            self._check(self.imap.uid("COPY", uidset, self.quote(dest)), "COPY")
            self.imap.uid("STORE", uidset, "+FLAGS.SILENT", "(\\Deleted)")
            self.imap.expunge()

    def sync(self):
        """Plain mode: file new INBOX messages as the client spec's
        "Manual Message Filtering" says. Extended mode: the server does it;
        nothing to do. Returns the number of messages moved."""
        if self.extended:
            return 0
        # the folders it files into (a sync before setup)
        self.setup()
        blocked = self.blocked_hashes()
        to_blocked, to_chats, to_sent, mark_seen = [], [], [], []
        me = self.user.lower()
        for uid, flags, headers in self._fetch_headers("INBOX"):
            if any(address_hash(a) in blocked
                   for a in header_addresses(headers)):
                to_blocked.append(uid)
                continue
            if self.filter_mode == "none":
                continue
            sender = email.utils.parseaddr(str(headers.get("From", "")))[1].lower()
            rcpts = [a.lower() for _, a in email.utils.getaddresses(
                [str(headers.get("To", "")), str(headers.get("Cc", ""))])]
            chat = is_chat_message(headers)
            if sender == me and me not in rcpts:
                # a copy of our own message to others
                mark_seen.append(uid)
                (to_chats if chat and self.filter_mode != "none" else to_sent).append(uid)
            elif chat and (self.filter_mode == "active" or
                           (self.filter_mode == "seen" and "\\Seen" in flags)):
                to_chats.append(uid)
        if mark_seen:
            self.imap.uid("STORE", ",".join(map(str, mark_seen)),
                          "+FLAGS.SILENT", "(\\Seen)")
        if to_chats:
            # coi-server-spec: a chat carries $Chat; in plain mode the
            # client sets it, as a COI server would at delivery
            self.imap.uid("STORE", ",".join(map(str, to_chats)),
                          "+FLAGS.SILENT", "(%s)" % CHAT_KEYWORD)
        if to_blocked:
            self._create(BLOCKED_FOLDER, subscribe=True)
        self._move("INBOX", to_blocked, BLOCKED_FOLDER)
        self._move("INBOX", to_chats, self.chats)
        self._move("INBOX", to_sent, "Sent")
        return len(to_blocked) + len(to_chats) + len(to_sent)

    # -- contacts and blocking -----------------------------------------
    def _create(self, box, subscribe=False):
        typ, data = self.imap.create(self.quote(box))
        if typ != "OK" and b"EXISTS" not in (data[0] or b"").upper():
            raise CoiError("CREATE %s failed: %s" % (box, data))
        if typ == "OK" and subscribe:
            self.imap.subscribe(self.quote(box))

    def contacts_list(self):
        """[(uid, set of COI-From-Hash values, blocked)] of COI/Contacts."""
        return [(uid, {str(v).strip().lower()
                       for v in h.get_all("COI-From-Hash", [])},
                 h.get("COI-Blocked") is not None)
                for uid, _, h in self._fetch_headers(self.contacts)]

    def blocked_hashes(self):
        return set().union(*[hashes for _, hashes, blocked
                             in self.contacts_list() if blocked] or [set()])

    def contact_message(self, address, blocked):
        """A new contact storage message (coi-client-spec.md "Contact
        Storage Messages") for one address."""
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = self.user
        msg["Subject"] = "Contact"
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = "<contact.%s@%s>" % (
            uuid.uuid4().hex, self.user.rpartition("@")[2] or "localhost")
        msg["Chat-Content"] = "contact"
        msg["COI-From-Hash"] = address_hash(address)
        if blocked:
            msg["COI-Blocked"] = "yes"
        msg.set_content('<p class="h-card"><a class="u-email p-name" '
                        'href="mailto:%s">%s</a></p>' % (address, address),
                        subtype="html", charset="utf-8")
        return msg.as_bytes()

    def _replace_contact(self, uid, message):
        """Updates a contact as the spec says: APPEND, then EXPUNGE."""
        self._check(self.imap.append(self.quote(self.contacts), None, None,
                                     message), "APPEND contact")
        if uid is not None:
            self.imap.select(self.quote(self.contacts))
            self.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            self._check(self.imap.uid("EXPUNGE", str(uid)), "UID EXPUNGE")

    def _raw(self, mailbox, uid):
        self.imap.select(self.quote(mailbox))
        typ, data = self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        return next(item[1] for item in data if isinstance(item, tuple))

    def set_blocked(self, address, blocked):
        """Blocks or unblocks address; returns the number of contact
        messages written."""
        want = address_hash(address)
        changed = found = 0
        for uid, hashes, is_blocked in self.contacts_list():
            if want not in hashes:
                continue
            found += 1
            if is_blocked == blocked:
                continue
            raw = without_header(self._raw(self.contacts, uid), "COI-Blocked")
            if blocked:
                raw = b"COI-Blocked: yes\r\n" + raw
            self._replace_contact(uid, raw)
            changed += 1
        if blocked and not found:
            self._replace_contact(None, self.contact_message(address, True))
            changed += 1
        return changed

    def block(self, address):
        return self.set_blocked(address, True)

    def unblock(self, address):
        return self.set_blocked(address, False)

    def list_messages(self, mailbox):
        """[(uid, from, subject, message-id, is_chat)] in mailbox."""
        return [(uid, str(h.get("From", "")), str(h.get("Subject", "")),
                 str(h.get("Message-ID", "")).strip(), is_chat_message(h))
                for uid, _, h in self._fetch_headers(mailbox)]

    def list_chats(self):
        """Chats wherever the filter mode keeps them."""
        chats = [("INBOX",) + m for m in self.list_messages("INBOX") if m[4]]
        if self.filter_mode != "none":
            chats += [(self.chats,) + m for m in self.list_messages(self.chats)]
        return chats

    def read(self, mailbox, uid):
        """The message as email.message.Message; sets \\Seen like any
        client reading it (which, in seen mode, files a chat)."""
        self.imap.select(self.quote(mailbox))
        typ, data = self.imap.uid("FETCH", str(uid), "(BODY[])")
        for item in data or []:
            if isinstance(item, tuple):
                return email.message_from_bytes(item[1], policy=email.policy.default)
        raise CoiError("no message with UID %s in %s" % (uid, mailbox))

    def wait_for(self, mailbox, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            typ, data = self.imap.status(self.quote(mailbox), "(MESSAGES)")
            if typ == "OK":
                n = int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
                if n >= count:
                    return n
            time.sleep(0.2)
        return None


class UsageError(Exception):
    pass


def parse_hostport(value, default_host, default_port):
    """HOST[:PORT] (an IPv6 address in brackets); either part may be
    missing."""
    if not value:
        return default_host, default_port
    m = re.match(r"^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$", value)
    if not m:
        raise UsageError("%r is not HOST[:PORT]" % value)
    host = m.group(1) or m.group(2) or default_host
    port = int(m.group(3)) if m.group(3) else default_port
    if not 0 < port < 65536:
        raise UsageError("%r: the port must be 1-65535" % value)
    return host, port


def build_parser():
    p = argparse.ArgumentParser(
        prog="coi-client", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 success (check: no MUST failed), 1 a command "
               "or a MUST check failed, 2 wrong arguments, 3 could not "
               "connect or log in.")
    p.add_argument("--version", action="version",
                   version="coi-client %s" % __version__)
    p.add_argument("--user", required=True,
                   help="the account's address (and login name)")
    p.add_argument("--password",
                   help="default: $COI_PASSWORD, else asked for on the "
                        "terminal")
    p.add_argument("--imap", metavar="HOST[:PORT]",
                   help="default host: the domain of --user; default port "
                        "993 with --tls, else 143")
    p.add_argument("--smtp", metavar="HOST[:PORT]",
                   help="default host: the IMAP host; default port 465 "
                        "with --tls, else 587")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--tls", action="store_true",
                     help="implicit TLS on both (default ports 993, 465)")
    tls.add_argument("--starttls", action="store_true",
                     help="STARTTLS on both (default ports 143, 587)")
    p.add_argument("--cafile", metavar="PEM",
                   help="trust these certificates instead of the system's "
                        "(e.g. ./run's .run/tls/cert.pem)")
    p.add_argument("--filter", choices=FILTER_MODES, default="active",
                   help="the message filter setup and sync use")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (check: the report)")
    p.add_argument("--timeout", type=float, default=20, metavar="SECS",
                   help="how long check waits for each delivery")
    p.add_argument("--debug", action="store_true",
                   help="tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="a conformance report of the server "
                                 "(cleans up after itself)")
    sub.add_parser("setup", help="enable COI or create the COI folders")
    s = sub.add_parser("send", help="send a chat message")
    s.add_argument("to")
    s.add_argument("text")
    sub.add_parser("sync", help="file new chats (plain mode)")
    sub.add_parser("list", help="list chats")
    b = sub.add_parser("block", help="block a contact")
    b.add_argument("address")
    b = sub.add_parser("unblock", help="unblock a contact")
    b.add_argument("address")
    return p


def client_from_args(args):
    if not address_is_valid(args.user):
        raise UsageError("--user %r is not an address (user@domain)" %
                         args.user)
    domain = args.user.rpartition("@")[2]
    imap = parse_hostport(args.imap, domain, 993 if args.tls else 143)
    smtp = parse_hostport(args.smtp, imap[0], 465 if args.tls else 587)
    password = args.password
    if password is None:
        password = os.environ.get("COI_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError("no password: give --password or set "
                             "COI_PASSWORD")
        password = getpass.getpass("password for %s: " % args.user)
    return CoiClient(imap, smtp, args.user, password, tls=args.tls,
                     starttls=args.starttls, cafile=args.cafile,
                     filter_mode=args.filter)


def connect_error(client, error):
    """One line for a failed connection or login, with what to try."""
    host, port = client.imap_addr
    where = "%s:%d" % (host, port)
    if isinstance(error, ssl.SSLCertVerificationError):
        return ("the certificate of %s is not trusted (%s); give the CA with "
                "--cafile" % (where, error.verify_message))
    if isinstance(error, ssl.SSLError):
        return ("TLS with %s failed (%s); is it the right port for %s?" % (
            where, error.reason or error,
            "--tls" if client.tls else "--starttls"))
    if isinstance(error, socket.gaierror):
        return "cannot resolve %s; give the server with --imap HOST" % host
    if isinstance(error, ConnectionRefusedError):
        return ("connection to %s refused; check --imap (and --tls or "
                "--starttls for the port)" % where)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return ("no answer from %s within %ss; is it the right port for %s?"
                % (where, socket.getdefaulttimeout(),
                   "--tls" if client.tls else "--starttls"
                   if client.starttls else "plain IMAP"))
    if isinstance(error, (imaplib.IMAP4.error, EOFError)) and \
            client.imap is None:
        # before login: the greeting or the first CAPABILITY
        return ("%s did not answer as an IMAP server would (%s); check "
                "--imap" % (where, error))
    if isinstance(error, imaplib.IMAP4.error):
        text = str(error).strip("b'\"")
        if "STARTTLS" in text.upper() and client.starttls:
            return "%s does not offer STARTTLS: %s" % (where, text)
        return ("login as %s at %s failed: %s; check --user and the "
                "password" % (client.user, where, text))
    return "cannot connect to %s: %s" % (where, error)


def run_command(client, args, out):
    if args.command == "check":
        from coicheck import run_check
        report = run_check(client, timeout=args.timeout)
        out(json.dumps(report.as_dict(), indent=2) if args.json
            else report.format_text())
        return EXIT_FAILED if report.must_failed else EXIT_OK
    if args.command == "setup":
        client.setup()
        result = {"mode": client.mode, "filter": client.filter_mode}
        text = "%s mode, filter %s" % (client.mode, client.filter_mode)
    elif args.command == "send":
        rcpts = [a.strip() for a in args.to.split(",")]
        bad = [a for a in rcpts if not address_is_valid(a)]
        if bad:
            raise UsageError("not an address: %r" % bad[0])
        if not args.text:
            raise UsageError("nothing to send: the text is empty")
        msg = client.send_chat(rcpts, args.text)
        result = {"message-id": str(msg["Message-ID"])}
        text = "sent %s" % msg["Message-ID"]
    elif args.command == "sync":
        n = client.sync()
        result = {"filed": n}
        text = ("filed %d messages" % n if not client.extended else
                "nothing to do: the COI server files chats at delivery")
    elif args.command in ("block", "unblock"):
        if not address_is_valid(args.address):
            raise UsageError("not an address: %r" % args.address)
        client.setup()
        blocked = args.command == "block"
        known = any(address_hash(args.address) in hashes
                    for _, hashes, _ in client.contacts_list())
        n = client.set_blocked(args.address, blocked)
        result = {"address": args.address, "blocked": blocked,
                  "contact-messages-written": n}
        if n:
            text = "%sed %s (%d contact messages written)" % (
                args.command, args.address, n)
        elif blocked:
            text = "%s was already blocked" % args.address
        elif known:
            text = "%s was not blocked" % args.address
        else:
            text = "%s was not blocked: no contact for it" % args.address
    elif args.command == "list":
        chats = client.list_chats()
        result = [{"mailbox": box, "uid": uid, "from": frm, "subject": subj,
                   "message-id": mid} for box, uid, frm, subj, mid, _ in chats]
        text = "\n".join("%s\t%s\t%s\t%s" % (c["mailbox"], c["uid"],
                                              c["from"], c["subject"])
                         for c in result)
    out(json.dumps(result, indent=2) if args.json else text)
    return EXIT_OK


def main(argv=None, out=print):
    args = build_parser().parse_args(argv)

    def fail(code, message):
        if args.debug:
            raise
        print("coi-client: %s" % message, file=sys.stderr)
        return code

    socket.setdefaulttimeout(max(30.0, args.timeout))
    try:
        client = client_from_args(args)
    except UsageError as e:
        print("coi-client: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    try:
        client.connect()
    except (OSError, imaplib.IMAP4.error, EOFError) as e:
        message = connect_error(client, e)
        client.close()
        return fail(EXIT_CONNECT, message)
    try:
        return run_command(client, args, out)
    except UsageError as e:
        return fail(EXIT_USAGE, str(e))
    except smtplib.SMTPAuthenticationError as e:
        return fail(EXIT_CONNECT, "SMTP login as %s at %s:%d failed: %s" % (
            client.user, *client.smtp_addr, e.smtp_error.decode(
                errors="replace")))
    except smtplib.SMTPRecipientsRefused as e:
        return fail(EXIT_FAILED, "the SMTP server refused %s" % ", ".join(
            "%s (%s)" % (a, r[1].decode(errors="replace"))
            for a, r in e.recipients.items()))
    except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected,
            smtplib.SMTPResponseException) as e:
        code = getattr(e, "smtp_code", None)
        if code in (None, -1):
            return fail(EXIT_FAILED, "%s:%d did not answer as an SMTP server "
                        "would; check --smtp" % client.smtp_addr)
        return fail(EXIT_FAILED, "sending at %s:%d failed: %s %s" % (
            *client.smtp_addr, code, e.smtp_error.decode(errors="replace")))
    except smtplib.SMTPException as e:
        return fail(EXIT_FAILED, "sending at %s:%d failed: %s" % (
            *client.smtp_addr, e))
    except (OSError, ssl.SSLError) as e:
        return fail(EXIT_FAILED, "%s (SMTP %s:%d, IMAP %s:%d)" % (
            e, *client.smtp_addr, *client.imap_addr))
    except (CoiError, imaplib.IMAP4.error) as e:
        return fail(EXIT_FAILED, str(e))
    except Exception as e:  # noqa: BLE001 - a server answering oddly
        return fail(EXIT_FAILED, "unexpected %s: %s (--debug shows where)" % (
            type(e).__name__, e))
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
