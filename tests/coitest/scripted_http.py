"""A loopback HTTP/1.1 server that records every POST and answers as a
test scripts it: the common ground of the WebPush receiver
(webpush_receiver.PushService) and the Delta Chat notifier
(deltachat_notifier.Notifier).

ScriptedHttpService does the listening, recording, waiting and answering;
a subclass says how a request is taken apart (_new_request), which
scripted answer it gets (_next_response) and what a test's filter in
requests()/wait_for_requests() means (_matches).  Answers are scripted with
ScriptedResponses: a FIFO of one-shot responses, then a persistent default.
"""

import collections
import http.server
import itertools
import socket
import threading
import time
import urllib.parse


class Headers:
    """Request headers in arrival order; names are case-insensitive."""

    def __init__(self, pairs):
        self._pairs = [(str(k), str(v)) for k, v in pairs]

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self._pairs:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self._pairs if k.lower() == name]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._pairs)

    def keys(self):
        return [k for k, _ in self._pairs]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % self._pairs


class RecordedRequest:
    """One POST received by a service.

    index (1, 2, ... in arrival order), method, path, endpoint (the URL as
    the client addressed it), headers (Headers, names case-insensitive),
    body (bytes), received (time.time() once the body was read),
    client_address.  response: the Response chosen; status: the status
    sent (None while delayed or when hung); answered: time sent.
    problems: every protocol violation found, as strings; ok: none."""

    def __init__(self, index, method, path, endpoint, headers, body,
                 received, client_address):
        self.index = index
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.headers = headers
        self.body = body
        self.received = received
        self.client_address = client_address
        self.response = None
        self.status = None
        self.answered = None
        self.problems = []

    @property
    def ok(self):
        """True when none of the checks found a problem."""
        return not self.problems

    def _detail(self):
        """What a subclass adds to repr(): " name=value"."""
        return ""

    def __repr__(self):
        return ("%s(#%d %s %s status=%s problems=%r%s)"
                % (type(self).__name__, self.index, self.method, self.path,
                   self.status, self.problems, self._detail()))


class Response:
    """One scripted answer.  status: HTTP status (201 adds a Location
    header); retry_after: value of a Retry-After header (seconds or an
    HTTP date); delay: seconds to wait before answering; hang: never
    answer (the connection is closed only when the service stops);
    headers: extra response headers; body: response body bytes."""

    def __init__(self, status=201, retry_after=None, delay=0.0, hang=False,
                 headers=None, body=b""):
        self.status = status
        self.retry_after = retry_after
        self.delay = delay
        self.hang = hang
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else body

    @classmethod
    def make(cls, item):
        if isinstance(item, Response):
            return item
        if isinstance(item, bool):
            raise TypeError("not a response: %r" % (item,))
        if isinstance(item, int):
            return cls(item)
        if item == "hang":
            return cls(hang=True)
        if isinstance(item, dict):
            return cls(**item)
        raise TypeError("not a response: %r" % (item,))

    def __repr__(self):
        if self.hang:
            return "Response(hang)"
        return "Response(%d%s%s)" % (
            self.status,
            ", retry_after=%s" % self.retry_after
            if self.retry_after is not None else "",
            ", delay=%s" % self.delay if self.delay else "")


class ScriptedResponses:
    """What one party (a whole service, a subscription, a token) answers:
    a FIFO of one-shot responses, then a persistent default.  lock is the
    service's condition, so that scripting and answering never race."""

    def __init__(self, lock):
        self._lock = lock
        self._queue = collections.deque()
        self._default = None

    def _set(self, response, once):
        with self._lock:
            if once:
                self._queue.append(response)
            else:
                self._default = response

    def respond(self, status=201, retry_after=None, delay=0.0, headers=None,
                body=b"", once=False):
        """Answer with status from now on (once=True: queue it for the next
        request only)."""
        self._set(Response(status, retry_after, delay, False, headers, body),
                  once)

    def respond_sequence(self, items):
        """Queue one-shot responses, used in order by the next requests;
        items are status ints, "hang", dicts of Response arguments or
        Response objects.  Afterwards the default applies again."""
        responses = [Response.make(i) for i in items]
        with self._lock:
            self._queue.extend(responses)

    def delay(self, seconds, status=201, once=False):
        """Answer status after seconds (from now on, or once)."""
        self._set(Response(status, delay=seconds), once)

    def hang(self, once=False):
        """Never answer (from now on, or once) until the service stops."""
        self._set(Response(hang=True), once)

    def reset_responses(self):
        """Forget queued responses and the default set here."""
        with self._lock:
            self._queue.clear()
            self._default = None

    def pending_responses(self):
        """How many one-shot responses are still queued."""
        with self._lock:
            return len(self._queue)

    def _take(self):
        """The next one-shot response, else the default, else None; the
        caller holds the lock."""
        if self._queue:
            return self._queue.popleft()
        return self._default


