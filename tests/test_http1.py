"""HTTP/1.1 framing, without a network: what a write exchange sends and how answers are read."""

import gc
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkup.transport import http1
from bulkup.transport.http1 import ProtocolError, ResponseReader, request_head

OK = b'HTTP/1.1 200 OK\r\nETag: "abc"\r\nx-amz-checksum-crc64nvme: AAAAAAAAAAA=\r\nContent-Length: 0\r\n\r\n'


def read_all(data: bytes, step: int = 0, **options):
    """Feed ``data`` whole, or ``step`` bytes at a time; the response and the reader."""
    reader = ResponseReader(**options)
    pieces = [data] if not step else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        if (response := reader.feed(piece)) is not None:
            return response, reader
    return None, reader


def test_request_head_is_the_request_line_and_headers_ending_in_a_blank_line():
    head = request_head("PUT", "/b/k?partNumber=1&uploadId=x", [("Host", "h:1"), ("Content-Length", "3")])
    assert head == b"PUT /b/k?partNumber=1&uploadId=x HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\n\r\n"


@pytest.mark.parametrize(
    "name, value",
    [("x-amz-meta-a", "v\r\nX-Injected: 1"), ("x-amz-meta-a", "v\nw"), ("bad name", "v"), ("x", "nul\x00")],
)
def test_request_head_refuses_header_injection(name, value):
    with pytest.raises(ProtocolError):
        request_head("PUT", "/k", [(name, value)])


def test_response_headers_are_lower_case_and_the_body_empty():
    response, reader = read_all(OK)
    assert response.status == 200 and response.reason == "OK"
    assert response.headers["etag"] == '"abc"' and response.body == b""
    assert reader.keep_alive and reader.trailing == b""


@pytest.mark.parametrize("step", [1, 7, 64])
def test_a_response_arriving_in_pieces_is_the_same_response(step):
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\n\r\n<Error>denied</Error>"[:-1]
    response, _ = read_all(data, step)
    assert (response.status, response.body) == (403, b"<Error>denied</Error"[:20])


def test_chunked_body_is_joined_and_trailers_skipped():
    data = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\n<Erro\r\nA\r\nr>Bad</Err\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    for step in (0, 1, 3):
        response, reader = read_all(data, step)
        assert response.body == b"<Error>Bad</Err" and reader.keep_alive


