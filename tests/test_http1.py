"""HTTP/1.1 framing, without a network: what a write exchange sends and how answers are read."""

import pytest

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
