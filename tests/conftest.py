import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "client"))

from coitest.server import DevServer, SERVER_SCRIPT  # noqa: E402
from coitest.imap import Imap  # noqa: E402

# tests/package installs the Debian package into the system: only
# tests/package/run, which builds the package, collects it.
collect_ignore = [] if os.environ.get("COI_PACKAGE_DEB") else ["package"]

# ./test --sanitize: Dovecot's processes load modules built with ASan and
# UBSan (COI_MODULES), and so do the tools the tests run (doveadm,
# dovecot-lda, sievec), which get the same environment from here.
SANITIZE_LOG = os.environ.get("COI_SANITIZE_LOG")
if SANITIZE_LOG:
    import subprocess
    _out = subprocess.run([SERVER_SCRIPT, "sanitize-env"], check=True,
                          capture_output=True, text=True).stdout
    os.environ.update(line.split("=", 1) for line in _out.splitlines())


def sanitizer_reports():
    if not SANITIZE_LOG or not os.path.isdir(SANITIZE_LOG):
        return set()
    return set(os.listdir(SANITIZE_LOG))


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """With ./test --sanitize: any report written while a test ran fails
    it, with the report."""
    before = sanitizer_reports()
    yield
    new = sorted(sanitizer_reports() - before)
    if new:
        texts = []
        for name in new:
            with open(os.path.join(SANITIZE_LOG, name),
                      errors="replace") as f:
                texts.append("== %s\n%s" % (name, f.read()[:6000]))
        pytest.fail("sanitizer reports:\n" + "\n".join(texts))


@pytest.fixture(scope="session")
def server():
    """One private Dovecot + Postfix for the whole test session."""
    srv = DevServer()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(autouse=True)
def resync_changes_nothing(request):
    """After every test that used the server: an index rebuild of every
    mailbox of every user the test made changes nothing. A move or an
    expunge that reached only the index, not the mail files, fails here."""
    if "server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("server")
    first = len(server.users)
    yield
    for name in server.users[first:]:
        if not os.path.isdir(server.home(name)):
            continue
        before, after = server.resync_changes(name)
        assert after == before, \
            "force-resync of %s changed its mail (%s)" % (
                name, server.mail_format)


@pytest.fixture
def user(server):
    """A fresh user with the COI plugins: tests never share mail state."""
    return server.new_user()


@pytest.fixture
def vanilla_user(server):
    """A fresh user without any COI plugin."""
    return server.new_vanilla_user()


@pytest.fixture
def imap_connect(server):
    """imap_connect(user) -> logged-in Imap; closed after the test."""
    conns = []

    def connect(login=None):
        conn = Imap(server.host, server.imap_port)
        conns.append(conn)
        if login is not None:
            conn.login(login)
        return conn

    yield connect
    for conn in conns:
        conn.logout()


@pytest.fixture
def imap(imap_connect, user):
    return imap_connect(user)


@pytest.fixture
def push():
    """A local WebPush push service (coitest.webpush_receiver) on
    loopback."""
    from coitest.webpush_receiver import PushService
    with PushService() as service:
        yield service
