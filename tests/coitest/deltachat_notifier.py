"""A local Delta Chat notifier: the counterpart of
https://notifications.delta.chat/notify that the coi-push service POSTs a
device token to when a registered device should wake up."""

from coitest.scripted_http import (
    Headers, RecordedRequest, Response, ScriptedHttpService,
    ScriptedResponses)


class NotifyRequest(RecordedRequest):
    """One POST received by the notifier: a RecordedRequest and token, the
    body as text (the device token the request is for)."""

    def __init__(self, index, method, path, endpoint, headers, body,
                 received, client_address):
        super().__init__(index, method, path, endpoint, headers, body,
                         received, client_address)
        self.token = body.decode("utf-8", "replace")

    def _detail(self):
        return " token=%r" % self.token


class Notifier(ScriptedHttpService):
    """Every POST carries one device token as its raw body.  Answers 200
    unless scripted: for every token with respond()/hang()/
    respond_sequence() of the service, or for one token with
    for_token(token).respond(...).  requests(token),
    wait_for_requests(token, count) and assert_no_more_requests(token,
    count) filter by token (None: every request)."""

    def __init__(self, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self._tokens = {}

    @property
    def notify_url(self):
        return self.origin + "/notify"

    def for_token(self, token):
        """The response scripting of one token."""
        with self._cond:
            scripted = self._tokens.get(token)
            if scripted is None:
                scripted = ScriptedResponses(self._cond)
                self._tokens[token] = scripted
            return scripted

    def _matches(self, req, token):
        return token is None or req.token == token

    def _new_request(self, index, handler, path, body, received):
        req = NotifyRequest(index, handler.command, path, self.origin + path,
                            Headers(handler.headers.items()), body, received,
                            handler.client_address)
        if req.path != "/notify":
            req.problems.append("POST to %s, not /notify" % req.path)
        if not req.body:
            req.problems.append("empty body")
        return req

    def _next_response(self, req):
        with self._cond:
            scripted = self._tokens.get(req.token)
            per_token = scripted._take() if scripted is not None else None
            return per_token or self._take() or Response(200)
