"""A small driver for the real Delta Chat core (deltachat-rpc-server).

The server is the binary of the npm package @deltachat/stdio-rpc-server,
installed by scripts/install-deps --test (the pinned version is there). It
speaks JSON-RPC 2.0 on stdin/stdout, one JSON object per line; its data
directory is $DC_ACCOUNTS_PATH. Method names and parameters are those of
deltachat-jsonrpc (the TypeScript client in @deltachat/jsonrpc-client lists
them all): rpc.call("misc_send_text_message", account_id, chat_id, text).

Events are pulled with get_next_event_batch by a background thread and kept
per account, so a test can wait for an event that already happened: every
wait_for() takes the first matching event not taken before."""

import base64
import json
import os
import subprocess
import threading
import time
from collections import deque

from coitest.server import PASSWORD

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RPC_SERVER_PATH_FILE = os.path.join(TOP, ".build", "deltachat", "rpc-server-path")

# Message.state values (deltachat constants)
STATE_IN_FRESH = 10
STATE_IN_NOTICED = 13
STATE_IN_SEEN = 16
STATE_OUT_DELIVERED = 26
STATE_OUT_MDN_RCVD = 28


def new_devicetoken(prefix="openpgp:"):
    """A push token like current Delta Chat cores register: "openpgp:" and
    base64 of an encrypted blob, about 800 octets."""
    return prefix + base64.b64encode(os.urandom(600)).decode()


def register_devicetoken(imap, token):
    """Replays the exact command Delta Chat sends to register its push
    token (a LITERAL+ literal) on a coitest.imap.Imap; returns the tagged
    response."""
    tag = imap.next_tag()
    data = token.encode()
    imap.send(b'%s SETMETADATA "INBOX" (/private/devicetoken {%d+}\r\n%s)\r\n'
              % (tag.encode(), len(data), data))
    return imap._finish(tag, [])


class RpcError(Exception):
    pass


def rpc_server_path():
    """The deltachat-rpc-server binary: $DELTACHAT_RPC_SERVER, else the one
    scripts/install-deps --test installed. Raises RpcError saying how to
    get it when there is none."""
    path = os.environ.get("DELTACHAT_RPC_SERVER")
    if not path:
        try:
            with open(RPC_SERVER_PATH_FILE) as f:
                path = f.read().strip()
        except OSError:
            raise RpcError(
                "the Delta Chat core is not installed (%s is missing): "
                "run scripts/install-deps --test" % RPC_SERVER_PATH_FILE)
    if not os.access(path, os.X_OK):
        raise RpcError("deltachat-rpc-server %s is not executable: run "
                       "scripts/install-deps --test" % path)
    return path


class _Events:
    """The events of one account, in arrival order."""

    def __init__(self):
        self.items = []
        self.taken = set()


