"""The real Delta Chat core (deltachat-rpc-server, tests/coitest/deltachat.py)
against our server: two accounts set up an encrypted chat with SecureJoin,
exchange messages both ways with read receipts, and we check both what the
core reports and what the server's mailboxes hold afterwards.

Delta Chat does not speak COI, so the cases are:
- "vanilla": users without any COI plugin, the baseline.
- "off": a user with the COI plugins whose COI is not enabled (the state
  every user starts in; the spec says COI stays off until a client enables
  it). Nothing may change for Delta Chat: chats stay in INBOX untouched.
- "none" / "seen": COI enabled as a COI client on another device would do
  it (SETMETADATA over IMAP), with that message filter. Delta Chat only
  watches INBOX, so these are the filters it can live with: in "none" chats
  stay in INBOX with $Chat; in "seen" the chats Delta Chat marks \\Seen move
  to <root>/Chats after it has read them.

Delta Chat settings that decide what happens to the server copies, set
explicitly so the mailbox assertions do not depend on core defaults:
- bcc_self=1: with bcc_self=0 on a server without XCHATMAIL the core
  (2.57) assumes it is the only device and deletes every downloaded
  encrypted message from the server; with 1 it keeps them (multi-device
  behaviour), so we can check what the server filed. It also sends each
  outgoing message to the own address, which exercises the self-copy path.
- mdns_enabled=1: read receipts (the default, stated for clarity).
- mvbox_move, only_fetch_mvbox, delete_server_after no longer exist in the
  pinned core (removed in 2.x): it watches INBOX only and never moves chats
  to a DeltaChat folder, so they are not set.
"""

import re
import time

import pytest

from coitest.deltachat import (RpcServer, STATE_IN_SEEN,
                               STATE_OUT_MDN_RCVD, new_devicetoken,
                               register_devicetoken, setup_pair)
from coitest.imap import COI_ENABLED, COI_MESSAGE_FILTER, quote, tokenize
from coitest.deltachat_notifier import Notifier

CHATS = "COI/Chats"
# "vanilla" is the baseline: users without any COI plugin
MODES = ["vanilla", "off", "none", "seen"]


@pytest.fixture
def rpc(tmp_path):
    with RpcServer(str(tmp_path / "accounts")) as rpc:
        yield rpc


# -- the server side -----------------------------------------------------

