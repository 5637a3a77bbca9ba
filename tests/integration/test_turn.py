"""TURN credentials for Delta Chat calls (/shared/vendor/deltachat/turn)
against the real coturn the development server starts (Debian's coturn,
use-auth-secret with the secret in $COI_STATE_DIR/turn/secret): the
credentials from GETMETADATA allocate a relay with coturn's own client
(turnutils_uclient), expired and tampered ones are refused, the secret
appears in no answer and no log, and the real Delta Chat core reads the
entry into its ICE servers."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from coitest.deltachat import Account, RpcServer
from coitest.imap import Imap
from coitest.server import PASSWORD, DevServer, settings_conf

TURN = "/shared/vendor/deltachat/turn"
# scripts/coi-server: coi_deltachat_turn_lifetime is not set there
DEFAULT_LIFETIME = 5 * 24 * 3600


@pytest.fixture(scope="module", autouse=True)
def coturn(server):
    if shutil.which("turnserver") is None:
        pytest.fail("coturn is not installed: scripts/install-deps --test")
    assert os.path.exists(os.path.join(server.state_dir, "turn",
                                       "turnserver.pid")), \
        "the development server did not start coturn"


def turn_secret(server):
    with open(os.path.join(server.state_dir, "turn", "secret")) as f:
        return f.read().strip()


def get_turn(imap_connect, user):
    value = imap_connect(user).getmetadata("", TURN)[TURN]
    return None if value is None else value.decode()


def parse(value):
    """As Delta Chat reads it (calls.rs): HOST:PORT:EXPIRY:PASSWORD."""
    host, port, expiry, password = value.split(":", 3)
    return host, int(port), int(expiry), password


def password_for(secret, username):
    return base64.b64encode(hmac.new(secret.encode(), username.encode(),
                                     hashlib.sha1).digest()).decode()


def allocate(host, port, username, password):
    """coturn's test client: allocates a relay with the credentials and
    sends a few packets through it to a second allocation (-y). Returns
    (succeeded, output)."""
    res = subprocess.run(
        ["turnutils_uclient", "-p", str(port), "-u", username,
         "-w", password, "-e", host, "-n", "1", "-m", "1", "-y", host],
        capture_output=True, text=True, timeout=60)
    out = res.stdout + res.stderr
    return res.returncode == 0 and "Cannot complete Allocation" not in out, out


def test_credentials_allocate_a_relay(server, imap_connect, user):
    before = int(time.time())
    value = get_turn(imap_connect, user)
    after = int(time.time())
    assert value is not None
    host, port, expiry, password = parse(value)
    assert (host, port) == ("127.0.0.1", server.turn_port)
    assert before + DEFAULT_LIFETIME <= expiry <= after + DEFAULT_LIFETIME
    # coturn's scheme: the user name is the expiry time
    assert password == password_for(turn_secret(server), str(expiry))
    ok, out = allocate(host, port, str(expiry), password)
    assert ok, out
    # and the packets went through the relays
    relayed = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)$",
                         out, re.M)
    assert relayed and int(relayed[-1][1]) > 0, out


def test_tampered_credentials_are_refused(server, imap_connect, user):
    host, port, expiry, password = parse(get_turn(imap_connect, user))
    # another password
    tampered = password[:-2] + ("A=" if password[-2] != "A" else "B=")
    ok, out = allocate(host, port, str(expiry), tampered)
    assert not ok, out
    # a later expiry with the password of this one
    ok, out = allocate(host, port, str(expiry + 3600), password)
    assert not ok, out


def test_expired_credentials_are_refused(server, imap_connect):
    user = server.new_custom_user({"coi_deltachat_turn_lifetime": "2s"})
    host, port, expiry, password = parse(get_turn(imap_connect, user))
    assert expiry - time.time() <= 2
    time.sleep(max(0.0, expiry - time.time()) + 1.5)
    ok, out = allocate(host, port, str(expiry), password)
    assert not ok, out


@pytest.fixture(scope="module")
def inline_secret_server():
    """A second development server whose secret is in the settings
    (coi_deltachat_turn_secret) instead of the file."""
    secret = "inline-" + os.urandom(8).hex()
    srv = DevServer(extra_conf=settings_conf({
        "coi_deltachat_turn_secret": secret,
        "coi_deltachat_turn_secret_file": "",
        "coi_deltachat_turn_lifetime": "1d"}))
    # its coturn keeps a secret it finds (scripts/coi-server): the same
    os.makedirs(os.path.join(srv.state_dir, "turn"))
    with open(os.path.join(srv.state_dir, "turn", "secret"), "w") as f:
        f.write(secret + "\n")
    srv.start()
    srv.secret = secret
    yield srv
    srv.cleanup()


def test_secret_in_the_settings(inline_secret_server):
    """The secret is in no answer and no log line."""
    server = inline_secret_server
    user = server.new_user()
    imap = Imap(server.host, server.imap_port)
    try:
        imap.login(user)
        value = imap.getmetadata("", TURN)[TURN].decode()
        host, port, expiry, password = parse(value)
        assert expiry - time.time() <= 86400
        assert password == password_for(server.secret, str(expiry))
        everything = imap.command("GETMETADATA", "(DEPTH infinity)", '""',
                                  "(/shared /private)")
        assert everything.status == "OK"
        assert server.secret not in repr(everything.untagged)
    finally:
        imap.logout()
    ok, out = allocate(host, port, str(expiry), password)
    assert ok, out
    with open(server.log_path()) as f:
        assert server.secret not in f.read()


def test_unreadable_secret_file(server, imap_connect):
    """An administrator's mistake: NIL for the client (Delta Chat then
    uses its own servers), an error in the log naming the file."""
    missing = os.path.join(server.state_dir, "turn", "no-such-secret")
    user = server.new_custom_user(
        {"coi_deltachat_turn_secret_file": missing})
    offset = server.log_size()
    imap = imap_connect(user)
    got = imap.getmetadata("", TURN, "/shared/vendor/deltachat/irohrelay")
    assert got == {TURN: None, "/shared/vendor/deltachat/irohrelay": None}
    assert server.wait_for_log(offset, "coi: Delta Chat TURN credentials")
    log = server.log_since(offset)
    assert missing in log and "does not exist" in log
    assert turn_secret(server) not in server.log_since(offset)


def test_incomplete_settings(server, imap_connect):
    """Both a secret and a secret file: refused, logged, NIL."""
    offset = server.log_size()
    user = server.new_custom_user({"coi_deltachat_turn_secret": "xyz"})
    assert get_turn(imap_connect, user) is None
    assert server.wait_for_log(offset, "coi_deltachat_turn_secret_file "
                               "are both set")
    assert "xyz" not in server.log_since(offset)


def test_static_entry_applies_instead(server, imap_connect):
    user = server.new_custom_user(
        {"coi_deltachat_turn": "turn.example.org:3478:1900000000:pw"})
    assert get_turn(imap_connect, user) == \
        "turn.example.org:3478:1900000000:pw"


def test_users_without_the_plugin(server, imap_connect, vanilla_user):
    assert get_turn(imap_connect, vanilla_user) is None


def test_deltachat_core_reads_the_entry(server, imap_connect, tmp_path):
    """The real core fetches the entry at its first connection and offers
    our coturn, with these credentials, as its only ICE server."""
    user = server.new_user()
    with RpcServer(str(tmp_path / "accounts")) as rpc:
        account = Account(rpc)
        account.configure_plain(user, PASSWORD, server.host,
                                server.imap_port, server.smtp_port)
        account.wait_for("ImapInboxIdle", timeout=60)
        ice = json.loads(account.ice_servers())
        warnings = [e["msg"] for e in rpc.events.get(account.id).items
                    if e["kind"] == "Warning"]
    assert len(ice) == 1, ice
    assert ice[0]["urls"] == ["turn:127.0.0.1:%d" % server.turn_port], ice
    expiry = ice[0]["username"]
    assert ice[0]["credential"] == password_for(turn_secret(server), expiry)
    assert int(expiry) > time.time() + DEFAULT_LIFETIME - 300
    assert not [w for w in warnings if "TURN" in w or "etadata" in w], \
        warnings
