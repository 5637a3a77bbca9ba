"""The COI configuration tree in IMAP METADATA (coi-server-spec.md)."""

import os

import pytest

from coitest.imap import (COI_CONFIG, COI_ENABLED, COI_MAILBOX_ROOT,
                          COI_MESSAGE_FILTER, Imap, Literal,
                          assert_cannot)

def config(imap):
    return imap.getmetadata("", COI_CONFIG, depth=1)


def test_configuration_lives_in_the_attribute_dict(server, imap, user):
    """Where the server keeps it (COI_ATTRIBUTE_DICT): ./test's runs with
    PostgreSQL must really use it, and a listing with DEPTH (which
    Dovecot's SQL dict cannot do below the top level by itself) finds
    it."""
    assert imap.setmetadata("", COI_ENABLED, "yes").status == "OK"
    attr_file = os.path.join(server.home(user), "dovecot-attributes")
    if server.attribute_dict == "pgsql":
        rows = server.psql(
            "SELECT attribute || '=' || value FROM mail_attribute_private "
            "WHERE username = '%s'" % user).splitlines()
        assert ("vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/"
                "coi/config/enabled=yes") in rows, rows
        assert not os.path.exists(attr_file)
    else:
        assert server.attribute_dict == "file"
        with open(attr_file) as f:
            assert "coi/config/enabled" in f.read()
    assert config(imap)[COI_ENABLED] == b"yes"
    deep = imap.getmetadata("", "/private/vendor/vendor.dovecot",
                            depth="infinity")
    assert deep[COI_ENABLED] == b"yes", deep


def test_capability_coi_only_after_authentication(server, user):
    imap = Imap(server.host, server.imap_port)
    try:
        assert b"COI" not in imap.greeting.upper().split(b"]")[0]
        assert "COI" not in imap.capabilities()
        imap.login(user)
        assert "COI" in imap.capabilities()
    finally:
        imap.logout()


def test_login_response_capabilities_include_coi(server, user):
    imap = Imap(server.host, server.imap_port)
    try:
        resp = imap.login(user)
        assert resp.text.startswith("[CAPABILITY ")
        assert " COI" in resp.text.split("]")[0]
    finally:
        imap.logout()


def test_fresh_user_has_only_mailbox_root(imap):
    assert config(imap) == {COI_MAILBOX_ROOT: b"COI"}
    assert imap.getmetadata("", COI_MAILBOX_ROOT) == {COI_MAILBOX_ROOT: b"COI"}
    # unset entries read as NIL
    assert imap.getmetadata("", COI_ENABLED, COI_MESSAGE_FILTER) == {
        COI_ENABLED: None, COI_MESSAGE_FILTER: None}


def test_config_entries_are_case_insensitive_names(imap):
    upper = COI_MAILBOX_ROOT.upper()
    got = imap.getmetadata("", upper)
    assert list(got.values()) == [b"COI"]


@pytest.mark.parametrize("value", ["myroot", "COI", "", None])
def test_mailbox_root_is_read_only(imap, value):
    assert_cannot(imap.setmetadata("", COI_MAILBOX_ROOT, value),
                  COI_MAILBOX_ROOT)
    assert config(imap)[COI_MAILBOX_ROOT] == b"COI"


def test_mailbox_root_follows_the_setting(server, imap_connect):
    user = server.new_custom_user({"coi_mailbox_root": "Chat"})
    imap = imap_connect(user)
    assert config(imap) == {COI_MAILBOX_ROOT: b"Chat"}
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    boxes = imap.list()
    assert "Chat/Chats" in boxes and "Chat/Contacts" in boxes
    assert "COI/Chats" not in boxes


def test_invalid_mailbox_root_setting_falls_back_to_default(server,
                                                            imap_connect):
    user = server.new_custom_user({"coi_mailbox_root": "bad*root"})
    offset = server.log_size()
    imap = imap_connect(user)
    assert config(imap)[COI_MAILBOX_ROOT] == b"COI"
    assert server.wait_for_log(offset, "coi_mailbox_root=bad*root"), server.log_since(offset)


def test_enable_and_disable(imap):
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    assert config(imap) == {COI_ENABLED: b"yes", COI_MAILBOX_ROOT: b"COI"}
    imap.ok("SETMETADATA", '""', "(%s NIL)" % COI_ENABLED)
    assert config(imap) == {COI_MAILBOX_ROOT: b"COI"}
    # NIL on an unset entry is fine too
    imap.ok("SETMETADATA", '""', "(%s NIL)" % COI_ENABLED)


@pytest.mark.parametrize("value", [
    "true", "YES", "Yes", "no", "", "yes ", " yes", "1", "nil", "yess",
])
def test_enabled_rejects_other_values(imap, value):
    resp = imap.setmetadata("", COI_ENABLED, value)
    assert_cannot(resp, COI_ENABLED, '"yes"', "NIL")
    assert COI_ENABLED not in config(imap)


def test_enabled_rejection_keeps_previous_value(imap):
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    assert_cannot(imap.setmetadata("", COI_ENABLED, "no"))
    assert config(imap)[COI_ENABLED] == b"yes"


