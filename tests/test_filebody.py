"""A part's byte range: read once when one buffer holds it, read again when asked."""

import os
from unittest import mock

from bulkup.transport.filebody import FileBody, FileRange


def reads_during(body: FileBody, passes: int) -> tuple[int, list[bytes]]:
    seen = []
    with mock.patch("os.preadv", wraps=os.preadv) as preadv:
        for _ in range(passes):
            seen.append(b"".join(bytes(chunk) for chunk in body.chunks()))
    return preadv.call_count, seen


def test_a_small_range_is_read_once_for_the_checksum_and_the_send(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(os.urandom(16 * 1024))
    with FileBody(FileRange(path=str(path), offset=0, length=16 * 1024)) as body:
        calls, seen = reads_during(body, 2)
    assert calls == 1 and seen[0] == seen[1] == path.read_bytes()


def test_forget_reads_the_file_again(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(b"a" * 1000)
    with FileBody(FileRange(path=str(path), offset=0, length=1000)) as body:
        list(body.chunks())
        with open(path, "r+b") as f:
            f.write(b"b")
        body.forget()
        calls, [again] = reads_during(body, 1)
    assert calls == 1 and again == b"b" + b"a" * 999


def test_a_range_larger_than_the_buffer_is_read_on_every_pass(tmp_path):
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(3 << 20))
    with FileBody(FileRange(path=str(path), offset=1 << 20, length=2 << 20)) as body:
        calls, seen = reads_during(body, 2)
    assert calls == 4 and seen[0] == seen[1] == path.read_bytes()[1 << 20 :]
