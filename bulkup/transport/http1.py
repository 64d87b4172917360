"""HTTP/1.1 framing for S3 write exchanges, with no I/O: heads to bytes, bytes to responses.

A request is a head and a body of known length; the body never passes through here (a send
engine writes it). A response is delimited by Content-Length, by chunked transfer coding or,
with neither, by the server closing (RFC 9112 section 6.3); interim 1xx answers are skipped.
Anything malformed raises ProtocolError. Kept to what a write exchange needs, so that a
16 KiB PUT costs a few microseconds of framing rather than tens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_HEAD = 64 * 1024  # bytes of status line and headers
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(r"[\x00\r\n]")
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?")
_NO_BODY_STATUSES = {204, 304}
_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WHITESPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() removes
_NAMES_KEPT = 256
_checked_names: dict[str, str] = {}  # header names as sent, seen to be tokens: their lower case
_request_names: set[str] = set()  # methods and header names of requests, seen to be tokens


class ProtocolError(Exception):
    """The peer's bytes are not HTTP/1.1, or a head we were asked to write is not."""


def request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and header block, checked: a name must be a token and no value
    may hold CR, LF or NUL (header injection).

    The usual head is checked whole: names seen before are known tokens, and the head holds
    exactly one CRLF per line and no NUL; anything else is checked line by line
    (``_checked_head``), which also names what is wrong. ~9 regular expressions fewer a
    request."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if name not in _request_names:
            return _checked_head(method, target, headers)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    text = "\r\n".join(lines)  # each line ends in CRLF, the last (empty) one too
    if (
        method not in _request_names
        or " " in target
        or text.count("\n") != len(lines)
        or text.count("\r") != len(lines)
        or "\x00" in text
    ):
        return _checked_head(method, target, headers)
    return text.encode("latin-1")


def _checked_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _UNSAFE_VALUE.search(value):
            raise ProtocolError(f"invalid header {name!r}: a name must be a token, a value one line")
        lines.append(f"{name}: {value}")
        if len(_request_names) < _NAMES_KEPT:
            _request_names.add(name)
    if not _TOKEN.fullmatch(method) or _UNSAFE_VALUE.search(target) or " " in target:
        raise ProtocolError(f"invalid request line {method!r} {target!r}")
    if len(_request_names) < _NAMES_KEPT:
        _request_names.add(method)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


@dataclass
class Response:
    """A complete response; header names lower-case, repeated headers joined by ", "."""

    status: int
    headers: dict[str, str]
    body: bytes
    reason: str = ""


class ResponseReader:
    """Reads one response from bytes as they arrive: ``feed`` until it returns the response
    (``end_of_stream`` when the server closes first).

    ``bodyless``: the request was one whose answer has no body (HEAD, or CONNECT answered
    2xx). After the response, ``keep_alive`` says whether the connection can carry another
    request, and ``trailing`` holds bytes that followed it (data of a tunnel, or garbage).
    """

    def __init__(self, *, bodyless: bool = False, max_body: int = 1 << 20) -> None:
        self.bodyless = bodyless
        self.max_body = max_body
        self.keep_alive = True
        self.trailing = b""
        self._buffer = bytearray()
        self._head: tuple[int, str, dict[str, str]] | None = None
        self._framing: _Framing | None = None

    def feed(self, data: bytes) -> Response | None:
        """Take ``data``; the response once it is complete, else None."""
        self._buffer += data
        if self._head is None and not self._read_head():
            return None
        assert self._head is not None and self._framing is not None  # both set by _read_head
        body = self._framing.read(self._buffer)
        if body is None:
            return None
        self.trailing = self._framing.trailing
        status, reason, headers = self._head
        return Response(status, headers, body, reason)

    def end_of_stream(self) -> Response:
        """The server closed: the response, if closing is what ends its body."""
        self.keep_alive = False
        if self._head is None or not isinstance(self._framing, _UntilClose):
            raise ProtocolError("the server closed the connection before its response ended")
        status, reason, headers = self._head
        return Response(status, headers, self._framing.finish(self._buffer), reason)

    def _read_head(self) -> bool:
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            parsed = _parse_plain_head(buffer[:end].decode("latin-1")) if end >= 0 else None
            if parsed is not None:
                del buffer[: end + 4]
            else:  # no CRLF CRLF yet, or a head the plain reading does not take: the strict one
                found = _END_OF_HEAD.search(buffer)
                if found is None:
                    if len(buffer) > MAX_HEAD:
                        raise ProtocolError(f"response head over {MAX_HEAD} bytes")
                    return False
                head = bytes(buffer[: found.start()])
                del buffer[: found.end()]
                parsed = _parse_head(head)
            version, status, reason, headers = parsed
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and other interim answers: the real one follows
            self._head = (status, reason, headers)
            self._framing = self._framing_for(version, status, headers)
            return True

    def _framing_for(self, version: str, status: int, headers: dict[str, str]) -> _Framing:
        connection = headers.get("connection")
        if connection is None:  # the usual answer: HTTP/1.1 keeps the connection, 1.0 does not
            self.keep_alive = version != "0"
        else:
            tokens = {t.strip().lower() for t in connection.split(",")}
            self.keep_alive = "keep-alive" in tokens if version == "0" else "close" not in tokens
        if self.bodyless or status in _NO_BODY_STATUSES:
            return _Fixed(0, self.max_body)
        if "transfer-encoding" in headers:
            if headers["transfer-encoding"].split(",")[-1].strip().lower() != "chunked":
                self.keep_alive = False
                return _UntilClose(self.max_body)
            return _Chunked(self.max_body)
        if "content-length" in headers:
            return _Fixed(_content_length(headers["content-length"]), self.max_body)
        self.keep_alive = False
        return _UntilClose(self.max_body)