def mailbox_messages(imap, mailbox):
    """{Message-ID: set of flags} of the messages in mailbox."""
    imap.ok("EXAMINE", quote(mailbox))
    resp = imap.command("FETCH", "1:*",
                        "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    for line in resp.untagged:
        toks = tokenize(line)
        if len(toks) < 4 or toks[2].upper() != b"FETCH":
            continue
        data = dict(zip(toks[3][0::2], toks[3][1::2]))
        header = [v for k, v in data.items() if k.upper().startswith(b"BODY[")]
        mid = header[0].split(b":", 1)[1].strip().strip(b"<>").decode()
        assert mid not in out, "%s twice in %s" % (mid, mailbox)
        out[mid] = {f.decode() for f in data[b"FLAGS"]} - {"\\Recent"}
    return out


def server_state(imap):
    """{Message-ID: (mailbox, flags)} over all mailboxes; a message in two
    mailboxes fails."""
    state = {}
    for box, attrs in imap.list().items():
        if {"\\Noselect", "\\NonExistent"} & attrs:
            continue
        for mid, flags in mailbox_messages(imap, box).items():
            assert mid not in state, "%s in %s and %s" % (
                mid, state[mid][0], box)
            state[mid] = (box, flags)
    return state


def deliveries(server, offset, user):
    """{Message-ID: mailbox} of what LMTP saved for user since offset."""
    pattern = re.compile(r"lmtp\(%s\)<.*msgid=<([^>]*)>: saved mail to (.*)$"
                         % re.escape(user))
    out = {}
    for line in server.log_since(offset).splitlines():
        m = pattern.search(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def wait_until(what, probe, timeout=20):
    """Polls probe() (a look at server state) until it returns (True,
    value), then returns value; on timeout fails naming what it waited for
    and the last value seen."""
    deadline = time.time() + timeout
    while True:
        done, value = probe()
        if done:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after %ss waiting for %s; "
                                 "last seen: %r" % (timeout, what, value))
        time.sleep(0.1)


# -- the Delta Chat side -------------------------------------------------

def new_users(server, mode):
    if mode == "vanilla":
        return [server.new_vanilla_user(), server.new_vanilla_user()]
    return [server.new_user(), server.new_user()]


def set_coi_mode(imap_connect, addr, mode):
    """COI as a COI client on another device of the user would set it."""
    imap = imap_connect(addr)
    if mode in ("vanilla", "off"):
        # nobody enabled COI: the state every user starts in
        assert imap.getmetadata("", COI_ENABLED) == {COI_ENABLED: None}
        return
    imap.ok("SETMETADATA", '""', "(%s yes)" % COI_ENABLED)
    imap.ok("SETMETADATA", '""', "(%s %s)" % (COI_MESSAGE_FILTER, mode))


def send_and_read(sender, receiver, text):
    """sender sends text; receiver gets it encrypted and marks it read;
    sender gets the read receipt. Returns the Message-ID."""
    msg_id = sender.account.misc_send_text_message(sender.chat_id, text)
    sender.account.wait_for("MsgDelivered", msgId=msg_id)

    incoming = receiver.account.wait_for("IncomingMsg",
                                         chatId=receiver.chat_id)
    msg = receiver.account.get_message(incoming["msgId"])
    assert msg["text"] == text
    assert msg["showPadlock"], "not shown as encrypted: %r" % msg
    assert msg["fromId"] == receiver.contact_id

    receiver.account.markseen_msgs([msg["id"]])
    assert receiver.account.get_message(msg["id"])["state"] == STATE_IN_SEEN

    sender.account.wait_for("MsgRead", msgId=msg_id)
    assert sender.account.get_message(msg_id)["state"] == STATE_OUT_MDN_RCVD
    receipts = sender.account.get_message_read_receipts(msg_id)
    assert [r["contactId"] for r in receipts] == [sender.contact_id]

    mid = sender.account.get_message_info_object(msg_id)["rfc724Mid"]
    assert receiver.account.get_message_info_object(
        msg["id"])["rfc724Mid"] == mid
    return mid


def chat_texts(peer):
    """The texts of the non-info messages in peer's chat, in order."""
    ids = peer.account.get_message_ids(peer.chat_id, False, False)
    msgs = peer.account.get_messages(ids)
    return [msgs[str(i)]["text"] for i in ids
            if not msgs[str(i)]["isInfo"]]


# -- the test ------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_deltachat_encrypted_chat(server, rpc, imap_connect, mode):
    log_offset = server.log_size()
    addrs = new_users(server, mode)
    for addr in addrs:
        set_coi_mode(imap_connect, addr, mode)

    alice, bob = setup_pair(server, rpc, addrs)
    texts = ["hello Alice, from Bob", "hello Bob, from Alice"]
    chat_mids = [send_and_read(bob, alice, texts[0]),
                 send_and_read(alice, bob, texts[1])]

    # what the core shows: each message exactly once, in order (a move
    # on the server must not make it fetch a message again)
    for peer in (alice, bob):
        assert chat_texts(peer) == texts

    chats_box = CHATS if mode == "seen" else "INBOX"
    for peer in (alice, bob):
        imap = imap_connect(peer.addr)

        # Both chat messages (one received, one the own bcc_self copy) end
        # up \Seen by Delta Chat, in INBOX or, in seen mode, moved to
        # COI/Chats. The core stores \Seen on its own schedule: wait.
        def chats_filed():
            state = server_state(imap)
            return all(state.get(mid, (None, set()))[0] == chats_box and
                       "\\Seen" in state[mid][1]
                       for mid in chat_mids), state
        state = wait_until("%s: the chat messages \\Seen in %s"
                           % (peer.addr, chats_box), chats_filed)

        # Where LMTP put every message: INBOX, whatever the mode (Delta
        # Chat only watches INBOX; "seen" moves only after reading).
        delivered = deliveries(server, log_offset, peer.addr)
        assert set(chat_mids) <= set(delivered)
        assert set(delivered.values()) == {"INBOX"}, delivered

        # No mail lost: what is gone is exactly what the core deleted.
        gone = [mid for mid in delivered
                if mid not in state or "\\Deleted" in state[mid][1]]
        assert len(gone) == peer.deleted_uids, (gone, state)

        boxes = imap.list()
        kept = {mid: state[mid] for mid in delivered if mid not in gone}
        if mode in ("vanilla", "off"):
            # COI off: Delta Chat's mailbox looks as on any server
            assert not [b for b in boxes if b.startswith("COI")], boxes
            assert all(box == "INBOX" and "$Chat" not in flags
                       for box, flags in kept.values()), kept
        else:
            # every Delta Chat message is a chat (Chat-Version)
            assert all("$Chat" in flags for _, flags in kept.values()), kept
        if mode == "none":
            assert all(box == "INBOX" for box, _ in kept.values()), kept
        if mode == "seen":
            # read means moved; unread (e.g. the peer's read receipts,
            # which Delta Chat never marks \Seen) stays in INBOX
            for box, flags in kept.values():
                assert (box == CHATS) == ("\\Seen" in flags), kept


def test_deltachat_message_wakes_the_recipients_device(server, rpc,
                                                       imap_connect):
    """Push end to end with real Delta Chat traffic: Bob's device token is
    registered with the exact command Delta Chat sends (the desktop core
    has no push token of its own to register), and a message Alice's core
    sends makes the coi-push service POST Bob's token to the notifier.
    Alice, who registered nothing, is never notified."""
    with Notifier() as notifier:
        fields = {"coi_deltachat_notify_url": notifier.notify_url}
        addrs = [server.new_custom_user(fields) for _ in range(2)]
        alice, bob = setup_pair(server, rpc, addrs)
        imap = imap_connect(bob.addr)
        assert "XDELTAPUSH" in imap.capabilities()
        token = new_devicetoken()
        assert register_devicetoken(imap, token).status == "OK"

        send_and_read(alice, bob, "wake up, Bob")
        req = notifier.wait_for_requests(token, 1)[0]
        assert req.ok and req.body == token.encode(), req.problems
        assert {r.token for r in notifier.requests()} == {token}