class PushTimeout(AssertionError):
    """Fewer requests arrived than a test waited for."""


def read_body(headers, rfile):
    """The request body, Content-Length or chunked; ValueError when the
    framing is broken (the connection cannot be trusted after that)."""
    te = headers.get("Transfer-Encoding")
    if te is not None:
        if te.strip().lower() != "chunked":
            raise ValueError("unsupported Transfer-Encoding %r" % te)
        chunks = []
        while True:
            line = rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise ValueError("bad chunk size line")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunk = rfile.read(size)
            if len(chunk) != size or rfile.readline(1024).strip():
                raise ValueError("truncated chunk")
            chunks.append(chunk)
    length = headers.get("Content-Length")
    if length is None:
        return b""
    length = int(length)
    if length < 0:
        raise ValueError("negative Content-Length")
    body = rfile.read(length)
    if len(body) != length:
        raise ValueError("body shorter than Content-Length")
    return body


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "coitest-push/1.0"

    def setup(self):
        super().setup()
        self.server.service._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.service._track(self.connection, False)

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.server.service._handle(self)

    def _not_allowed(self):
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed


class ScriptedHttpService(ScriptedResponses):
    """The listening, recording and answering of a loopback service; its
    own ScriptedResponses are the service-wide ones.  Use it as a context
    manager, or start() and stop()."""

    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.port = port
        self._cond = threading.Condition()
        super().__init__(self._cond)
        self._requests = []
        self._conns = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self._counter = itertools.count(1)

    # -- what a subclass decides
    def _new_request(self, index, handler, path, body, received):
        """The RecordedRequest for a POST, its checks done."""
        raise NotImplementedError

    def _next_response(self, req):
        """The Response for req."""
        raise NotImplementedError

    def _matches(self, req, what):
        """Whether req is one of those a test asked for with what (None:
        every request)."""
        raise NotImplementedError

    # -- lifecycle
    def start(self):
        if self._httpd is not None:
            raise RuntimeError("%s already started" % type(self).__name__)
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.service = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="%s-%d" % (type(self).__name__, self.port), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening, releases hanging and delayed requests (their
        connections are closed without an answer) and closes every open
        connection.  Returns promptly; safe to call twice."""
        if self._httpd is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def origin(self):
        return "http://%s:%d" % (self.host, self.port)

    # -- recorded requests
    def requests(self, what=None):
        """Requests recorded so far, oldest first: all of them (what None)
        or those matching what."""
        with self._cond:
            return [r for r in self._requests if self._matches(r, what)]

    def wait_for_requests(self, what=None, count=1, timeout=10.0):
        """Waits until at least count requests matched what (as in
        requests()) and returns all of them; PushTimeout (an
        AssertionError) after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._requests if self._matches(r, what)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._cond.wait(left)
        if len(found) < count:
            raise PushTimeout("%d push request(s) for %s after %.1f s, "
                              "wanted %d: %r" % (len(found), what, timeout,
                                                 count, found))
        return found

    def assert_no_more_requests(self, what=None, count=0, seconds=1.0):
        """Waits seconds and asserts that no more than count requests
        matched what by then; returns them."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while True:
                found = [r for r in self._requests if self._matches(r, what)]
                left = deadline - time.monotonic()
                if len(found) > count or left <= 0:
                    break
                self._cond.wait(left)
        assert len(found) <= count, (
            "expected at most %d push request(s) for %s, got %r"
            % (count, what, found))
        return found

    # -- request handling
    def _track(self, conn, add):
        with self._cond:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _handle(self, handler):
        try:
            body = read_body(handler.headers, handler.rfile)
        except ValueError:
            handler.close_connection = True
            handler.send_error(400)
            return
        received = time.time()
        path = urllib.parse.urlsplit(handler.path).path
        req = self._new_request(next(self._counter), handler, path, body,
                                received)
        response = self._next_response(req)
        with self._cond:
            req.response = response
            self._requests.append(req)
            self._cond.notify_all()
        self._answer(handler, req, response)

    def _answer(self, handler, req, response):
        if response.hang:
            self._stopping.wait()
            handler.close_connection = True
            return
        if response.delay and self._stopping.wait(response.delay):
            handler.close_connection = True
            return
        try:
            handler.send_response(response.status)
            if response.status == 201:
                handler.send_header("Location",
                                    "/message/%d" % req.index)
            if response.retry_after is not None:
                handler.send_header("Retry-After", str(response.retry_after))
            for name, value in response.headers.items():
                handler.send_header(name, str(value))
            handler.send_header("Content-Length", str(len(response.body)))
            # recorded before the client can see the answer
            with self._cond:
                req.status = response.status
                req.answered = time.time()
                self._cond.notify_all()
            handler.end_headers()
            handler.wfile.write(response.body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True