def _parse_plain_head(head: str) -> tuple[str, int, str, dict[str, str]] | None:
    """``head`` (decoded as Latin-1) read as ``_parse_head`` reads it, for a head in the form
    servers send: CRLF line ends only, a status line ``HTTP/1.x NNN reason``, each header
    line a token, a colon and a value. None for anything else (bare CR or LF, line folding,
    a name that is not a token, no colon...), which ``_parse_head`` then reads or refuses.
    One search for CRLF CRLF, one decode and a few string methods instead of regular
    expressions (the search for the head's end alone cost ~5 µs): reading a 9-header S3
    answer takes ~10 µs instead of ~21."""
    lines = head.split("\r\n")
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        return None
    status_line = lines[0]
    code = status_line[9:12]
    if (
        not status_line.startswith("HTTP/1.")
        or status_line[7:8] not in ("0", "1")
        or status_line[8:9] != " "
        or len(code) != 3
        or not (code.isascii() and code.isdigit())
        or status_line[12:13] not in ("", " ")
    ):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        raw_name, colon, value = line.partition(":")
        if not colon:
            return None
        name = _checked_names.get(raw_name)
        if name is None:
            name = raw_name.lower()
            if not name or name.strip(_TOKEN_CHARS):
                return None
            if len(_checked_names) < _NAMES_KEPT:
                _checked_names[raw_name] = name
        text = value.strip(_WHITESPACE)
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return (status_line[7], int(code), status_line[13:], headers)


def _parse_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and name:  # obsolete line folding: one value
            headers[name] += " " + line.strip().decode("latin-1")
            continue
        raw_name, colon, value = line.partition(b":")
        name = raw_name.decode("latin-1").lower()
        if not colon or not _TOKEN.fullmatch(name):
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        text = value.strip().decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return (match.group(1).decode(), int(match.group(2)), (match.group(3) or b"").decode("latin-1"), headers)


def _content_length(value: str) -> int:
    if value.isdigit() and value.isascii() and len(value) <= 4000:  # the usual: one number
        return int(value)
    values = {v.strip() for v in value.split(",")}
    only = values.pop() if len(values) == 1 else ""
    # ASCII digits only ("²" is a digit to str.isdigit), and few enough for int() to take
    if not (only.isascii() and only.isdigit()) or len(only) > 4000:
        raise ProtocolError(f"invalid Content-Length {value[:80]!r}")
    return int(only)


class _Framing:
    """How a response's body ends. It holds no reference to its reader: a reader and its
    framing in a cycle would outlive each answer until the cyclic collector ran, which a
    run makes rare (gctune), so every answer's buffers would pile up."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.trailing = b""  # bytes that followed the body

    def read(self, buffer: bytearray) -> bytes | None:
        """The body once complete (removing it and keeping what follows), else None."""
        raise NotImplementedError

    def _check_size(self, size: int) -> None:
        if size > self.max_body:
            raise ProtocolError(f"response body over {self.max_body} bytes")


class _Fixed(_Framing):
    def __init__(self, length: int, max_body: int) -> None:
        super().__init__(max_body)
        self._check_size(length)
        self.length = length

    def read(self, buffer: bytearray) -> bytes | None:
        if len(buffer) < self.length:
            return None
        body = bytes(buffer[: self.length])
        self.trailing = bytes(buffer[self.length :])
        buffer.clear()
        return body


class _UntilClose(_Framing):
    def read(self, buffer: bytearray) -> bytes | None:
        self._check_size(len(buffer))
        return None

    def finish(self, buffer: bytearray) -> bytes:
        return bytes(buffer)


class _Chunked(_Framing):
    def __init__(self, max_body: int) -> None:
        super().__init__(max_body)
        self.body = bytearray()

    def read(self, buffer: bytearray) -> bytes | None:
        while True:
            line_end = buffer.find(b"\n")
            if line_end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ProtocolError("chunk size line too long")
                return None
            size_text = bytes(buffer[:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"invalid chunk size {size_text[:20]!r}") from None
            if size == 0:
                return self._trailers(buffer, line_end + 1)
            end = line_end + 1 + size
            if len(buffer) < end + 2:
                return None
            if buffer[end : end + 2] != b"\r\n" and buffer[end : end + 1] != b"\n":
                raise ProtocolError("chunk not followed by CRLF")
            self.body += buffer[line_end + 1 : end]
            self._check_size(len(self.body))
            del buffer[: end + (2 if buffer[end : end + 1] == b"\r" else 1)]

    def _trailers(self, buffer: bytearray, start: int) -> bytes | None:
        if buffer[start : start + 2] == b"\r\n" or buffer[start : start + 1] == b"\n":
            end = start + (2 if buffer[start : start + 1] == b"\r" else 1)
        else:
            found = _END_OF_HEAD.search(buffer, start)
            if found is None:
                return None
            end = found.end()
        self.trailing = bytes(buffer[end:])
        buffer.clear()
        return bytes(self.body)
