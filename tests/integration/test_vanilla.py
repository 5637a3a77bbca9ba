"""Users without the plugin get plain Dovecot behaviour, on the same server."""

from coitest.imap import COI_CONFIG, COI_ENABLED, COI_MAILBOX_ROOT, Imap


def test_no_coi_capability(server, vanilla_user):
    imap = Imap(server.host, server.imap_port)
    try:
        imap.login(vanilla_user)
        caps = imap.capabilities()
        assert "COI" not in caps
        assert "METADATA" in caps
    finally:
        imap.logout()


def test_no_configuration_tree(imap_connect, vanilla_user):
    imap = imap_connect(vanilla_user)
    assert imap.getmetadata("", COI_CONFIG, depth=1) == {}
    assert imap.getmetadata("", COI_MAILBOX_ROOT) == {COI_MAILBOX_ROOT: None}


def test_values_are_stored_unvalidated(imap_connect, vanilla_user):
    # plain Dovecot stores any value under any private server entry
    imap = imap_connect(vanilla_user)
    imap.ok("SETMETADATA", '""', "(%s true)" % COI_ENABLED)
    imap.ok("SETMETADATA", '""', "(%s myroot)" % COI_MAILBOX_ROOT)
    assert imap.getmetadata("", COI_CONFIG, depth=1) == {
        COI_ENABLED: b"true", COI_MAILBOX_ROOT: b"myroot"}
    # and nothing is created
    assert "COI/Chats" not in imap.list()


def test_folders_are_ordinary(imap_connect, vanilla_user):
    imap = imap_connect(vanilla_user)
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    assert "COI/Chats" not in imap.list()
    imap.ok("CREATE", "COI/Chats")
    imap.ok("RENAME", "COI/Chats", "Archive")
    imap.ok("CREATE", "COI/Chats")
    imap.ok("RENAME", "COI", "Other")
    imap.ok("CREATE", "COI/Chats")
    imap.ok("DELETE", "COI/Chats")
    # none of this touched the stored value
    assert imap.getmetadata("", COI_ENABLED) == {COI_ENABLED: b"yes"}


def test_coi_user_in_the_same_process_is_unaffected(imap_connect,
                                                    vanilla_user, user):
    # a COI user and a vanilla user side by side keep their own behaviour
    v = imap_connect(vanilla_user)
    c = imap_connect(user)
    v.ok("SETMETADATA", '""', "(%s true)" % COI_ENABLED)
    resp = c.command("SETMETADATA", '""', "(%s true)" % COI_ENABLED)
    assert resp.status == "NO"
