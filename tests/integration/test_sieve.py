"""The Sieve extension vnd.dovecot.coi (docs/SIEVE.md) and the shipped
scripts in sieve/, through the real sievec, ManageSieve and LMTP + Sieve
of the development server."""

import hashlib
import os
import shutil
import subprocess
import time

import pytest

from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, Literal
from coitest.server import DOVECOT_24, dovecot_tool, sieve_before_fields
from coitest.mail import (ManageSieve, compose, fetch_all, lmtp_send,
                          message_count, wait_for_count)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLE_SCRIPT = os.path.join(TOP, "sieve", "coi-example.sieve")
FALLBACK_SCRIPT = os.path.join(TOP, "sieve", "coi-filter.sieve")

# Records every COI fact the extension gives as a keyword of the stored
# message, so that one delivery shows them all.
FACTS_SCRIPT = """\
require ["vnd.dovecot.coi", "environment", "variables", "imap4flags"];
if coi_chat { addflag "fact-chat"; } else { addflag "fact-not-chat"; }
if coi_blocked { addflag "fact-blocked"; } else { addflag "fact-not-blocked"; }
if environment :matches "vnd.dovecot.coi.enabled" "*" {
  addflag "enabled-${1}";
}
if environment :matches "vnd.dovecot.coi.message-filter" "*" {
  addflag "filter-${1}";
}
if environment :matches "vnd.dovecot.coi.mailbox-root" "*" {
  addflag "root-${1}";
}
"""


def configure(imap, enabled=True, mode=None):
    if enabled:
        imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    if mode is not None:
        imap.ok("SETMETADATA", '""', "(%s %s)" % (COI_MESSAGE_FILTER, mode))


def upload(server, user, script, name="test"):
    sieve = ManageSieve(server, user)
    try:
        sieve.put_active(name, script)
    finally:
        sieve.close()


def deliver(server, user, *messages, envelope="sender@example.net"):
    """LMTP deliveries, each accepted for the user. messages are bytes or
    (envelope sender, bytes)."""
    for msg in messages:
        sender = envelope
        if isinstance(msg, tuple):
            sender, msg = msg
        replies = lmtp_send(server, sender, [user], msg)
        assert replies[user][0] == 250, (replies, server.log_tail())


def placement(imap):
    """{subject: (folder, flags)} of every message of the user."""
    out = {}
    for box in imap.list():
        if message_count(imap, box) == 0:
            continue
        for flags, subject in fetch_all(imap, box):
            assert subject not in out, subject
            out[subject] = (box, flags)
    return out


def chat(subject, sender="sender@example.net", to="rcpt@example.org"):
    return compose(sender, to, subject=subject, chat=True)


def plain(subject, sender="sender@example.net", to="rcpt@example.org",
          **kw):
    return compose(sender, to, subject=subject, **kw)


# -- compiling ------------------------------------------------------------

@pytest.fixture
def tmp_path(server):
    """A scratch directory that sievec, running as the mail user, can
    write to."""
    import tempfile
    import pathlib
    path = tempfile.mkdtemp(prefix="sievec-", dir=server.state_dir)
    os.chmod(path, 0o777)
    return pathlib.Path(path)


