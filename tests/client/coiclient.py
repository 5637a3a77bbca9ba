"""A reference COI client (coi-client-spec.md) on Python's standard library.

It works against any IMAP/SMTP server:

- extended mode, when the server advertises COI: COI is enabled and the
  message filter set through METADATA; the server files chats.
- plain mode, on any other server: the client creates COI/Chats and
  COI/Contacts itself and files chats out of INBOX on every sync, as the
  client spec's "Manual Message Filtering" describes.

Client developers can use it as an interoperability tool:

    coi-client --imap HOST:PORT --smtp HOST:PORT --user U --password P check
    coi-client ... send bob@example.org "hello"
    coi-client ... sync
    coi-client ... list
"""

import argparse
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

COI_CONFIG = "/private/vendor/vendor.dovecot/coi/config"
COI_ENABLED = COI_CONFIG + "/enabled"
COI_MAILBOX_ROOT = COI_CONFIG + "/mailbox-root"
COI_MESSAGE_FILTER = COI_CONFIG + "/message-filter"
FILTER_MODES = ("none", "active", "seen")
CHAT_KEYWORD = "$Chat"

for _cmd in ("GETMETADATA", "SETMETADATA", "MOVE", "IDLE", "ENABLE"):
    imaplib.Commands.setdefault(_cmd, ("AUTH", "SELECTED"))

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


def parse_hostport(value, default_port):
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    return host, int(port)


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
        result = {}
        for item in data:
            if isinstance(item, tuple):
                # b'"" (/entry {N}', b'value'
                entry = item[0].decode().split("(")[-1].split()[0]
                result[entry] = item[1].decode()
            elif item:
                for entry, value in re.findall(
                        r'(/[^\s()]+) (NIL|"[^"]*"|[^\s()]+)', item.decode()):
                    result[entry] = None if value == "NIL" else value.strip('"')
        return result

    def setmetadata(self, entry, value):
        val = "NIL" if value is None else '"%s"' % value
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
                typ, data = self.imap.create(self._quote(box))
                if typ != "OK" and b"ALREADYEXISTS" not in data[0].upper() \
                        and b"EXISTS" not in data[0].upper():
                    raise CoiError("CREATE %s failed: %s" % (box, data))
                if subscribe:
                    self.imap.subscribe(self._quote(box))

    @staticmethod
    def _quote(name):
        return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')

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
        typ, _ = self.imap.select(self._quote(mailbox))
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
        self.imap.select(self._quote(mailbox))
        uidset = ",".join(str(u) for u in uids)
        if "MOVE" in self.capabilities:
            self._check(self.imap.uid("MOVE", uidset, self._quote(dest)), "MOVE")
        else:
            self._check(self.imap.uid("COPY", uidset, self._quote(dest)), "COPY")
            self.imap.uid("STORE", uidset, "+FLAGS.SILENT", "(\\Deleted)")
            self.imap.expunge()

    def sync(self):
        """Plain mode: file new INBOX messages as the client spec's
        "Manual Message Filtering" says. Extended mode: the server does it;
        nothing to do. Returns the number of messages moved."""
        if self.extended or self.filter_mode == "none":
            return 0
        to_chats, to_sent, mark_seen = [], [], []
        me = self.user.lower()
        for uid, flags, headers in self._fetch_headers("INBOX"):
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
        self._move("INBOX", to_chats, self.chats)
        self._move("INBOX", to_sent, "Sent")
        return len(to_chats) + len(to_sent)

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
        self.imap.select(self._quote(mailbox))
        typ, data = self.imap.uid("FETCH", str(uid), "(BODY[])")
        for item in data or []:
            if isinstance(item, tuple):
                return email.message_from_bytes(item[1], policy=email.policy.default)
        raise CoiError("no message with UID %s in %s" % (uid, mailbox))

    def wait_for(self, mailbox, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            typ, data = self.imap.status(self._quote(mailbox), "(MESSAGES)")
            if typ == "OK":
                n = int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
                if n >= count:
                    return n
            time.sleep(0.2)
        return None

    # -- interoperability check ----------------------------------------
    def check(self, timeout=20):
        """[(feature, result, detail)] of what the server supports, with
        each filter mode tried end to end on this account."""
        rows = []
        for cap in ("COI", "WEBPUSH", "METADATA", "IDLE", "MOVE"):
            rows.append((cap, "yes" if cap in self.capabilities else "no", ""))
        rows.append(("mode", self.mode,
                     "server files chats" if self.extended else
                     "this client files chats"))
        if not self.extended:
            return rows
        saved = self.getmetadata(COI_CONFIG, depth=1)
        rows.append(("mailbox-root", saved.get(COI_MAILBOX_ROOT, "?"), ""))
        try:
            for mode in FILTER_MODES:
                rows.append(("filter " + mode,) + self._check_mode(mode, timeout))
        finally:
            self.setmetadata(COI_MESSAGE_FILTER, saved.get(COI_MESSAGE_FILTER))
            self.setmetadata(COI_ENABLED, saved.get(COI_ENABLED))
        return rows

    def _locate(self, msgid):
        for box in ("INBOX", self.chats):
            for uid, flags, h in self._fetch_headers(box):
                if str(h.get("Message-ID", "")).strip() == msgid:
                    return box, uid, flags
        return None, None, None

    def _check_mode(self, mode, timeout):
        self.setup(mode)
        msg = self.send(self.compose(self.user, "check %s" % mode,
                                     subject="COI check %s" % mode))
        msgid = str(msg["Message-ID"])
        deadline = time.time() + timeout
        box = None
        while box is None and time.time() < deadline:
            box, uid, flags = self._locate(msgid)
            if box is None:
                time.sleep(0.3)
        if box is None:
            return ("FAIL", "test chat never arrived")
        want = self.chats if mode == "active" else "INBOX"
        if box != want:
            return ("FAIL", "chat landed in %s, expected %s" % (box, want))
        if CHAT_KEYWORD not in flags:
            return ("FAIL", "no %s keyword" % CHAT_KEYWORD)
        if mode == "seen":
            self.read("INBOX", uid)
            box2 = None
            deadline = time.time() + timeout
            while time.time() < deadline:
                box2, _, _ = self._locate(msgid)
                if box2 == self.chats:
                    break
                time.sleep(0.3)
            if box2 != self.chats:
                return ("FAIL", "read chat stayed in %s" % box2)
            return ("ok", "INBOX, then %s once read" % self.chats)
        return ("ok", "delivered to %s with %s" % (box, CHAT_KEYWORD))


def format_table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in rows)


