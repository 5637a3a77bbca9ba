"""coi-client check: what an IMAP/SMTP server supports of COI, and whether
it does it right, as a conformance report.

Every check has an id, a level (MUST, SHOULD or MAY, from the specs in
coi-server-spec.md, webpush-spec.md and coi-client-spec.md, with the section
it comes from), a result (pass, fail or skip, a skip always with its reason)
and a detail of what was observed. Features the server claims are exercised
end to end on the account: filing in each filter mode (with test messages
the account sends itself), the seen move, blocking, WebPush with a local
push receiver on loopback, Delta Chat's entries. On a server without COI
the client-side behaviour of plain mode is checked instead. Everything the
check creates is removed again and the COI configuration restored; the
last check (cleanup) says whether that worked.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import re
import threading
import time
import uuid

from coiclient import (BLOCKED_FOLDER, CHAT_KEYWORD, COI_CONFIG, COI_ENABLED,
                       COI_MAILBOX_ROOT, COI_MESSAGE_FILTER, CoiError,
                       address_hash)

LEVELS = ("MUST", "SHOULD", "MAY")
RESULTS = ("pass", "fail", "skip")

SERVER_SPEC = "coi-server-spec.md"
WEBPUSH_SPEC = "webpush-spec.md"
CLIENT_SPEC = "coi-client-spec.md"
# not in the COI specs: what Delta Chat (chatmail) servers offer
DELTACHAT = "Delta Chat server extensions"

WEBPUSH_PREFIX = "/private/vendor/vendor.dovecot/webpush"
WEBPUSH_VAPID = WEBPUSH_PREFIX + "/vapid"
WEBPUSH_SUBSCRIPTIONS = WEBPUSH_PREFIX + "/subscriptions"
DEVICETOKEN = "/private/devicetoken"
DELTACHAT_ENTRIES = ("/shared/vendor/deltachat/irohrelay",
                     "/shared/vendor/deltachat/turn",
                     "/shared/vendor/deltachat/maxsmtprecipients")

# RFC 8291 Appendix A's user agent keys: a valid p256dh when the optional
# python3-cryptography is missing (then pushes arrive but are not read)
RFC8291_UA_PUBLIC = ("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvT"
                     "BHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
RFC8291_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"

RECOMMENDED_CAPABILITIES = (
    # (capability, what it is for), coi-server-spec "Recommended Standards"
    ("IDLE", "new messages without polling (RFC 2177)"),
    ("NOTIFY", "new messages in several mailboxes (RFC 5465)"),
    ("BINARY", "less traffic (RFC 3516)"),
    ("SEARCHRES", "efficient sync (RFC 5182)"),
    ("ESORT", "efficient sync (RFC 5267)"),
    ("CONDSTORE", "quick flag resync (RFC 7162)"),
    ("QRESYNC", "quick mailbox resync (RFC 7162)"),
)


class Check:
    def __init__(self, check_id, level, spec, result, detail):
        assert level in LEVELS and result in RESULTS
        self.id = check_id
        self.level = level
        self.spec = spec
        self.result = result
        self.detail = detail

    def as_dict(self):
        return {"id": self.id, "level": self.level, "spec": self.spec,
                "result": self.result, "detail": self.detail}


class Report:
    def __init__(self, server, user):
        self.server = server
        self.user = user
        self.mode = None
        self.checks = []

    def add(self, check_id, level, spec, result, detail):
        self.checks.append(Check(check_id, level, spec, result, detail))
        return result == "pass"

    def passed(self, check_id, level, spec, ok, detail_ok, detail_fail):
        return self.add(check_id, level, spec, "pass" if ok else "fail",
                        detail_ok if ok else detail_fail)

    def skip(self, check_id, level, spec, reason):
        self.add(check_id, level, spec, "skip", reason)

    def counts(self):
        return {r: sum(1 for c in self.checks if c.result == r)
                for r in RESULTS}

    @property
    def must_failed(self):
        return [c for c in self.checks
                if c.level == "MUST" and c.result == "fail"]

    def as_dict(self):
        return {"server": self.server, "user": self.user, "mode": self.mode,
                "checks": [c.as_dict() for c in self.checks],
                "summary": dict(self.counts(),
                                must_failed=len(self.must_failed))}

    def format_text(self):
        lines = ["coi-client check of %s as %s: %s mode" % (
            self.server, self.user, self.mode)]
        width = max([len(c.id) for c in self.checks] + [10])
        for c in self.checks:
            lines.append("  %-4s  %-6s  %-*s  %s" % (
                c.result.upper(), c.level, width, c.id, c.detail))
            lines.append("  %-4s  %-6s  %-*s  (%s)" % ("", "", width, "",
                                                       c.spec))
        counts = self.counts()
        lines.append("%d passed, %d failed, %d skipped; %s" % (
            counts["pass"], counts["fail"], counts["skip"],
            "%d MUST failed" % len(self.must_failed) if self.must_failed
            else "no MUST failed"))
        return "\n".join(lines)


def section(spec, title):
    return '%s "%s"' % (spec, title)


# -- a local push service (RFC 8030) on loopback ---------------------------

class PushReceiver:
    """Records the POSTs of the server's push requests; answers 201."""

    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.cond:
                    receiver.requests.append(
                        (self.path, {k.lower(): v for k, v
                                     in self.headers.items()}, body))
                    receiver.cond.notify_all()
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_port, path)

    def wait(self, path, count, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if r[0] == path]
                if len(got) >= count or time.time() >= deadline:
                    return got
                self.cond.wait(max(0.05, deadline - time.time()))