def sievec(server, user, path, out):
    return subprocess.run([dovecot_tool("sievec"), "-c", server.conf_path,
                           "-u", user, path, out], capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("path", [EXAMPLE_SCRIPT, FALLBACK_SCRIPT])
def test_shipped_scripts_compile_with_sievec(server, tmp_path, path):
    # sievec loads sieve_coi from the development configuration but not
    # the core mail plugin: compiling must not need it
    user = server.new_user()
    # a copy where the mail user can read it (the checkout may be private)
    script = tmp_path / os.path.basename(path)
    shutil.copyfile(path, script)
    out = tmp_path / "out.svbin"
    res = sievec(server, user, str(script), str(out))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert out.stat().st_size > 0


def test_sievec_compiles_extension_and_rejects_misuse(server, tmp_path):
    user = server.new_user()
    good = tmp_path / "good.sieve"
    good.write_text(FACTS_SCRIPT)
    res = sievec(server, user, str(good), str(tmp_path / "good.svbin"))
    assert res.returncode == 0, res.stderr
    dump = subprocess.run([dovecot_tool("sieve-dump"), "-c", server.conf_path,
                           str(tmp_path / "good.svbin")],
                          capture_output=True, text=True, check=True)
    assert "vnd.dovecot.coi" in dump.stdout
    assert "COI_CHAT" in dump.stdout and "COI_BLOCKED" in dump.stdout

    bad = tmp_path / "bad.sieve"
    bad.write_text('require "vnd.dovecot.coi";\nif coi_chat "x" { keep; }\n')
    res = sievec(server, user, str(bad), str(tmp_path / "bad.svbin"))
    assert res.returncode != 0
    assert "coi_chat test requires 0 positional argument" in res.stderr

    # without the require the tests are unknown commands
    unrequired = tmp_path / "unrequired.sieve"
    unrequired.write_text("if coi_chat { keep; }\n")
    res = sievec(server, user, str(unrequired), str(tmp_path / "u.svbin"))
    assert res.returncode != 0
    assert "coi_chat" in res.stderr


def test_managesieve_advertises_and_accepts_the_extension(server):
    user = server.new_user()
    sieve = ManageSieve(server, user)
    try:
        caps = b"\n".join(sieve.capabilities())
        sieve_line = [c for c in caps.split(b"\n")
                      if c.startswith(b'"SIEVE"')]
        assert sieve_line and b"vnd.dovecot.coi" in sieve_line[0]
        with open(EXAMPLE_SCRIPT) as f:
            sieve.put("example", f.read())
        with open(FALLBACK_SCRIPT) as f:
            sieve.put("fallback", f.read())
        sieve.put("facts", FACTS_SCRIPT)
        with pytest.raises(IOError) as err:
            sieve.put("bad", 'require "vnd.dovecot.coi";\n'
                      'if coi_blocked :x { keep; }\n')
        assert "coi_blocked" in str(err.value)
    finally:
        sieve.close()


# -- the tests and environment items at delivery --------------------------

def test_facts_for_active_user(server, imap, user):
    configure(imap, mode="active")
    upload(server, user, FACTS_SCRIPT)
    deliver(server, user, chat("c"), plain("m"))
    got = placement(imap)
    # addflag changes what the implicit keep stores; keep follows the
    # active filter into COI/Chats
    assert got["c"] == ("COI/Chats", {
        "$Chat", "fact-chat", "fact-not-blocked", "enabled-yes",
        "filter-active", "root-COI"})
    assert got["m"] == ("INBOX", {
        "fact-not-chat", "fact-not-blocked", "enabled-yes",
        "filter-active", "root-COI"})


def test_facts_for_disabled_user_with_own_root(server, imap_connect):
    user = server.new_custom_user({"coi_mailbox_root": "Chat"})
    imap = imap_connect(user)
    configure(imap, enabled=False, mode="seen")
    upload(server, user, FACTS_SCRIPT)
    deliver(server, user, chat("c"), plain("m", references="<chat$x@y>"),
            plain("n"))
    got = placement(imap)
    # a chat is a chat whether or not COI is enabled
    assert got["c"] == ("INBOX", {"fact-chat", "fact-not-blocked",
                                  "enabled-no", "filter-seen", "root-Chat"})
    assert got["m"] == got["c"]
    assert got["n"] == ("INBOX", {"fact-not-chat", "fact-not-blocked",
                                  "enabled-no", "filter-seen", "root-Chat"})


def test_facts_default_filter_is_none(server, imap, user):
    configure(imap)
    upload(server, user, FACTS_SCRIPT)
    deliver(server, user, plain("m"))
    assert placement(imap)["m"] == ("INBOX", {
        "fact-not-chat", "fact-not-blocked", "enabled-yes", "filter-none",
        "root-COI"})


def test_facts_for_user_without_coi_plugin(server, imap_connect,
                                           vanilla_user):
    # the extension is there (sieve_plugins is global) but the user has
    # no COI: every test is false and the items do not exist
    imap = imap_connect(vanilla_user)
    upload(server, vanilla_user, FACTS_SCRIPT)
    deliver(server, vanilla_user, chat("c"))
    assert placement(imap) == {"c": ("INBOX", {"fact-not-chat",
                                               "fact-not-blocked"})}


def block(imap, *addresses):
    """Stores a contact storage message that blocks the addresses, as a
    COI client does (coi-client-spec.md "Blocking Contacts")."""
    hashes = "".join("COI-From-Hash: %s\r\n" % hashlib.sha3_256(
        a.lower().encode()).hexdigest() for a in addresses)
    msg = ("From: me@example.org\r\nSubject: Contact\r\n" + hashes +
           "COI-Blocked: yes\r\n\r\nencrypted\r\n").encode()
    imap.ok("APPEND", "COI/Contacts", Literal(msg, nonsync=True))


def blocked_setup(server, imap):
    """COI on long enough to get the Contacts folder and a blocked
    contact, then off: the server's own blocking at delivery applies to
    users with COI enabled only, and would not run Sieve at all."""
    blocked = "Blocked.Sender@example.net"
    configure(imap, mode="active")
    block(imap, blocked)
    imap.ok("SETMETADATA", '""', "(%s NIL)" % COI_ENABLED)
    return blocked


def test_blocked_test_true_for_blocked_senders(server, imap, user):
    blocked = blocked_setup(server, imap)
    upload(server, user, FACTS_SCRIPT)
    deliver(server, user,
            plain("from blocked", sender=blocked.lower()),
            plain("blocked among several",
                  sender="friend@example.net, " + blocked),
            plain("from friend", sender="friend@example.net"),
            chat("chat from blocked", sender=blocked))
    got = placement(imap)
    base = {"enabled-no", "filter-active", "root-COI"}
    assert got["from blocked"] == ("INBOX", base | {
        "fact-not-chat", "fact-blocked"})
    assert got["blocked among several"] == got["from blocked"]
    assert got["from friend"] == ("INBOX", base | {
        "fact-not-chat", "fact-not-blocked"})
    assert got["chat from blocked"] == ("INBOX", base | {
        "fact-chat", "fact-blocked"})


def test_blocked_test_with_discard_and_fileinto(server, imap, user):
    blocked = blocked_setup(server, imap)
    upload(server, user, """\
require ["vnd.dovecot.coi", "fileinto", "mailbox"];
if allof (coi_blocked, coi_chat) { discard; stop; }
if coi_blocked { fileinto :create "Blocked"; }
""")
    deliver(server, user, chat("chat", sender=blocked),
            plain("mail", sender=blocked),
            plain("friend", sender="friend@example.net"))
    assert fetch_all(imap, "Blocked") == [(set(), "mail")]
    assert fetch_all(imap, "INBOX") == [(set(), "friend")]
    assert "chat" not in placement(imap)


def test_example_script_discards_blocked_senders(server, imap, user):
    blocked = blocked_setup(server, imap)
    with open(EXAMPLE_SCRIPT) as f:
        upload(server, user, f.read(), "example")
    offset = server.log_size()
    deliver(server, user, (blocked, plain("m", sender=blocked, to=user)))
    assert placement(imap) == {"Contact": ("COI/Contacts", set())}
    # no vacation reply either: the script stops first
    log = server.log_since(offset)
    assert "discard" in log and "vacation" not in log


def test_facts_per_recipient_in_one_transaction(server, imap_connect,
                                                vanilla_user):
    # the user without COI first: the core is loaded in the LMTP process
    # only for the second recipient, and the extension must see it then
    coi_user = server.new_user()
    conns = {u: imap_connect(u) for u in (vanilla_user, coi_user)}
    configure(conns[coi_user], mode="seen")
    for u in conns:
        upload(server, u, FACTS_SCRIPT)
    replies = lmtp_send(server, "sender@example.net",
                        [vanilla_user, coi_user], chat("c"))
    assert all(code == 250 for code, _ in replies.values()), replies
    assert placement(conns[vanilla_user]) == {"c": ("INBOX", {
        "fact-not-chat", "fact-not-blocked"})}
    assert placement(conns[coi_user]) == {"c": ("INBOX", {
        "$Chat", "fact-chat", "fact-not-blocked", "enabled-yes",
        "filter-seen", "root-COI"})}


def test_fileinto_and_keep_by_chat_test(server, imap, user):
    configure(imap, mode="active")
    upload(server, user, """\
require ["vnd.dovecot.coi", "fileinto", "mailbox"];
if coi_chat { keep; fileinto :create "Chat copies"; }
else { fileinto :create "Not chats"; }
""")
    deliver(server, user, chat("c"), plain("m"))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "Chat copies") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "Not chats") == [(set(), "m")]
    assert message_count(imap, "INBOX") == 0


