import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "client"))

from coitest.server import DevServer  # noqa: E402
from coitest.imap import Imap  # noqa: E402


@pytest.fixture(scope="session")
def server():
    """One private Dovecot + Postfix for the whole test session."""
    srv = DevServer()
    srv.start()
    yield srv
    srv.cleanup()


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
    """A local WebPush push service (coitest.pushservice) on loopback."""
    from coitest.pushservice import PushService
    with PushService() as service:
        yield service