def b64u_decode(text):
    text = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64u_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushKeys:
    """The subscription's keys; decrypts RFC 8291 pushes when the optional
    python3-cryptography is there."""

    def __init__(self):
        try:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:
            self.private = None
            self.p256dh = RFC8291_UA_PUBLIC
            self.auth = RFC8291_AUTH
            return
        self._ec, self._aesgcm = ec, AESGCM
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.public_raw = self.private.public_key().public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint)
        self.p256dh = b64u_encode(self.public_raw)
        self.auth_raw = os.urandom(16)
        self.auth = b64u_encode(self.auth_raw)

    @property
    def can_decrypt(self):
        return self.private is not None

    def decrypt(self, body):
        """The plaintext of an aes128gcm body (RFC 8188, RFC 8291)."""
        salt, idlen = body[:16], body[20]
        as_public = body[21:21 + idlen]
        ciphertext = body[21 + idlen:]
        peer = self._ec.EllipticCurvePublicKey.from_encoded_point(
            self._ec.SECP256R1(), as_public)
        ecdh = self.private.exchange(self._ec.ECDH(), peer)

        def hmac256(key, data):
            return hmac.new(key, data, hashlib.sha256).digest()

        ikm = hmac256(hmac256(self.auth_raw, ecdh),
                      b"WebPush: info\0" + self.public_raw + as_public +
                      b"\x01")
        prk = hmac256(salt, ikm)
        cek = hmac256(prk, b"Content-Encoding: aes128gcm\0\x01")[:16]
        nonce = hmac256(prk, b"Content-Encoding: nonce\0\x01")[:12]
        padded = self._aesgcm(cek).decrypt(nonce, ciphertext, None)
        return padded.rstrip(b"\0")[:-1]


def vapid_point(pem):
    """The 65-octet public point of a P-256 key in PEM (the last octets of
    its SubjectPublicKeyInfo), or None."""
    m = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----",
                  pem, re.S)
    if not m:
        return None
    try:
        der = base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError:
        return None
    point = der[-65:]
    return point if len(point) == 65 and point[0] == 4 else None


# -- the checks ------------------------------------------------------------