class RpcServer:
    """One deltachat-rpc-server process with its own accounts directory."""

    def __init__(self, accounts_dir, binary=None):
        self.accounts_dir = accounts_dir
        self.binary = binary or rpc_server_path()
        self.proc = None
        self.next_id = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.results = {}
        self.events = {}
        self.closed = False
        self.stderr_tail = deque(maxlen=50)
        self.log_tail = deque(maxlen=200)

    # -- process -------------------------------------------------------
    def start(self):
        env = dict(os.environ, DC_ACCOUNTS_PATH=self.accounts_dir,
                   RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        # (the sanitizer runtime of ./test --sanitize is for our modules)
        env.pop("LD_PRELOAD", None)
        self.proc = subprocess.Popen(
            [self.binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.version = self.call("get_system_info")["deltachat_core_version"]
        threading.Thread(target=self._pump_events, daemon=True).start()
        return self

    def close(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.call("stop_io_for_all_accounts", timeout=15)
        except RpcError:
            pass
        with self.lock:
            self.closed = True
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _read_stdout(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if "id" in msg:
                    self.results[msg["id"]] = msg
                    self.cond.notify_all()
        with self.lock:
            self.closed = True
            self.cond.notify_all()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    def _pump_events(self):
        while True:
            try:
                batch = self.call("get_next_event_batch", timeout=None)
            except RpcError:
                return
            with self.lock:
                for item in batch:
                    event = item["event"]
                    if event["kind"] in ("Info", "Warning", "Error"):
                        self.log_tail.append("[%s] %s %s" % (
                            item["contextId"], event["kind"], event["msg"]))
                    self.events.setdefault(item["contextId"],
                                           _Events()).items.append(event)
                self.cond.notify_all()

    def diagnostics(self):
        """The last core log lines and stderr, for failure messages."""
        return "core log:\n%s\nstderr:\n%s" % (
            "\n".join(list(self.log_tail)[-60:]),
            "\n".join(self.stderr_tail))

    # -- JSON-RPC ------------------------------------------------------
    def call(self, method, *params, timeout=60):
        with self.lock:
            if self.closed:
                raise RpcError("deltachat-rpc-server is gone (%s)" % method)
            self.next_id += 1
            req_id = self.next_id
            data = json.dumps({"jsonrpc": "2.0", "id": req_id,
                               "method": method, "params": list(params)})
            self.proc.stdin.write(data.encode() + b"\n")
            self.proc.stdin.flush()
            deadline = None if timeout is None else time.time() + timeout
            while req_id not in self.results:
                if self.closed:
                    raise RpcError("deltachat-rpc-server exited during %s"
                                   % method)
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    raise RpcError("%s: no answer in %ss" % (method, timeout))
                self.cond.wait(left)
            resp = self.results.pop(req_id)
        if "error" in resp:
            raise RpcError("%s%r: %s" % (method, params, resp["error"]))
        return resp.get("result")

    # -- events --------------------------------------------------------
    def wait_for(self, account_id, kind, timeout=30, **fields):
        """The first event of kind for account_id, not returned before,
        whose fields equal the given ones (e.g. msgId=5); waits up to
        timeout seconds for it."""
        deadline = time.time() + timeout
        with self.lock:
            events = self.events.setdefault(account_id, _Events())
            while True:
                for i, event in enumerate(events.items):
                    if i in events.taken or event["kind"] != kind:
                        continue
                    if all(event.get(k) == v for k, v in fields.items()):
                        events.taken.add(i)
                        return event
                left = deadline - time.time()
                if left <= 0 or self.closed:
                    break
                self.cond.wait(left)
        raise AssertionError(
            "account %d: no %s event %r within %ss\n%s" % (
                account_id, kind, fields, timeout, self.diagnostics()))

    def seen_kinds(self, account_id):
        with self.lock:
            return {e["kind"] for e in
                    self.events.get(account_id, _Events()).items}

    def log_lines(self):
        with self.lock:
            return list(self.log_tail)


class Account:
    """One Delta Chat account (profile) in an RpcServer."""

    def __init__(self, rpc, account_id=None):
        self.rpc = rpc
        self.addr = None
        self.id = account_id if account_id is not None else \
            rpc.call("add_account")

    def __getattr__(self, method):
        """account.get_message(msg_id) = rpc.call("get_message", id, msg_id)"""
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*params, **kw):
            return self.rpc.call(method, self.id, *params, **kw)
        return call

    def wait_for(self, kind, timeout=30, **fields):
        return self.rpc.wait_for(self.id, kind, timeout, **fields)

    def configure_plain(self, addr, password, host, imap_port, smtp_port,
                        config=None):
        """Sets config (before configuring, so the first connection uses
        it), then configures an account on a server without TLS: plain IMAP
        and SMTP (with AUTH) on the given host and ports; no autoconfig or
        DNS lookups. Starts IO."""
        if config:
            self.batch_set_config(config)
        self.add_or_update_transport({
            "addr": addr, "password": password,
            "imapServer": host, "imapPort": imap_port,
            "imapSecurity": "plain", "imapUser": addr,
            "smtpServer": host, "smtpPort": smtp_port,
            "smtpSecurity": "plain", "smtpUser": addr,
        }, timeout=120)
        assert self.is_configured()
        self.start_io()
        self.addr = addr


# -- two peers in a verified chat (test_deltachat.py, bench_idle.py) -------

# Delta Chat settings that decide what happens to the server copies (see
# test_deltachat.py): keep them, send read receipts
DC_CONFIG = {"bcc_self": "1", "mdns_enabled": "1"}


class Peer:
    def __init__(self, account, addr):
        self.account = account
        self.addr = addr
        self.chat_id = None      # the 1:1 chat with the other peer
        self.contact_id = None   # the other peer as a contact
        self.deleted_uids = 0    # messages the core deleted on the server

    def wait_deleted(self):
        """Waits for the core to delete a message on the server (it
        deletes SecureJoin handshake messages once processed); counts the
        UIDs it names ("IMAP messages 2,5:6 marked as deleted")."""
        event = self.account.wait_for("ImapMessageDeleted")
        uid_set = event["msg"].split()[2]
        for part in uid_set.split(","):
            first, _, last = part.partition(":")
            self.deleted_uids += int(last or first) - int(first) + 1


def setup_pair(server, rpc, addrs):
    """Two configured accounts (Peer) on the server that verified each
    other with SecureJoin, with DC_CONFIG."""
    peers = []
    for addr, name in zip(addrs, ("alice", "bob")):
        account = Account(rpc)
        account.configure_plain(addr, PASSWORD, server.host,
                                server.imap_port, server.smtp_port,
                                dict(DC_CONFIG, displayname=name))
        peers.append(Peer(account, addr))
    alice, bob = peers
    # Delta Chat ignores what INBOX already holds when it first selects it,
    # so a handshake message that arrives before then is never read (with
    # IDLE reporting at once, SecureJoin can be that fast): start once both
    # inbox loops idle
    for peer in peers:
        peer.account.wait_for("ImapInboxIdle", timeout=60)

    # Bob scans Alice's QR code; both ends verify each other's key
    qr = alice.account.get_chat_securejoin_qr_code(None)
    bob.chat_id = bob.account.secure_join(qr)
    done = alice.account.wait_for("SecurejoinInviterProgress", progress=1000)
    alice.chat_id = done["chatId"]
    alice.contact_id = done["contactId"]
    done = bob.account.wait_for("SecurejoinJoinerProgress", progress=1000)
    bob.contact_id = done["contactId"]
    for peer in peers:
        assert peer.account.get_basic_chat_info(peer.chat_id)["isEncrypted"]
        assert peer.account.get_contact(peer.contact_id)["isVerified"]
        # let the core finish its handshake clean-up on the server before
        # the mailboxes are checked
        peer.wait_deleted()
    return alice, bob