def test_chat_test_overrides_filter_none(server, imap, user):
    # a user who files chats by script although COI's filter is "none"
    configure(imap, mode="none")
    upload(server, user, """\
require ["vnd.dovecot.coi", "environment", "variables", "fileinto"];
if allof (coi_chat,
          environment :matches "vnd.dovecot.coi.mailbox-root" "*") {
  fileinto "${1}/Chats";
}
""")
    deliver(server, user, chat("c"), plain("m"))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "INBOX") == [(set(), "m")]


def test_example_script_vacation_only_for_non_chats(server, imap_connect,
                                                    user):
    imap = imap_connect(user)
    configure(imap, mode="active")
    with open(EXAMPLE_SCRIPT) as f:
        upload(server, user, f.read(), "example")
    chat_sender, mail_sender = server.new_user("s"), server.new_user("s")
    # vacation answers the envelope sender
    deliver(server, user,
            (chat_sender, chat("c", sender=chat_sender, to=user)),
            (mail_sender, plain("m", sender=mail_sender, to=user)),
            (mail_sender, plain("l", sender=mail_sender, to=user,
                                extra_headers=["List-Id: <l.example.org>"])))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "INBOX") == [(set(), "m")]
    assert fetch_all(imap, "COI/Lists") == [(set(), "l")]
    # the vacation reply travels through Postfix to the sender of the mail
    mail_imap = imap_connect(mail_sender)
    assert wait_for_count(mail_imap, "INBOX", 1) == 1
    assert [s for _, s in fetch_all(mail_imap, "INBOX")] == ["Away"]
    # the chat's sender gets nothing (give Postfix the same time)
    time.sleep(1)
    assert message_count(imap_connect(chat_sender), "INBOX") == 0