class Checker:
    def __init__(self, client, report, timeout):
        self.c = client
        self.report = report
        self.timeout = timeout
        self.sent_ids = []          # Message-IDs of messages we made
        self.created_boxes = []     # mailboxes that did not exist before
        self.saved_config = None
        self.subscriptions = []     # WebPush subscription entries
        self.subscribed_before = set()

    # -- IMAP helpers --------------------------------------------------
    def command(self, name, *args):
        """(ok, text) of a command: NO and BAD are answers, not errors."""
        typ, data = self.c.imap._simple_command(name, *args)
        text = " ".join(d.decode(errors="replace") if isinstance(d, bytes)
                        else str(d) for d in data or [] if d)
        # Dovecot's timing suffix says nothing about conformance
        text = re.sub(r"\s*\(\d+\.\d+(?: \+ \d+\.\d+)* secs\)\.?$", "", text)
        return typ == "OK", text

    def set_entry(self, entry, value, mailbox=""):
        """(ok, the server's answer text) of a SETMETADATA."""
        val = "NIL" if value is None else self.c.imap_string(value)
        return self.command("SETMETADATA", self.c.quote(mailbox),
                            "(%s %s)" % (entry, val))

    def mailboxes(self):
        typ, data = self.c.imap.list('""', "*")
        out = {}
        for line in data or []:
            if not isinstance(line, bytes):
                continue
            m = re.match(rb'\(([^)]*)\) (?:"(?:\\.|[^"])*"|NIL) (.*)$', line)
            if not m:
                continue
            name = m.group(2).decode()
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out[name] = m.group(1).decode().lower()
        return out

    def locate(self, msgid):
        """[(mailbox, uid, flags)] of every copy of msgid."""
        found = []
        for box, attrs in self.mailboxes().items():
            if "\\noselect" in attrs or "\\nonexistent" in attrs:
                continue
            if self.c.imap.select(self.c.quote(box), readonly=True)[0] != "OK":
                continue
            typ, data = self.c.imap.uid("SEARCH", "HEADER", "Message-ID",
                                        self.c.imap_string(msgid))
            uids = data[0].split() if typ == "OK" and data[0] else []
            for uid in uids:
                typ, fdata = self.c.imap.uid("FETCH", uid, "(FLAGS)")
                flags = re.search(rb"FLAGS \(([^)]*)\)", fdata[0] or b"")
                found.append((box, int(uid), set(
                    flags.group(1).decode().split()) if flags else set()))
        return found

    def wait_located(self, msgid, want=None, timeout=None):
        """Polls until msgid is somewhere (in want, if given)."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            found = self.locate(msgid)
            if found and (want is None or any(b == want for b, _, _ in found)):
                return found
            if time.time() >= deadline:
                return found
            time.sleep(0.3)

    def send_self(self, subject, chat=True, references=None):
        """A test message from the account to itself (a chat, or an
        ordinary mail with the References given); its Message-ID."""
        msg = self.c.compose(self.c.user, subject, subject=subject)
        if not chat:
            del msg["Chat-Version"]
            msg.replace_header("Message-ID", "<coi-check.%s@%s>" % (
                uuid.uuid4().hex, self.domain))
            if references:
                msg["References"] = references
        self.sent_ids.append(str(msg["Message-ID"]))
        self.c.send(msg)
        return str(msg["Message-ID"])

    @property
    def domain(self):
        return self.c.user.rpartition("@")[2] or "localhost"

    def expunge(self, msgid):
        """Removes every copy of msgid: (removed, [mailboxes that
        refused])."""
        c, removed, failed = self.c, 0, []
        for box, uid, _ in self.locate(msgid):
            c.imap.select(c.quote(box))
            c.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            if "UIDPLUS" in c.capabilities:
                ok = c.imap.uid("EXPUNGE", str(uid))[0] == "OK"
            else:
                ok = c.imap.expunge()[0] == "OK"
            if ok:
                removed += 1
            else:
                failed.append(box)
        return removed, failed

    def describe(self, found):
        if not found:
            return "nowhere (not delivered within %ss)" % self.timeout
        return ", ".join("%s (flags: %s)" % (b, " ".join(sorted(f)) or "none")
                         for b, _, f in found)

    # -- capabilities ---------------------------------------------------
    def capabilities(self):
        r, caps = self.report, self.c.capabilities
        spec = section(SERVER_SPEC, "COI Capability")
        if "COI" in caps:
            r.add("capability.coi", "MUST", spec, "pass",
                  "COI advertised after login: extended mode")
            r.passed("capability.webpush", "MUST", spec, "WEBPUSH" in caps,
                     "WEBPUSH advertised", "COI without WEBPUSH")
        else:
            r.skip("capability.coi", "MUST", spec,
                   "no COI capability: not a COI server; the client files "
                   "chats itself (plain mode), COI server checks skipped")
            r.skip("capability.webpush", "MUST", spec, "not a COI server")
        spec = section(WEBPUSH_SPEC, "Capability")
        if "WEBPUSH" in caps:
            r.passed("capability.webpush-after-login", "SHOULD", spec,
                     "WEBPUSH" not in self.c.preauth_capabilities,
                     "WEBPUSH only after login",
                     "WEBPUSH advertised before login")
        else:
            r.skip("capability.webpush-after-login", "SHOULD", spec,
                   "no WEBPUSH")
        spec = section(SERVER_SPEC, "Recommended Standards")
        for cap, why in RECOMMENDED_CAPABILITIES:
            r.passed("capability." + cap.lower(), "SHOULD", spec,
                     cap in caps, "%s: %s" % (cap, why),
                     "no %s (%s)" % (cap, why))
        spec = section(DELTACHAT, "XDELTAPUSH")
        if "XDELTAPUSH" in caps:
            r.add("capability.xdeltapush", "MAY", spec, "pass",
                  "XDELTAPUSH: Delta Chat registers device tokens")
        else:
            r.skip("capability.xdeltapush", "MAY", spec,
                   "no XDELTAPUSH: Delta Chat gets no push here")

    # -- COI configuration ----------------------------------------------
    def configuration(self):
        r, c = self.report, self.c
        spec = section(SERVER_SPEC, "Getting COI Namespace Configuration")
        try:
            config = c.getmetadata(COI_CONFIG, depth=1)
        except CoiError as e:
            r.add("config.read", "MUST", spec, "fail",
                  "GETMETADATA (DEPTH 1) failed: %s" % e)
            return False
        self.saved_config = config
        root = config.get(COI_MAILBOX_ROOT)
        r.passed("config.read", "MUST", spec, bool(root),
                 "GETMETADATA (DEPTH 1): mailbox-root %s, enabled %s, "
                 "message-filter %s" % (
                     root, config.get(COI_ENABLED) or "unset",
                     config.get(COI_MESSAGE_FILTER) or "unset"),
                 "no mailbox-root in %r" % config)
        if root:
            c.root = root
        before = self.mailboxes()
        spec = section(SERVER_SPEC, "Configure COI Usage")
        for check_id, value in (("config.enabled-invalid", "true"),
                                ("config.enabled-lowercase", "YES")):
            ok, text = self.set_entry(COI_ENABLED, value)
            r.passed(check_id, "SHOULD", spec, not ok,
                     "enabled=%s refused: %s" % (value, text),
                     "enabled=%s accepted" % value)
        ok, text = self.set_entry(COI_ENABLED, "yes")
        if not ok:
            r.add("config.enable", "MUST", spec, "fail",
                  "enabled=yes refused: %s" % text)
            return False
        after = self.mailboxes()
        self.created_boxes += [b for b in after if b not in before]
        missing = [b for b in (c.chats, c.contacts) if b not in after]
        r.passed("config.enable", "MUST", spec, not missing,
                 "enabled=yes: %s and %s exist" % (c.chats, c.contacts),
                 "enabled=yes, but %s missing" % " and ".join(missing))
        typ, data = c.imap.lsub('""', c.quote(c.chats))
        subscribed = typ == "OK" and any(d for d in data if d)
        r.passed("config.chats-subscribed", "SHOULD", spec, subscribed,
                 "%s is subscribed" % c.chats, "%s is not subscribed" % c.chats)
        spec = section(SERVER_SPEC, "Configure Message Filtering")
        ok, text = self.set_entry(COI_MESSAGE_FILTER, "inactive")
        if ok:
            r.skip("config.filter-invalid", "MAY", spec,
                   "message-filter=inactive accepted (servers MAY refuse it)")
        else:
            r.add("config.filter-invalid", "MAY", spec, "pass",
                  "message-filter=inactive refused: %s" % text)
        return True

    # -- filing ----------------------------------------------------------
    def filing(self):
        r, c = self.report, self.c
        spec = section(SERVER_SPEC, "Configure Message Filtering")
        keyword_ok = []
        for mode in ("none", "active", "seen"):
            ok, text = self.set_entry(COI_MESSAGE_FILTER, mode)
            if not ok:
                r.add("filter." + mode, "MUST", spec, "fail",
                      "message-filter=%s refused: %s" % (mode, text))
                continue
            msgid = self.send_self("coi-check filter %s" % mode)
            want = c.chats if mode == "active" else "INBOX"
            found = self.wait_located(msgid, want)
            keyword_ok.append(all(CHAT_KEYWORD in f for _, _, f in found)
                              and bool(found))
            boxes = [b for b, _, _ in found]
            if boxes != [want]:
                r.add("filter." + mode, "MUST", spec, "fail",
                      "a chat was delivered to %s, expected %s only" % (
                          self.describe(found), want))
                continue
            if mode != "seen":
                r.add("filter." + mode, "MUST", spec, "pass",
                      "a chat was delivered to %s" % want)
                continue
            c.imap.select("INBOX")
            c.imap.uid("STORE", str(found[0][1]), "+FLAGS", "(\\Seen)")
            moved = self.wait_located(msgid, c.chats)
            boxes = sorted(b for b, _, _ in moved)
            if boxes == [c.chats]:
                r.add("filter.seen", "MUST", spec, "pass",
                      "a chat was delivered to INBOX and moved to %s once "
                      "\\Seen, with no copy left in INBOX" % c.chats)
            elif c.chats in boxes:
                r.add("filter.seen", "MUST", spec, "fail",
                      "the chat was copied, not moved, once \\Seen: now in "
                      "%s" % self.describe(moved))
            else:
                r.add("filter.seen", "MUST", spec, "fail",
                      "the chat stayed in %s after \\Seen" %
                      self.describe(moved))
        if keyword_ok:
            r.passed("filter.chat-keyword", "MUST", spec, all(keyword_ok),
                     "every chat delivered has %s" % CHAT_KEYWORD,
                     "a chat was delivered without %s" % CHAT_KEYWORD)
        if not self.set_entry(COI_MESSAGE_FILTER, "active")[0]:
            return
        msgid = self.send_self("coi-check plain mail", chat=False)
        found = self.wait_located(msgid, "INBOX")
        r.passed("filter.mail-untouched", "MUST", spec,
                 [(b, CHAT_KEYWORD in f) for b, _, f in found] ==
                 [("INBOX", False)],
                 "with message-filter=active an ordinary mail stays in "
                 "INBOX without %s" % CHAT_KEYWORD,
                 "an ordinary mail went to %s" % self.describe(found))
        msgid = self.send_self("coi-check reply", chat=False,
                               references="<chat$%s@%s>" % (
                                   uuid.uuid4().hex, self.domain))
        found = self.wait_located(msgid, c.chats)
        r.passed("filter.references", "MUST", spec,
                 [b for b, _, _ in found] == [c.chats],
                 "a mail whose first References id starts with chat$ is "
                 "filed as a chat", "such a mail went to %s" %
                 self.describe(found))

    # -- blocking ---------------------------------------------------------
    def blocking(self):
        """The account blocks its own address for a moment: the server
        should keep its next chat out of INBOX and Chats."""
        r, c = self.report, self.c
        spec = section(CLIENT_SPEC, "Blocking Contacts")
        contact = c.contact_message(c.user, blocked=True)
        contact_id = email.message_from_bytes(
            contact, policy=email.policy.default)["Message-ID"]
        self.sent_ids.append(str(contact_id))
        typ, data = c.imap.append(c.quote(c.contacts), None, None, contact)
        if typ != "OK":
            r.add("blocking.server", "SHOULD", spec, "fail",
                  "APPEND of a contact message to %s failed: %s" % (
                      c.contacts, data))
            return
        before = set(self.mailboxes())
        msgid = self.send_self("coi-check blocked")
        found = self.wait_located(msgid, BLOCKED_FOLDER)
        self.created_boxes += [b for b in self.mailboxes() if b not in before]
        # unblocked at once: the checks after this one send to themselves
        self.expunge(str(contact_id))
        boxes = [b for b, _, _ in found]
        if boxes == [BLOCKED_FOLDER]:
            r.add("blocking.server", "SHOULD", spec, "pass",
                  "a chat from a contact marked COI-Blocked went to %s" %
                  BLOCKED_FOLDER)
        elif not boxes:
            r.add("blocking.server", "SHOULD", spec, "pass",
                  "a chat from a contact marked COI-Blocked was not "
                  "delivered (discarded)")
        else:
            r.add("blocking.server", "SHOULD", spec, "fail",
                  "a chat from a contact marked COI-Blocked went to %s" %
                  self.describe(found))

    # -- WebPush ------------------------------------------------------------
    def webpush(self):
        r, c = self.report, self.c
        if "WEBPUSH" not in c.capabilities:
            for check_id in ("webpush.vapid", "webpush.subscribe"):
                r.skip(check_id, "MUST", WEBPUSH_SPEC, "no WEBPUSH capability")
            return
        spec = section(WEBPUSH_SPEC, "VAPID Key")
        vapid = c.getmetadata(WEBPUSH_VAPID).get(WEBPUSH_VAPID)
        point = vapid_point(vapid or "")
        r.passed("webpush.vapid", "MUST", spec, point is not None,
                 "a P-256 public key in PEM", "not a P-256 public key in "
                 "PEM: %r" % (vapid or "")[:80])
        spec = section(WEBPUSH_SPEC, "Subscribe")
        ok, text = self.set_entry(WEBPUSH_SUBSCRIPTIONS + "/short", "{}")
        r.passed("webpush.subscription-id", "MUST", spec, not ok,
                 "an ID shorter than 10 characters refused: %s" % text,
                 "an ID shorter than 10 characters accepted")
        if ok:
            self.subscriptions.append(WEBPUSH_SUBSCRIPTIONS + "/short")
        keys = PushKeys()
        sub_id = "coi-check-" + uuid.uuid4().hex[:16]
        entry = WEBPUSH_SUBSCRIPTIONS + "/" + sub_id
        with PushReceiver() as receiver:
            path = "/coi-check/" + sub_id
            subscription = json.dumps({
                "client": "coi-client check", "device": "coi-client",
                "msgtype": "all",
                "resource": {"endpoint": receiver.url(path),
                             "keys": {"p256dh": keys.p256dh,
                                      "auth": keys.auth}}})
            ok, text = self.set_entry(entry, subscription)
            if not ok:
                if re.search(r"not allowed|polic", text, re.I):
                    r.skip("webpush.subscribe", "MUST", spec,
                           "the server's push policy refuses the local "
                           "receiver's loopback endpoint: %s" % text)
                else:
                    r.add("webpush.subscribe", "MUST", spec, "fail",
                          "SETMETADATA of a subscription with a loopback "
                          "endpoint refused: %s" % text)
                return
            self.subscriptions.append(entry)
            r.add("webpush.subscribe", "MUST", spec, "pass",
                  "subscribed with the local receiver %s" % receiver.url(path))
            self.webpush_listed(entry)
            self.webpush_validation(receiver, path, entry, keys, point)
        spec = section(WEBPUSH_SPEC, "Unsubscribe")
        ok, text = self.set_entry(entry, None)
        listed = c.getmetadata(WEBPUSH_SUBSCRIPTIONS, depth=1)
        if ok:
            self.subscriptions.remove(entry)
        r.passed("webpush.unsubscribe", "MUST", spec,
                 ok and entry not in listed,
                 "NIL removed the subscription",
                 "the subscription is still there after NIL: %s" % text)

    def webpush_listed(self, entry):
        spec = section(WEBPUSH_SPEC, "List Existing Subscriptions")
        listed = self.c.getmetadata(WEBPUSH_SUBSCRIPTIONS, depth=1)
        try:
            sub = json.loads(listed.get(entry) or "")
        except ValueError:
            sub = None
        ok = (isinstance(sub, dict) and "created" in sub and
              sub.get("validated") is False)
        self.report.passed(
            "webpush.list", "MUST", spec, ok,
            "listed with created %s, validated false" % (
                (sub or {}).get("created") if ok else ""),
            "GETMETADATA (DEPTH 1) lists %r" % (listed.get(entry),))

    def webpush_validation(self, receiver, path, entry, keys, point):
        r, c = self.report, self.c
        spec = section(WEBPUSH_SPEC, "Sending a Validation Push Message")
        got = receiver.wait(path, 1, self.timeout)
        if not got:
            r.add("webpush.validation-push", "MUST", spec, "fail",
                  "no validation push within %ss" % self.timeout)
            return
        _, headers, body = got[0]
        problems = []
        if "webpush-validation" not in headers:
            problems.append("no WebPush-Validation header")
        if headers.get("content-encoding") != "aes128gcm":
            problems.append("Content-Encoding %r" %
                            headers.get("content-encoding"))
        auth = headers.get("authorization", "")
        k = re.search(r"\bk=([A-Za-z0-9_-]+)", auth)
        if not auth.startswith("vapid ") or not k:
            problems.append("Authorization is not vapid t=..., k=...")
        elif point is not None and b64u_decode(k.group(1)) != point:
            problems.append("the vapid k= is not the VAPID key")
        r.passed("webpush.validation-push", "MUST", spec, not problems,
                 "an encrypted (aes128gcm) validation push signed with "
                 "the VAPID key arrived", "; ".join(problems))
        spec = section(WEBPUSH_SPEC, "Validating A Push Subscription")
        if not keys.can_decrypt:
            for check_id in ("webpush.validate", "webpush.message-push"):
                r.skip(check_id, "MUST", spec,
                       "reading pushes needs python3-cryptography, which "
                       "is not installed")
            return
        try:
            token = json.loads(keys.decrypt(body))["validation"]
        except (ValueError, KeyError, TypeError, IndexError) as e:
            r.add("webpush.validate", "MUST", spec, "fail",
                  "the validation push does not decrypt to "
                  "{\"validation\": ...}: %s" % e)
            return
        wrong, text_wrong = self.set_entry(entry + "/validate", "ZZZ000")
        ok, text = self.set_entry(entry + "/validate", token)
        r.passed("webpush.validate", "MUST", spec, ok and not wrong,
                 "the decrypted token validates the subscription, a wrong "
                 "one is refused",
                 "validation with the token: %s; with a wrong one: %s" % (
                     text if not ok else "OK",
                     "accepted" if wrong else "refused"))
        if not ok:
            return
        spec = section(WEBPUSH_SPEC, "Push Notification Payload")
        self.set_entry(COI_MESSAGE_FILTER, "none")
        self.send_self("coi-check push")
        got = receiver.wait(path, 2, self.timeout)
        if len(got) < 2:
            r.add("webpush.message-push", "MUST", spec, "fail",
                  "no push for a delivered message within %ss" % self.timeout)
            return
        try:
            payload = json.loads(keys.decrypt(got[1][2]))
        except (ValueError, IndexError) as e:
            payload = None
            error = str(e)
        r.passed("webpush.message-push", "MUST", spec,
                 isinstance(payload, dict) and
                 payload.get("subject") == "coi-check push",
                 "a delivered message was pushed (subject, folder %s)" % (
                     (payload or {}).get("folder")),
                 "the push for a delivered message reads %r" % (
                     payload if payload is not None else error))

    # -- Delta Chat ---------------------------------------------------------
    def deltachat(self):
        r, c = self.report, self.c
        spec = section(DELTACHAT, "XDELTAPUSH")
        if "XDELTAPUSH" in c.capabilities:
            ok, text = self.set_entry(DEVICETOKEN, "not a token", "INBOX")
            r.passed("deltachat.devicetoken-validated", "MAY", spec, not ok,
                     "an invalid device token refused: %s" % text,
                     "an invalid device token (with spaces) accepted")
        else:
            r.skip("deltachat.devicetoken-validated", "MAY", spec,
                   "no XDELTAPUSH")
        spec = section(DELTACHAT, "server entries")
        if "METADATA" not in c.capabilities and \
                "METADATA-SERVER" not in c.capabilities:
            r.skip("deltachat.server-entries", "MAY", spec, "no METADATA")
            return
        try:
            entries = c.getmetadata(*DELTACHAT_ENTRIES)
        except CoiError as e:
            r.add("deltachat.server-entries", "MAY", spec, "fail",
                  "GETMETADATA of Delta Chat's entries failed: %s" % e)
            return
        problems, seen = [], []
        turn = entries.get("/shared/vendor/deltachat/turn")
        if turn:
            parts = turn.split(":", 3)
            if len(parts) != 4 or not parts[1].isdigit() or \
                    not parts[2].isdigit():
                problems.append("turn is not HOST:PORT:EXPIRY:PASSWORD")
            elif int(parts[2]) <= time.time():
                problems.append("turn credentials already expired")
            else:
                seen.append("turn %s:%s valid %.0f more hours" % (
                    parts[0], parts[1], (int(parts[2]) - time.time()) / 3600))
        relay = entries.get("/shared/vendor/deltachat/irohrelay")
        if relay:
            if re.match(r"https?://[^/\s]+", relay):
                seen.append("irohrelay %s" % relay)
            else:
                problems.append("irohrelay is not a URL")
        limit = entries.get("/shared/vendor/deltachat/maxsmtprecipients")
        if limit:
            if limit.isdigit():
                seen.append("maxsmtprecipients %s" % limit)
            else:
                problems.append("maxsmtprecipients is not a number")
        if not problems and not seen:
            r.skip("deltachat.server-entries", "MAY", spec,
                   "none of Delta Chat's server entries is set")
            return
        r.passed("deltachat.server-entries", "MAY", spec, not problems,
                 "Delta Chat reads: " + ", ".join(seen),
                 "; ".join(problems))

    # -- plain mode ---------------------------------------------------------
    def plain_mode(self):
        r, c = self.report, self.c
        spec = section(CLIENT_SPEC, "Folders")
        before = self.mailboxes()
        try:
            c.setup()
        except CoiError as e:
            r.add("plain.folders", "MUST", spec, "fail", str(e))
            return
        after = self.mailboxes()
        self.created_boxes += [b for b in after if b not in before]
        r.add("plain.folders", "MUST", spec, "pass",
              "the client can create %s and %s" % (c.chats, c.contacts))
        spec = section(CLIENT_SPEC, "Manual Message Filtering")
        c.imap.select("INBOX")
        permanent = [f for f in c.imap.response("PERMANENTFLAGS")[1] if f]
        keywords_ok = any(b"\\*" in f or CHAT_KEYWORD.encode() in f
                          for f in permanent)
        r.passed("plain.keywords", "MUST", spec, keywords_ok,
                 "the client can set %s (PERMANENTFLAGS)" % CHAT_KEYWORD,
                 "no new keywords allowed: %r" % permanent)
        msgid = self.send_self("coi-check plain filing")
        self.wait_located(msgid, "INBOX")
        c.filter_mode = "active"
        c.sync()
        found = self.locate(msgid)
        r.passed("plain.filing", "MUST", spec,
                 [(b, CHAT_KEYWORD in f) for b, _, f in found] ==
                 [(c.chats, True)],
                 "the client moved a chat to %s with %s" % (c.chats,
                                                             CHAT_KEYWORD),
                 "after the client's sync the chat is in %s" %
                 self.describe(found))
        spec = section(CLIENT_SPEC, "Blocking Contacts")
        c.block(c.user)
        contacts = [h for _, h, blocked in c.contacts_list() if blocked]
        msgid = self.send_self("coi-check plain blocked")
        self.wait_located(msgid, "INBOX")
        before = set(self.mailboxes())
        c.sync()
        self.created_boxes += [b for b in self.mailboxes() if b not in before]
        found = self.locate(msgid)
        for uid, hashes, _ in c.contacts_list():
            if address_hash(c.user) in hashes:
                c.imap.select(c.quote(c.contacts))
                c.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
                c.imap.expunge()
        r.passed("plain.blocking", "MUST", spec,
                 bool(contacts) and [b for b, _, _ in found] ==
                 [BLOCKED_FOLDER],
                 "the client marked a contact COI-Blocked and moved the "
                 "contact's chat to %s" % BLOCKED_FOLDER,
                 "after blocking and sync the chat is in %s" %
                 self.describe(found))
        spec = section(CLIENT_SPEC, "Manual Message Filtering")
        r.passed("plain.move", "SHOULD", spec, "MOVE" in c.capabilities,
                 "MOVE (RFC 6851): chats are moved atomically",
                 "no MOVE: the client copies, then expunges")

    # -- cleanup ------------------------------------------------------------
    def cleanup(self):
        c, done, problems = self.c, [], []
        for entry in list(self.subscriptions):
            if self.set_entry(entry, None)[0]:
                self.subscriptions.remove(entry)
            else:
                problems.append("subscription %s left" % entry)
        if self.saved_config is not None:
            for entry in (COI_MESSAGE_FILTER, COI_ENABLED):
                ok, text = self.set_entry(entry, self.saved_config.get(entry))
                if not ok:
                    problems.append("could not restore %s: %s" % (entry, text))
            done.append("configuration restored")
        removed = 0
        for msgid in self.sent_ids:
            n, failed = self.expunge(msgid)
            removed += n
            problems += ["could not expunge %s in %s" % (msgid, box)
                         for box in failed]
        done.append("%d test messages removed" % removed)
        c.imap.select("INBOX", readonly=True)
        deleted = []
        # children first: COI/Chats before COI
        for box in sorted(set(self.created_boxes), key=len, reverse=True):
            attrs = self.mailboxes().get(box)
            if attrs is None:
                continue
            if "\\noselect" not in attrs:
                typ, data = c.imap.status(c.quote(box), "(MESSAGES)")
                if typ != "OK" or not re.search(rb"MESSAGES 0\b",
                                                data[0] or b""):
                    problems.append("%s was created by the check and is "
                                    "not empty" % box)
                    continue
            if c.imap.delete(c.quote(box))[0] == "OK":
                deleted.append(box)
            elif "\\noselect" not in attrs:
                problems.append("could not delete %s, created by the "
                                "check" % box)
        for box in deleted:
            if box not in self.subscribed_before:
                c.imap.unsubscribe(c.quote(box))
        if deleted:
            done.append("deleted the mailboxes it created (%s)" %
                        ", ".join(deleted))
        self.report.passed("cleanup", "SHOULD",
                           "coi-client (not a server requirement)",
                           not problems, "; ".join(done),
                           "; ".join(problems))

    def subscribed(self):
        typ, data = self.c.imap.lsub('""', "*")
        names = set()
        for line in data or []:
            m = re.match(rb'\([^)]*\) (?:"(?:\\.|[^"])*"|NIL) "?(.*?)"?$',
                         line or b"") if isinstance(line, bytes) else None
            if m:
                names.add(m.group(1).decode())
        return names

    def run(self):
        self.subscribed_before = self.subscribed()
        self.capabilities()
        try:
            if self.c.extended:
                self.report.mode = "extended"
                if self.configuration():
                    self.filing()
                    self.blocking()
                self.webpush()
            else:
                self.report.mode = "plain"
                self.plain_mode()
            self.deltachat()
        finally:
            self.cleanup()
        return self.report


def run_check(client, timeout=20):
    host, port = client.imap_addr
    report = Report("%s:%d" % (host, port), client.user)
    return Checker(client, report, timeout).run()
