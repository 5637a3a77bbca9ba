"""The reference client's message handling, without a server."""

import email
import email.policy
import os

import pytest

from coiclient import CoiClient, first_message_id, is_chat_message


def headers(text):
    return email.message_from_string(text + "\n\nbody\n",
                                     policy=email.policy.default)


@pytest.mark.parametrize("value,expected", [
    ("<a@b>", "a@b"),
    ("  <a@b> <c@d>", "a@b"),
    ("(comment) <a@b>", "a@b"),
    ("< chat$x@y>", "chat$x@y"),
    ("no brackets", None),
    ("", None),
    (None, None),
])
def test_first_message_id(value, expected):
    assert first_message_id(value) == expected


@pytest.mark.parametrize("text,chat", [
    ("Chat-Version: 1.0", True),
    ("chat-version: 1.0", True),
    ("Message-ID: <chat$1@x>", True),
    ("Message-ID: <xchat$1@x>", False),
    ("References: <chat$1@x> <a@b>", True),
    ("References: <a@b> <chat$1@x>", False),
    ("In-Reply-To: <chat$1@x>", False),
    ("Subject: chat$", False),
])
def test_is_chat_message(text, chat):
    assert is_chat_message(headers(text)) is chat


def make_client():
    return CoiClient(("127.0.0.1", 1), ("127.0.0.1", 2), "alice@example.org",
                     "pass", name="Alice")


def test_compose_follows_the_client_spec():
    msg = make_client().compose("bob@example.org", "Hello World")
    assert msg["Chat-Version"] == "1.0"
    assert msg["Message-ID"].startswith("<chat$")
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Disposition-Notification-To"] == msg["From"]
    assert "alice@example.org" in msg["From"]
    assert msg["Date"]
    assert msg["MIME-Version"] == "1.0"
    assert msg["Content-Type"] == 'text/plain; charset="utf-8"; format="flowed"'
    assert "References" not in msg and "In-Reply-To" not in msg
    assert is_chat_message(msg)
    assert msg.get_content().strip() == "Hello World"


def test_replies_reference_the_first_and_last_message():
    alice = make_client()
    first = alice.compose("bob@example.org", "one")
    second = alice.compose("bob@example.org", "two", reply_to=first)
    assert second["References"] == first["Message-ID"]
    assert second["In-Reply-To"] == first["Message-ID"]
    third = alice.compose("bob@example.org", "three", reply_to=second)
    assert third["References"] == "%s %s" % (first["Message-ID"],
                                             second["Message-ID"])
    assert third["In-Reply-To"] == second["Message-ID"]


def test_unicode_text():
    msg = make_client().compose("bob@example.org", "grüße 👋")
    parsed = email.message_from_bytes(msg.as_bytes(),
                                      policy=email.policy.default)
    assert parsed.get_content().strip() == "grüße 👋"


def test_address_hash_spec_vector():
    from coiclient import address_hash
    expected = ("74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0")
    assert address_hash("john.doe@coi-dev.org") == expected
    assert address_hash(" John.Doe@COI-Dev.org ") == expected


def test_without_header_removes_folded_fields():
    from coiclient import without_header
    raw = (b"From: a@b\r\nCOI-Blocked: yes\r\nCOI-From-Hash:\r\n abc\r\n"
           b"coi-blocked:\r\n yes\r\nSubject: x\r\n\r\nbody\r\n")
    assert without_header(raw, "COI-Blocked") == (
        b"From: a@b\r\nCOI-From-Hash:\r\n abc\r\nSubject: x\r\n\r\nbody\r\n")


def test_header_addresses():
    from coiclient import header_addresses
    h = headers("From: A <A@X.org>, b@y.org\nFrom: c@z.org")
    assert header_addresses(h) == ["a@x.org", "b@y.org", "c@z.org"]


@pytest.mark.parametrize("address, valid", [
    ("alice@example.org", True),
    ("Alice.B+tag@Example.ORG", True),
    ("not an address", False),
    ("", False),
    ("@example.org", False),
    ("alice@", False),
    ("a,b@example.org", False),
    ('"quoted"@example.org', False),
    ("<alice@example.org>", False),
    ("alice@example.org\n", False),
    ("a" * 250 + "@x.org", False),
])
def test_address_is_valid_as_the_server(address, valid):
    from coiclient import address_is_valid
    assert address_is_valid(address) is valid


def test_parse_hostport():
    from coiclient import UsageError, parse_hostport
    assert parse_hostport(None, "d.example", 143) == ("d.example", 143)
    assert parse_hostport("h.example", "d", 143) == ("h.example", 143)
    assert parse_hostport("h.example:1143", "d", 143) == ("h.example", 1143)
    assert parse_hostport("[2001:db8::1]:993", "d", 1) == ("2001:db8::1", 993)
    for bad in ("h:x", "h:0", "h:70000", "a:b:c"):
        with pytest.raises(UsageError):
            parse_hostport(bad, "d", 143)


def test_push_decryption_rfc8291_vector():
    """The check's reader of WebPush messages against RFC 8291 Appendix
    A (../shared/specs/rfc8291-vector.txt)."""
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric import ec
    from coicheck import PushKeys, b64u_decode
    keys = PushKeys()
    keys.private = ec.derive_private_key(int.from_bytes(b64u_decode(
        "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"), "big"),
        ec.SECP256R1())
    keys.public_raw = b64u_decode(
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7"
        "Vd8pZGH6SRpkNtoIAiw4")
    keys.auth_raw = b64u_decode("BTBZMqHH6r4Tts7J_aSIgg")
    body = b64u_decode(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMo"
        "ZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf"
        "1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    assert keys.decrypt(body) == b"When I grow up, I want to be a watermelon"


def test_report_exit_code_counts_only_must():
    from coicheck import Report
    rep = Report("h:1", "u@example.org")
    rep.add("a", "SHOULD", "s", "fail", "x")
    rep.add("b", "MAY", "s", "fail", "x")
    rep.add("c", "MUST", "s", "skip", "why")
    assert not rep.must_failed
    rep.add("d", "MUST", "s", "fail", "x")
    assert [c.id for c in rep.must_failed] == ["d"]
    assert rep.as_dict()["summary"] == {"pass": 0, "fail": 3, "skip": 1,
                                        "must_failed": 1}


def test_a_server_that_is_not_imap_gets_one_line():
    """A server that greets and says BYE to the first command: exit 3,
    one line, no traceback."""
    import socket
    import subprocess
    import sys
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)

    def serve():
        conn, _ = srv.accept()
        conn.sendall(b"* OK hello\r\n")
        conn.recv(100)
        conn.sendall(b"* BYE not really IMAP\r\n")
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    client = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "client", "coi-client")
    res = subprocess.run(
        [sys.executable, client, "--imap", "127.0.0.1:%d" %
         srv.getsockname()[1], "--user", "a@b.example", "--password", "x",
         "list"], capture_output=True, text=True, timeout=60)
    srv.close()
    assert res.returncode == 3
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "did not answer as an IMAP server" in res.stderr, res.stderr
