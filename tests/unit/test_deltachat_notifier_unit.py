"""The local Delta Chat notifier (coitest.deltachat_notifier) checked on
its own, so that a mistake in it is not mistaken for one of the coi-push
service in test_devicetoken.py.  Only the Notifier listens here."""

import http.client
import urllib.parse

import pytest

from coitest.deltachat_notifier import Notifier


@pytest.fixture
def notifier():
    with Notifier() as service:
        yield service


def post(notifier, body, path=None):
    """POSTs body as the coi-push service does; the answer's status."""
    url = urllib.parse.urlsplit(notifier.notify_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request("POST", path or url.path, body=body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_token_is_recorded_and_answered_200(notifier):
    assert post(notifier, b"token-a") == 200
    req, = notifier.wait_for_requests("token-a", 1, timeout=5)
    assert req.ok, req.problems
    assert (req.token, req.path, req.status) == ("token-a", "/notify", 200)
    assert "token='token-a'" in repr(req)


def test_requests_are_filtered_by_token(notifier):
    for body in (b"a", b"b", b"a"):
        post(notifier, body)
    assert [r.index for r in notifier.requests("a")] == [1, 3]
    assert [r.token for r in notifier.requests()] == ["a", "b", "a"]
    notifier.assert_no_more_requests("b", 1, seconds=0.1)


def test_per_token_scripting_comes_before_the_service_wide(notifier):
    notifier.respond(503)
    notifier.for_token("gone").respond(410)
    notifier.for_token("flaky").respond_sequence([500])
    assert [post(notifier, b"gone"), post(notifier, b"flaky"),
            post(notifier, b"flaky"), post(notifier, b"other")] == [
                410, 500, 503, 503]
    # the same object scripts the token every time
    assert notifier.for_token("gone") is notifier.for_token("gone")


def test_wrong_path_and_empty_body_are_problems(notifier):
    post(notifier, b"", path="/elsewhere")
    req, = notifier.wait_for_requests(None, 1, timeout=5)
    assert req.problems == ["POST to /elsewhere, not /notify", "empty body"]
    assert req.status == 200