def test_interim_100_continue_is_skipped():
    response, _ = read_all(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    assert response.status == 200


def test_connection_close_and_http10_end_keep_alive():
    assert not read_all(OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length"))[1].keep_alive
    assert not read_all(OK.replace(b"HTTP/1.1", b"HTTP/1.0"))[1].keep_alive


def test_a_body_without_length_ends_when_the_server_closes():
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 500 Oops\r\n\r\npartial ") is None
    assert reader.feed(b"answer") is None
    response = reader.end_of_stream()
    assert response.body == b"partial answer" and not reader.keep_alive


def test_closing_before_the_response_ends_is_an_error():
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(ProtocolError, match="before its response ended"):
        reader.end_of_stream()


def test_bodyless_answer_leaves_what_follows_as_trailing():
    response, reader = read_all(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03tls", bodyless=True)
    assert response.status == 200 and reader.trailing == b"\x16\x03\x03tls"


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",  # a digit to str.isdigit, not to int()
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",  # more digits than int() reads
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_responses_are_protocol_errors(data):
    with pytest.raises(ProtocolError):
        read_all(data)


def test_an_oversized_body_or_head_is_refused():
    with pytest.raises(ProtocolError, match="body over"):
        read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n")
    with pytest.raises(ProtocolError, match="head over"):
        read_all(b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70_000)


# The plain reading of a head (CRLF lines, token names) must answer exactly as the strict
# one: the same response, the same error, the same bytes left, for any bytes a server sends.
_HEAD_CHARS = "aAzZ09-_.!~:; \t\r\n\x00\x0b\x0c\x1c\x85\xa0\xb2\xe9\xff\"'="
_NAMES = ["ETag", "etag", "Content-Length", "content-length", "x-amz-request-id", "Connection", "Transfer-Encoding"]
_VALUES = ["0", "7", " 0 ", "0, 0", "1, 2", "close", "keep-alive", "chunked", '"abc"', "\xb2", "\x0b1\x0c", "\xa05\xa0"]
_ENDS = ["\r\n", "\n", "\r", "\r\n ", "\r\n\t", "\n\r\n", "\r\n\r\n", "\n\n", ""]
_statuses = st.one_of(
    st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.0 200 OK", "HTTP/1.1 100 Continue", "HTTP/1.1 204", "HTTP/1.1 500 "]),
    st.builds(
        "HTTP/1.{}{}{}{}".format,
        st.sampled_from(["0", "1", "2", "x", "", "11"]),
        st.sampled_from([" ", "  ", "\t", ""]),
        st.text("0123456789x\xb2 ", max_size=4),
        st.sampled_from(["", " ", " OK", "  OK", " O\rK", "\r", "x"]),
    ),
    st.text(_HEAD_CHARS, max_size=20),
)
_header_lines = st.one_of(
    st.builds(
        "{}{}{}".format,
        st.one_of(st.sampled_from(_NAMES), st.text(_HEAD_CHARS.replace(":", ""), max_size=12)),
        st.sampled_from([":", ": ", " :", "", "::", ":\t"]),
        st.one_of(st.sampled_from(_VALUES), st.text(_HEAD_CHARS, max_size=12)),
    ),
    st.text(_HEAD_CHARS, max_size=20),
)
_plain_lines = st.builds(
    "{}:{}".format,
    st.one_of(
        st.sampled_from(_NAMES), st.text("aAzZ09-_.!~", min_size=1, max_size=8), st.text("aZ9- \t\xe9", max_size=4)
    ),
    st.one_of(st.sampled_from(_VALUES), st.text(_HEAD_CHARS.replace("\r", "").replace("\n", ""), max_size=12)),
)


@st.composite
def _responses(draw) -> bytes:
    """Mostly heads as servers send them, with their values' odd characters, then one
    character changed or put in at random, or any line ends at all."""
    plain = draw(st.booleans())
    if plain:
        text = draw(st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.0 200 OK", "HTTP/1.1 100 Continue", "HTTP/1.1 204"]))
        text += draw(st.sampled_from(["", "", " ", "\t\xa0", " more words", "\x0b"]))
    else:
        text = draw(_statuses)
    for line in draw(st.lists(_plain_lines if plain else _header_lines, max_size=8)):
        text += (draw(st.sampled_from(_ENDS)) if not plain and draw(st.booleans()) else "\r\n") + line
    if plain and text and draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(_HEAD_CHARS)) + text[at + draw(st.integers(0, 1)) :]
    text += draw(st.sampled_from(["\r\n\r\n", "\r\n\r\n", "\n\n", "\r\n\n", "\n\r\n", "\r\n", ""]))
    text += draw(st.sampled_from(["", "body", "\r\n\r\nmore", "HTTP/1.1 200 OK\r\n\r\n"]))
    return text.encode("latin-1")


def _outcome(data: bytes, cut: int, plain: bool):
    """What a reader makes of ``data`` fed in two pieces: its answer and state, or its error."""
    reader = ResponseReader()
    try:
        with mock.patch.object(http1, "_parse_plain_head", http1._parse_plain_head if plain else lambda head: None):
            response = reader.feed(data[:cut]) or reader.feed(data[cut:])
            if response is None:
                response = reader.end_of_stream()
    except ProtocolError as exc:
        return ("error", str(exc))
    return (response, reader.keep_alive, reader.trailing, bytes(reader._buffer))


@settings(max_examples=800, deadline=None)
@given(data=st.one_of(_responses(), st.binary(max_size=80)), cut=st.integers(min_value=0, max_value=200))
def test_the_plain_reading_of_a_head_answers_as_the_strict_one(data, cut):
    assert _outcome(data, cut, plain=True) == _outcome(data, cut, plain=False)


@settings(max_examples=800, deadline=None)
@given(head=_responses())
def test_a_head_the_plain_reading_takes_is_the_one_the_strict_reading_gives(head):
    text = head.decode("latin-1")
    end = text.find("\r\n\r\n")
    text = text[:end] if end >= 0 else text
    plain = http1._parse_plain_head(text)
    if plain is not None:
        assert plain == http1._parse_head(text.encode("latin-1"))


def test_the_plain_reading_takes_a_usual_answer_and_leaves_odd_ones_to_the_strict_one():
    usual = OK[: OK.index(b"\r\n\r\n")].decode("latin-1")
    for same in [usual, usual.replace(" OK", " OK \xa0"), usual + "\r\nEtag:\x0b\xa0x\x0c", usual + "\r\nA:\r\na: 1"]:
        assert http1._parse_plain_head(same) == http1._parse_head(same.encode("latin-1"))
    for odd in [
        usual + "\r\n folded",  # obsolete line folding
        usual.replace("\r\n", "\n", 1),  # a bare LF
        usual + "\r\nX-Odd: a\rb",  # a bare CR
        usual + "\r\nBad Name: v",  # a name that is not a token
        usual + "\r\n: v",  # no name
        usual + "\r\nName : v",  # white space before the colon
        usual + "\r\nno colon",
        usual.replace("HTTP/1.1", "HTTP/1.2"),
        usual.replace("200", "2\xb20"),  # a digit that is not ASCII
    ]:
        assert http1._parse_plain_head(odd) is None


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: 2\r\n\r\nok',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_a_read_answer_leaves_nothing_for_the_cyclic_collector(answer):
    """A run collects cycles rarely (gctune): an answer that only the collector could free
    would stay in memory, once per object."""
    gc.collect()
    gc.disable()
    try:
        reader = ResponseReader()
        assert reader.feed(answer) is not None
        del reader
        assert gc.collect() == 0
    finally:
        gc.enable()


_HEAD_TEXT = st.text(alphabet=st.sampled_from("aZ0-_ :\r\n\x00\t/?=&é"), max_size=12)


@given(
    method=st.sampled_from(["PUT", "GET", "P T", "PUT\r\n"]),
    target=_HEAD_TEXT,
    headers=st.lists(st.tuples(_HEAD_TEXT, _HEAD_TEXT), max_size=4),
)
@settings(max_examples=400)
def test_a_request_head_checked_whole_is_the_one_checked_line_by_line(method, target, headers):
    """The whole-head check refuses and writes exactly what the line-by-line check does,
    before and after the names it knows were learnt."""
    for _ in range(2):
        try:
            expected: bytes | type[ProtocolError] = http1._checked_head(method, target, headers)
        except ProtocolError:
            expected = ProtocolError
        try:
            got: bytes | type[ProtocolError] = request_head(method, target, headers)
        except ProtocolError:
            got = ProtocolError
        assert got == expected
