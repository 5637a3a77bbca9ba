"""COI folders: created on enable, and managed indirectly by the user
(coi-server-spec.md, "Indirectly Disabling and Enabling COI")."""

import pytest

from coitest.imap import (COI_CONFIG, COI_ENABLED, COI_MESSAGE_FILTER,
                          assert_cannot)
from coitest.server import DOVECOT_24


def enabled(imap):
    return imap.getmetadata("", COI_CONFIG, depth=1).get(COI_ENABLED)


def enable(imap):
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)


def test_enable_creates_folders_before_tagged_ok(imap_connect, user):
    a = imap_connect(user)
    b = imap_connect(user)
    assert "COI/Chats" not in b.list()
    enable(a)
    # another session sees them right after the OK
    boxes = b.list()
    assert "COI/Chats" in boxes and "COI/Contacts" in boxes
    assert "COI/Chats" in b.lsub()
    # they are real, selectable folders
    b.ok("SELECT", "COI/Chats")
    b.ok("SELECT", "COI/Contacts")


def test_enable_keeps_existing_folders_and_their_mail(imap):
    imap.ok("CREATE", "COI/Contacts")
    imap.ok("APPEND", "COI/Contacts", "{5+}\r\nhello")
    enable(imap)
    resp = imap.ok("STATUS", "COI/Contacts", "(MESSAGES)")
    assert b"MESSAGES 1" in resp.untagged[0]


@pytest.mark.parametrize("mode", ["active", "seen"])
def test_filter_mode_creates_chats(imap, mode):
    imap.ok("SETMETADATA", '""', "(%s %s)" % (COI_MESSAGE_FILTER, mode))
    assert "COI/Chats" in imap.list()
    assert "COI/Chats" in imap.lsub()
    # choosing a filter is not enabling COI
    assert enabled(imap) is None


def test_filter_none_creates_nothing(imap):
    imap.ok("SETMETADATA", '""', "(%s none)" % COI_MESSAGE_FILTER)
    assert "COI/Chats" not in imap.list()


def test_delete_chats_disables_coi(imap):
    enable(imap)
    imap.ok("DELETE", "COI/Chats")
    assert enabled(imap) is None
    assert "COI/Chats" not in imap.list()


def test_create_chats_enables_coi_and_subscribes(imap):
    imap.ok("CREATE", "COI/Chats")
    assert enabled(imap) == b"yes"
    assert "COI/Chats" in imap.lsub()
    assert "COI/Contacts" in imap.list()


def test_create_other_folders_does_not_enable(imap):
    imap.ok("CREATE", "COI/Other")
    if not DOVECOT_24:
        # a directory only, not the folder (Dovecot 2.4's mailbox lists
        # create a selectable folder for it: the Chats folder itself)
        imap.ok("CREATE", "COI/Chats/")
    imap.ok("CREATE", "Chats")
    assert enabled(imap) is None


def test_rename_chats_to_trash_disables_coi(imap):
    enable(imap)
    imap.ok("RENAME", "COI/Chats", "Trash/Chats")
    assert enabled(imap) is None
    boxes = imap.list()
    assert "Trash/Chats" in boxes and "COI/Chats" not in boxes


def test_rename_chats_deep_under_trash_disables_coi(imap):
    enable(imap)
    imap.ok("CREATE", "Trash/old")
    imap.ok("RENAME", "COI/Chats", "Trash/old/Chats")
    assert enabled(imap) is None


def test_rename_to_chats_enables_coi(imap):
    imap.ok("CREATE", "Conversations")
    imap.ok("RENAME", "Conversations", "COI/Chats")
    assert enabled(imap) == b"yes"
    assert "COI/Chats" in imap.lsub()


@pytest.mark.parametrize("target", ["Archive", "COI/Chats2", "INBOX/Chats",
                                    "Trashcan/Chats", "COI/Contacts/Chats"])
def test_other_renames_of_chats_are_refused(imap, target):
    enable(imap)
    resp = imap.command("RENAME", "COI/Chats", '"%s"' % target)
    assert_cannot(resp)
    assert "COI/Chats" in resp.text and "Trash" in resp.text
    assert enabled(imap) == b"yes"
    assert "COI/Chats" in imap.list()


def test_rename_of_the_root_is_refused(imap):
    enable(imap)
    for target in ("Other", "Trash/COI"):
        resp = imap.command("RENAME", "COI", '"%s"' % target)
        assert_cannot(resp)
        assert "COI/Chats" in resp.text
    boxes = imap.list()
    assert "COI/Chats" in boxes and "COI/Contacts" in boxes
    assert enabled(imap) == b"yes"


def test_rename_of_other_coi_folders_is_allowed(imap):
    enable(imap)
    imap.ok("CREATE", "COI/Extra")
    imap.ok("RENAME", "COI/Extra", "Extra")
    assert enabled(imap) == b"yes"


def test_rename_of_chats_refused_even_when_disabled(imap):
    # the folder name is reserved for COI on this server
    imap.ok("SETMETADATA", '""', "(%s active)" % COI_MESSAGE_FILTER)
    assert_cannot(imap.command("RENAME", "COI/Chats", "Archive"))


def test_rename_of_parent_root_is_refused_for_nested_roots(server,
                                                           imap_connect):
    user = server.new_custom_user({"coi_mailbox_root": "Apps/COI"})
    imap = imap_connect(user)
    enable(imap)
    assert "Apps/COI/Chats" in imap.list()
    assert_cannot(imap.command("RENAME", "Apps", "Programs"))
    imap.ok("DELETE", "Apps/COI/Chats")
    assert enabled(imap) is None


def test_delete_while_another_session_has_chats_selected(imap_connect, user):
    a = imap_connect(user)
    b = imap_connect(user)
    enable(a)
    b.ok("APPEND", "COI/Chats", "{5+}\r\nhello")
    b.ok("SELECT", "COI/Chats")
    a.ok("DELETE", "COI/Chats")
    assert enabled(a) is None
    # the other session learns that its folder is gone as in plain Dovecot
    # (and RFC 2180 section 3.1): its next command gets an untagged BYE,
    # no tagged answer, and the connection is closed
    b.send(b"n1 NOOP\r\n")
    bye, = b.read_until_closed()
    assert bye.startswith(b"* BYE "), bye
    # the server keeps serving the user
    c = imap_connect(user)
    assert "COI/Chats" not in c.list()
    c.ok("CREATE", "COI/Chats")
    assert enabled(c) == b"yes"


def test_doveadm_mailbox_commands_follow_the_same_rules(server, imap_connect,
                                                        user):
    # the rules live in the core, so doveadm gets them too
    imap = imap_connect(user)
    server.doveadm("mailbox", "create", "-u", user, "COI/Chats")
    assert enabled(imap) == b"yes"
    res = server.doveadm("mailbox", "rename", "-u", user, "COI/Chats",
                         "Elsewhere", check=False)
    assert res.returncode != 0
    server.doveadm("mailbox", "delete", "-u", user, "COI/Chats")
    assert enabled(imap) is None