def main(argv=None):
    p = argparse.ArgumentParser(prog="coi-client", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--imap", default="127.0.0.1:1143", help="HOST:PORT")
    p.add_argument("--smtp", default="127.0.0.1:1025", help="HOST:PORT")
    p.add_argument("--user", required=True)
    p.add_argument("--password", default="pass")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--tls", action="store_true",
                     help="implicit TLS on both (default ports 993, 465)")
    tls.add_argument("--starttls", action="store_true",
                     help="STARTTLS on both (default ports 143, 587)")
    p.add_argument("--cafile", metavar="PEM",
                   help="trust these certificates instead of the system's "
                        "(e.g. ./run's .run/tls/cert.pem)")
    p.add_argument("--filter", choices=FILTER_MODES, default="active")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="report what the server supports")
    sub.add_parser("setup", help="enable COI or create the COI folders")
    s = sub.add_parser("send", help="send a chat message")
    s.add_argument("to")
    s.add_argument("text")
    sub.add_parser("sync", help="file new chats (plain mode)")
    sub.add_parser("list", help="list chats")
    args = p.parse_args(argv)

    client = CoiClient(parse_hostport(args.imap, 993 if args.tls else 143),
                       parse_hostport(args.smtp,
                                      465 if args.tls else
                                      587 if args.starttls else 25),
                       args.user, args.password, tls=args.tls,
                       starttls=args.starttls, cafile=args.cafile,
                       filter_mode=args.filter)
    with client:
        if args.command == "check":
            print(format_table([("feature", "result", "detail")] + client.check()))
        elif args.command == "setup":
            client.setup()
            print("%s mode, filter %s" % (client.mode, client.filter_mode))
        elif args.command == "send":
            msg = client.send_chat(args.to, args.text)
            print("sent %s" % msg["Message-ID"])
        elif args.command == "sync":
            print("filed %d messages" % client.sync())
        elif args.command == "list":
            for box, uid, frm, subj, mid, _ in client.list_chats():
                print("%s\t%s\t%s\t%s" % (box, uid, frm, subj))
    return 0


if __name__ == "__main__":
    sys.exit(main())