@pytest.mark.parametrize("value", ["none", "active", "seen"])
def test_message_filter_values(imap, value):
    imap.ok("SETMETADATA", '""', "(%s %s)" % (COI_MESSAGE_FILTER, value))
    assert config(imap)[COI_MESSAGE_FILTER] == value.encode()


def test_message_filter_nil_resets_to_default(imap):
    imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
    imap.ok("SETMETADATA", '""', "(%s NIL)" % COI_MESSAGE_FILTER)
    assert COI_MESSAGE_FILTER not in config(imap)
    assert imap.getmetadata("", COI_MESSAGE_FILTER) == {COI_MESSAGE_FILTER: None}


@pytest.mark.parametrize("value", [
    "inactive", "Active", "SEEN", "", "all", "none ", "activ",
])
def test_message_filter_rejects_other_values(imap, value):
    resp = imap.setmetadata("", COI_MESSAGE_FILTER, value)
    assert_cannot(resp, COI_MESSAGE_FILTER, '"none"', '"active"', '"seen"', "NIL")
    assert COI_MESSAGE_FILTER not in config(imap)


@pytest.mark.parametrize("entry", [COI_ENABLED, COI_MESSAGE_FILTER,
                                   COI_MAILBOX_ROOT])
@pytest.mark.parametrize("nonsync", [False, True])
def test_overlong_literal_values_are_rejected(imap, entry, nonsync):
    value = Literal(b"yes" + b"x" * (64 * 1024 - 3), nonsync=nonsync)
    assert_cannot(imap.setmetadata("", entry, value))
    # the connection is still in sync and usable
    assert config(imap) == {COI_MAILBOX_ROOT: b"COI"}


@pytest.mark.parametrize("raw", [b"yes\x00", b"\x00yes", b"yes\r\n", b"ye\ns",
                                 b"yes\r"])
def test_values_with_nul_cr_lf_are_rejected(imap, raw):
    for entry in (COI_ENABLED, COI_MESSAGE_FILTER):
        assert_cannot(imap.setmetadata("", entry, Literal(raw)))
    assert config(imap) == {COI_MAILBOX_ROOT: b"COI"}


def test_valid_values_as_literals(imap):
    imap.setmetadata("", COI_ENABLED, Literal(b"yes"))
    imap.setmetadata("", COI_MESSAGE_FILTER, Literal(b"seen", nonsync=True))
    assert config(imap) == {COI_ENABLED: b"yes", COI_MAILBOX_ROOT: b"COI",
                            COI_MESSAGE_FILTER: b"seen"}


def test_several_entries_in_one_command_fail_together(imap):
    resp = imap.command("SETMETADATA", '""', "(%s yes %s bogus)" % (
        COI_ENABLED, COI_MESSAGE_FILTER))
    assert_cannot(resp)
    assert COI_ENABLED not in config(imap)


def test_config_on_a_mailbox_is_not_the_server_config(imap):
    # the spec's configuration is server metadata (mailbox ""); the same
    # names on INBOX are ordinary mailbox entries, stored unvalidated as
    # plain Dovecot stores them: they neither change the user's COI
    # configuration nor create folders, and the read-only mailbox-root
    # is only the server entry
    imap.ok("SETMETADATA", "INBOX", "(%s bogus)" % COI_ENABLED)
    imap.ok("SETMETADATA", "INBOX", "(%s foo)" % COI_MAILBOX_ROOT)
    assert imap.getmetadata("INBOX", COI_ENABLED, COI_MAILBOX_ROOT) == {
        COI_ENABLED: b"bogus", COI_MAILBOX_ROOT: b"foo"}
    assert config(imap) == {COI_MAILBOX_ROOT: b"COI"}
    assert "COI/Chats" not in imap.list()


def test_change_is_seen_immediately_by_other_sessions(imap_connect, user):
    a = imap_connect(user)
    b = imap_connect(user)
    assert COI_ENABLED not in config(b)
    a.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    assert config(b)[COI_ENABLED] == b"yes"
    b.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
    assert config(a)[COI_MESSAGE_FILTER] == b"active"
    a.ok("SETMETADATA", '""', "(%s NIL)" % COI_ENABLED)
    assert COI_ENABLED not in config(b)


def test_delta_chat_server_metadata_reads_keep_working(server, imap):
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    got = imap.getmetadata("", "/shared/comment", "/shared/admin",
                           "/shared/vendor/deltachat/irohrelay",
                           "/shared/vendor/deltachat/turn",
                           "/shared/vendor/deltachat/maxsmtprecipients")
    # only the development server's coturn is configured (test_turn.py)
    turn = got.pop("/shared/vendor/deltachat/turn")
    assert turn.startswith(b"127.0.0.1:%d:" % server.turn_port), turn
    assert set(got.values()) == {None}


def test_other_private_server_entries_still_work(imap):
    entry = "/private/vendor/example/setting"
    imap.ok("SETMETADATA", '""', "(%s hello)" % entry)
    assert imap.getmetadata("", entry) == {entry: b"hello"}
