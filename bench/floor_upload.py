"""The floor of one large upload, measured as a process of its own: the least a client can do.

``python floor_upload.py sendfile URL FILE``: one PUT whose body is one sendfile(2) of the
whole file (the loopback TCP cost of moving the bytes), plus a CRC64NVME pass over it.
``python floor_upload.py write URL FILE``: the same PUT written from an mmap of the file in
1 MiB writes (over loopback this beats sendfile: the receiver copies either way, and page-cache
pages reach it as many small fragments).
``python floor_upload.py tls URL FILE CA``: one PUT written through Python's ``ssl`` from an
mmap of the file in 1 MiB writes (the encryption cost), plus the CRC64NVME pass.
The discard endpoint takes any PUT (it checks no signature). Prints nothing; exit 0 once the
server answered 200.
"""

from __future__ import annotations

import mmap
import os
import socket
import ssl
import sys
from urllib.parse import urlsplit

from awscrt import checksums

MiB = 1 << 20


def crc_pass(view: memoryview) -> int:
    crc = 0
    for start in range(0, len(view), 8 * MiB):
        crc = checksums.crc64nvme(view[start : start + 8 * MiB], crc)
    return crc


def put(mode: str, url: str, path: str, ca: str | None) -> int:
    where = urlsplit(url)
    size = os.path.getsize(path)
    sock = socket.create_connection((where.hostname, where.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca:
        sock = ssl.create_default_context(cafile=ca).wrap_socket(sock, server_hostname=where.hostname)
    head = (
        f"PUT /bench/floor/{os.path.basename(path)} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        crc_pass(view)
        sock.sendall(head)
        if ca or mode == "write":
            for start in range(0, size, MiB):
                sock.sendall(view[start : start + MiB])
        else:
            offset = 0
            while offset < size:
                offset += os.sendfile(sock.fileno(), f.fileno(), offset, size - offset)
        view.release()
    answer = sock.recv(65536)
    sock.close()
    return 0 if answer.startswith(b"HTTP/1.1 200") else 1


if __name__ == "__main__":
    mode, url, path = sys.argv[1:4]
    sys.exit(put(mode, url, path, sys.argv[4] if mode == "tls" else None))