# -- the fallback script files what the plugin files ----------------------

def fallback_user(server):
    """A plain-Dovecot user (no COI plugin) with only the shipped
    fallback script, as a global sieve_before script."""
    path = os.path.join(server.state_dir, "sieve", "coi-filter.sieve")
    plugins = ("%{protocol|if('eq','lmtp','sieve','notify')}" if DOVECOT_24
               else "%{if;%s;eq;lmtp;sieve;notify}")
    return server.new_custom_user(dict(mail_plugins=plugins,
                                       **sieve_before_fields(path)))


def refs(first, count=3000):
    return "References: " + first + "".join(
        "\r\n <ref%d@example.org>" % i for i in range(count))


# (name, header lines, chat by the plugin's rule). No line is added: a
# case without Message-ID has none.
CORPUS = [
    ("chat-version", ["Chat-Version: 1.0"], True),
    ("chat-version lowercase", ["chat-version: 1.0"], True),
    ("chat-version odd value", ["CHAT-VERSION: whatever"], True),
    ("chat-version empty", ["Chat-Version:"], True),
    ("chat-version folded", ["Chat-Version:\r\n 1.0"], True),
    ("x-chat-version", ["X-Chat-Version: 1.0"], False),
    ("chat-version as a value", ["X-Note: Chat-Version: 1.0"], False),
    ("message-id", ["Message-ID: <chat$1@example.org>"], True),
    ("message-id lowercase name", ["message-id: <chat$2@example.org>"], True),
    ("message-id folded", ["Message-ID:\r\n <chat$3@example.org>"], True),
    ("message-id folded with tab", ["Message-ID:\r\n\t<chat$3a@example.org>"],
     True),
    ("message-id comment", ["Message-ID: (comment) <chat$4@example.org>"],
     True),
    ("message-id nested comment",
     ["Message-ID: (nested (comment <x@y>)) <chat$5@example.org>"], True),
    ("message-id three levels",
     ["Message-ID: (a (b (c))) <chat$5a@example.org>"], True),
    ("message-id quoted pair in comment",
     ["Message-ID: (a \\) b) <chat$6@example.org>"], True),
    ("message-id blank after bracket", ["Message-ID: < chat$7@example.org>"],
     True),
    ("message-id tab after bracket", ["Message-ID: <\tchat$7a@example.org>"],
     True),
    ("message-id folded comment",
     ["Message-ID: (a\r\n comment)\r\n <chat$7b@example.org>"], True),
    ("message-id shortest", ["Message-ID: <chat$a>"], True),
    ("message-id only the prefix", ["Message-ID: <chat$>"], False),
    ("message-id xchat", ["Message-ID: <xchat$8@example.org>"], False),
    ("message-id capital Chat", ["Message-ID: <Chat$9@example.org>"], False),
    ("message-id CHAT", ["Message-ID: <CHAT$9a@example.org>"], False),
    ("message-id without brackets", ["Message-ID: chat$10@example.org"],
     False),
    ("message-id unclosed", ["Message-ID: <chat$11@example.org"], False),
    ("message-id unclosed comment",
     ["Message-ID: (unclosed <chat$12@example.org>"], False),
    ("message-id inside comment",
     ["Message-ID: (<chat$13@example.org>) <other@example.org>"], False),
    ("message-id quoted string first",
     ['Message-ID: "x" <chat$13a@example.org>'], False),
    ("message-id chat second",
     ["Message-ID: <a@example.org> <chat$13b@example.org>"], False),
    ("second message-id header",
     ["Message-ID: <a14@example.org>", "Message-ID: <chat$14@example.org>"],
     False),
    ("first of two message-id headers",
     ["Message-ID: <chat$15@example.org>", "Message-ID: <a15@example.org>"],
     True),
    ("empty message-id", ["Message-ID:"], False),
    ("no headers of the rule", [], False),
    ("first reference",
     ["Message-ID: <a16@example.org>",
      "References: <chat$16@example.org> <x@example.org>"], True),
    ("second reference only",
     ["References: <x@example.org> <chat$17@example.org>"], False),
    ("folded references with comment",
     ["References:\r\n (a comment)\r\n\t<chat$18@example.org>"], True),
    ("folded comment then other id",
     ["References: (a\r\n comment) <c@d>\r\n <chat$19@example.org>"], False),
    ("second references header",
     ["References: <a@b>", "References: <chat$20@example.org>"], False),
    ("in-reply-to only", ["In-Reply-To: <chat$21@example.org>"], False),
    ("malformed references", ["References: chat$22@example.org"], False),
    ("empty references", ["References:"], False),
    ("huge references chat first", [refs("<chat$23@example.org>")], True),
    ("huge references chat later", [refs("<x@example.org>") +
                                    "\r\n <chat$24@example.org>"], False),
    ("line without colon", ["no colon here", "Chat-Version: 1"], True),
]

