"""The userspace wire of an emulated link, run as a process of its own by ``SlowLink``.

    python -m bench.lib.wire DEVICE CLIENT_NS SERVER_NS ONE_WAY_SECONDS MAX_IN_FLIGHT

It holds the TUN device DEVICE in each of the two network namespaces, reads every packet the
kernel sends out of one end and writes it into the other end ONE_WAY_SECONDS later, in order,
so that both ends' TCP stacks see the round trip. Past MAX_IN_FLIGHT bytes held in one
direction it drops packets. Prints "ready" once both ends are open; answers a "stats" line on
stdin with a JSON line of its counters; leaves at the end of its input.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import struct
import sys
import time
from collections import deque
from fcntl import ioctl

from bench.lib.netns import setns

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x01, 0x02, 0x04, 0x08
VNET_HDR_LEN = 10  # struct virtio_net_hdr, the default size
READ_SIZE = VNET_HDR_LEN + (1 << 16) + 256


def _open_tun(namespace: str, device: str) -> int:
    """The TUN device ``device`` in ``namespace``, opened non-blocking, with offloads on."""
    setns(namespace)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    ioctl(fd, TUNSETIFF, struct.pack("16sH22x", device.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
    return fd


def run(device: str, client_ns: str, server_ns: str, one_way: float, max_in_flight: int) -> None:
    """Read packets from either end, write each into the other end ``one_way`` seconds
    later, in order. Answers 'stats' lines on stdin with a JSON line; leaves at end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the wire ends
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # a link keeps time even on a busy machine
    except OSError:
        pass
    ends = [_open_tun(client_ns, device), _open_tun(server_ns, device)]
    os.set_blocking(0, False)
    print("ready", flush=True)
    held: list[deque] = [deque(), deque()]  # per direction: (due, packet)
    held_bytes = [0, 0]
    moved = [0, 0]
    packets = [0, 0]
    drops = [0, 0]
    poller = select.epoll()
    for fd in ends:
        poller.register(fd, select.EPOLLIN)
    poller.register(0, select.EPOLLIN)
    clock = time.monotonic
    stdin_buffer = b""
    while True:
        now = clock()
        # Release what is due (0.2 ms early at most, to keep to the clock's tick).
        for direction in (0, 1):
            queue, out = held[direction], ends[1 - direction]
            while queue and queue[0][0] <= now + 0.0002:
                packet = queue.popleft()[1]
                held_bytes[direction] -= len(packet) - VNET_HDR_LEN
                try:
                    os.write(out, packet)
                except OSError:  # e.g. the end is down: the packet is lost
                    drops[direction] += 1
        heads = [q[0][0] for q in held if q]
        timeout = max(0.0, min(heads) - clock()) if heads else -1
        for fd, _ in poller.poll(timeout):
            if fd == 0:
                try:
                    data = os.read(0, 4096)
                except BlockingIOError:
                    continue
                if not data:
                    return
                stdin_buffer += data
                while b"\n" in stdin_buffer:
                    line, stdin_buffer = stdin_buffer.split(b"\n", 1)
                    if line.strip() == b"stats":
                        cpu = os.times()
                        print(
                            json.dumps(
                                {
                                    "bytes": moved,
                                    "packets": packets,
                                    "drops": drops,
                                    "cpu_seconds": cpu.user + cpu.system,
                                    "user": cpu.user,
                                    "system": cpu.system,
                                }
                            ),
                            flush=True,
                        )
                continue
            direction = ends.index(fd)
            queue = held[direction]
            due = clock() + one_way
            for _ in range(256):  # then let the other side have its turn
                try:
                    packet = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno in (errno.EIO, errno.EBADFD):
                        break
                    raise
                size = len(packet) - VNET_HDR_LEN
                if held_bytes[direction] + size > max_in_flight:
                    drops[direction] += 1
                    continue
                queue.append((due, packet))
                held_bytes[direction] += size
                moved[direction] += size
                packets[direction] += 1


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
