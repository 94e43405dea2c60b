"""Encoded JSON answers: serialised once, signed, gzipped once, cached.

An `Answer` is a response body as it is sent: its JSON text, an `ETag`
(a hash of the text) and, once a client that accepts gzip asked for it,
its gzip. A heatmap's answer is most of a megabyte of base64 that gzip
barely shrinks; compressing it for every request (as `http_util.Respond`
would) cost ~25 ms of each poll, and the ETag lets a browser that has the
answer revalidate it and get a 304 with no body.

An answer's flags (today only "stale") are its first members, serialised
apart from the rest: `with_flags` gives the same body with other flags,
sharing the body's text. `AnswerCache` keeps answers within a count and a
byte budget, least recently used first out.
"""

import collections
import gzip
import hashlib
import json
import threading

from tensorboard.backend import http_util
from werkzeug import wrappers

JSON = "application/json"


class Answer:
    """One JSON object answer: `{**flags, **body}` as sent."""

    def __init__(self, members, flags=None):
        # members: the body's JSON text without its opening brace.
        self._members = members
        self._flags = dict(flags or {})
        head = "{"
        if self._flags:
            head = json.dumps(self._flags, separators=(",", ":"))[:-1]
            head += "," if members != "}" else ""
        self._head = head
        digest = hashlib.blake2b(digest_size=12)
        digest.update(head.encode("utf-8"))
        digest.update(members.encode("utf-8"))
        self.etag = digest.hexdigest()
        self._gzipped = None
        # What a cache holds for it: the text and room for its gzip, which
        # is never much larger (deflate stores what it cannot shrink).
        self.cost = 2 * (len(head) + len(members)) + 64

    @property
    def text(self):
        return self._head + self._members

    def with_flags(self, **flags):
        """The same body with these flags instead (the body's text is
        shared, not copied)."""
        return Answer(self._members, flags)

    def gzipped(self):
        if self._gzipped is None:
            # Two requests at once may both compress: same bytes, no harm.
            self._gzipped = gzip.compress(self.text.encode("utf-8"),
                                          compresslevel=3, mtime=0)
        return self._gzipped


def json_answer(body, **flags):
    """The `Answer` of a JSON-ready dict (with `flags` as its first
    members). Every non-finite float must already be one of jsonsafe's
    strings: allow_nan=False refuses a bare NaN."""
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    return Answer(text[1:], flags)


def respond(request, answer, etag=True):
    """The werkzeug response sending `answer`: 304 with no body when the
    request's If-None-Match names it, gzipped when the client accepts it.
    Every answer carries its Content-Type, the 304 included. Without
    `etag`, the answer is sent without one (an answer made afresh for
    each request, like the run list, is not revalidated)."""
    headers = [("ETag", '"%s"' % answer.etag)] if etag else []
    if etag and request.if_none_match.contains(answer.etag):
        # The browser revalidates (answers are no-cache) and has this one.
        sent = http_util.Respond(request, b"", JSON, code=304,
                                 headers=headers)
        return _NotModified(status=304, headers=sent.headers)
    if request.accept_encodings["gzip"]:
        return http_util.Respond(request, answer.gzipped(), JSON,
                                 content_encoding="gzip", headers=headers)
    return http_util.Respond(request, answer.text, JSON, headers=headers)


class _NotModified(wrappers.Response):
    """A 304 that keeps its Content-Type: werkzeug drops a 304's entity
    headers, and TensorBoard's security check then logs "Content-Type is
    required on a Response" for it (an error from TensorBoard 3.0 on)."""

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        headers["Content-Type"] = self.headers.get("Content-Type", JSON)
        return headers


class AnswerCache:
    """Answers by key, at most `size` of them and `max_bytes` of their
    cost; the least recently used go first. Thread-safe."""

    def __init__(self, size, max_bytes):
        self._size = size
        self._max_bytes = max_bytes
        self._answers = collections.OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, key):
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key, answer):
        """Keeps `answer` under `key` (unless one is there already, which
        is returned instead) and evicts what exceeds the budget."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None:
                return kept
            self._answers[key] = answer
            self.nbytes += answer.cost
            while self._answers and (len(self._answers) > self._size
                                     or self.nbytes > self._max_bytes):
                _, old = self._answers.popitem(last=False)
                self.nbytes -= old.cost
        return answer

    def forget(self, predicate):
        """Drops every answer whose key `predicate` is true of."""
        with self._lock:
            for key in [k for k in self._answers if predicate(k)]:
                self.nbytes -= self._answers.pop(key).cost

    def values(self):
        with self._lock:
            return list(self._answers.values())