# Where the script differs from the plugin (docs/SIEVE.md, "Limits of the
# fallback script"): (name, header lines, chat for the plugin, chat for
# the script).
DIFFERENCES = [
    # regular expressions cannot count brackets: three levels of nested
    # comments are written out, a fourth is not
    ("message-id four levels",
     ["Message-ID: (a (b (c (d)))) <chat$25@example.org>"], True, False),
    # Sieve decodes MIME encoded words in header values, the plugin
    # takes the header as it is
    ("message-id encoded word",
     ["Message-ID: =?us-ascii?q?=3Cchat=2426=40example=2Eorg=3E?="],
     False, True),
]


def corpus_message(subject, header_lines, body="hello"):
    lines = ["From: sender@example.net", "To: rcpt@example.org",
             "Subject: %s" % subject,
             "Date: Sun, 22 Nov 2026 12:00:00 +0000"] + header_lines
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def test_fallback_script_files_exactly_what_the_plugin_files(
        server, imap_connect):
    plugin_user = server.new_user("plugin")
    script_user = fallback_user(server)
    plugin_imap = imap_connect(plugin_user)
    script_imap = imap_connect(script_user)
    configure(plugin_imap, mode="active")

    cases = [(name, lines) for name, lines, _ in CORPUS] + \
        [(name, lines) for name, lines, _, _ in DIFFERENCES]
    cases.append(("chat-version only in the body", []))
    for name, lines in cases:
        body = "Chat-Version: 1.0\r\nMessage-ID: <chat$b@x>" \
            if "body" in name else "hello"
        # one transaction per recipient: in a shared one, LMTP hands later
        # recipients the first one's stored copy, and Sieve's keep copies
        # its keywords ($Chat) along
        for rcpt in (plugin_user, script_user):
            deliver(server, rcpt, corpus_message(name, lines, body))

    by_plugin = placement(plugin_imap)
    by_script = placement(script_imap)
    chat_place = ("COI/Chats", {"$Chat"})
    mail_place = ("INBOX", set())

    def place(is_chat):
        return chat_place if is_chat else mail_place

    for name, _, is_chat in CORPUS:
        assert by_plugin[name] == place(is_chat), name
        assert by_script[name] == by_plugin[name], name
    assert by_plugin["chat-version only in the body"] == mail_place
    assert by_script["chat-version only in the body"] == mail_place
    for name, _, plugin_chat, script_chat in DIFFERENCES:
        assert by_plugin[name] == place(plugin_chat), name
        assert by_script[name] == place(script_chat), name
    assert len(by_plugin) == len(by_script) == len(cases)


def test_fallback_script_composes_with_user_script(server, imap_connect):
    # the user's own script still runs after the global one
    user = fallback_user(server)
    imap = imap_connect(user)
    upload(server, user, 'require "imap4flags"; addflag "seen-by-user";')
    deliver(server, user, chat("c"), plain("m"))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "INBOX") == [({"seen-by-user"}, "m")]


def test_fallback_script_ends_the_sequence_for_chats(server, imap_connect):
    # Pigeonhole runs the user's script only while the implicit keep of
    # the scripts before it is still in effect: fileinto of a chat ends the
    # sequence, so user rules never see chats (docs/SIEVE.md). With the
    # plugin they do.
    user = fallback_user(server)
    imap = imap_connect(user)
    upload(server, user, 'require ["fileinto", "mailbox"]; '
           'fileinto :create "By user";')
    deliver(server, user, chat("c"), plain("m"))
    assert fetch_all(imap, "COI/Chats") == [({"$Chat"}, "c")]
    assert fetch_all(imap, "By user") == [(set(), "m")]
    assert message_count(imap, "INBOX") == 0
