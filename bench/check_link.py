"""Self-check of bench/lib/link.py: is the emulated link's round trip real, does one TCP connection
stay under the rate (its window over the round trip), do parallel connections reach it?

    sudo .venv/bin/python -m bench.check_link [--rate 1gbit] [--rtt-ms 100] [--seconds 4]

A discarding sink and an echo server run in the server namespace, a sender in the client
namespace (separate processes, plain Python sockets). Prints one table; exits non-zero when
the round trip is not what was asked or the connections' pattern is not the expected one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

from bench.lib.link import SlowLink, rate_bytes

SINK_PORT, ECHO_PORT = 9000, 9001
CHUNK = 1 << 20


def serve(address: str) -> None:
    """Discard on SINK_PORT, echo on ECHO_PORT, until killed."""

    def discard(conn: socket.socket) -> None:
        buffer = bytearray(CHUNK)
        with conn:
            while conn.recv_into(buffer):
                pass

    def echo(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept(port: int, handler) -> None:
        listener = socket.create_server((address, port), backlog=64)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, args=(ECHO_PORT, echo), daemon=True).start()
    print("listening", flush=True)
    accept(SINK_PORT, discard)


def send(address: str, connections: int, seconds: float, warmup: float) -> None:
    """Send from ``connections`` sockets for ``seconds``; print JSON: the rate between
    ``warmup`` and the end (bytes/s, counted as accepted by the kernel: its send buffers are
    full at both ends of that interval), and the connect and echo round trips."""
    connect_times = []
    socks = []
    for _ in range(connections):
        started = time.perf_counter()
        socks.append(socket.create_connection((address, SINK_PORT)))
        connect_times.append(time.perf_counter() - started)
    with socket.create_connection((address, ECHO_PORT)) as probe:
        probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        echoes = []
        for _ in range(5):
            started = time.perf_counter()
            probe.sendall(b"x")
            probe.recv(1)
            echoes.append(time.perf_counter() - started)
    sent = [0] * connections
    stop = time.monotonic() + seconds

    def pump(i: int) -> None:
        data = memoryview(os.urandom(CHUNK))
        while time.monotonic() < stop:
            socks[i].sendall(data)
            sent[i] += CHUNK

    threads = [threading.Thread(target=pump, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    at_warmup, t0 = sum(sent), time.monotonic()
    time.sleep(seconds - warmup)
    at_end, t1 = sum(sent), time.monotonic()
    print(
        json.dumps(
            {
                "rate": (at_end - at_warmup) / (t1 - t0),
                "connect_ms": statistics.median(connect_times) * 1000,
                "echo_ms": min(echoes) * 1000,
            }
        ),
        flush=True,
    )
    os._exit(0)  # don't wait for the send buffers to drain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="1gbit")
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--congestion", help="e.g. reno or bbr (default: the host's)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--send", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.send:
        send(args.send[0], int(args.send[1]), float(args.send[2]), float(args.send[3]))
        return 0

    me = [sys.executable, "-m", "bench.check_link"]
    rate = rate_bytes(args.rate)
    rows, ok = [], True
    with SlowLink(rate=args.rate, rtt_ms=args.rtt_ms, congestion=args.congestion) as link:
        print(f"link: {link.describe()}")
        server = subprocess.Popen(
            link.server_prefix() + me + ["--serve", link.server_address()], stdout=subprocess.PIPE, text=True
        )
        try:
            server.stdout.readline()
            for n in (int(c) for c in args.connections.split(",")):
                before = link.wire_stats()
                out = subprocess.run(
                    link.client_prefix()
                    + me
                    + ["--send", link.server_address(), str(n), str(args.seconds), str(min(1.5, args.seconds / 3))],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                after = link.wire_stats()
                result = json.loads(out.stdout)
                if before:
                    gib = (sum(after["bytes"]) - sum(before["bytes"])) / (1 << 30)
                    cpu = after["cpu_seconds"] - before["cpu_seconds"]
                    result["wire_cpu_per_gib"] = cpu / gib if gib else float("nan")
                    result["wire_drops"] = sum(after["drops"]) - sum(before["drops"])
                rows.append((n, result))
        finally:
            server.kill()
            server.wait()

    print(f"\n| connections | Mbit/s | share of {args.rate} | connect ms | echo RTT ms | wire CPU-s/GiB | wire drops |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        print(
            f"| {n} | {r['rate'] * 8 / 1e6:.0f} | {r['rate'] / rate:.0%} | {r['connect_ms']:.1f} "
            f"| {r['echo_ms']:.1f} | {r.get('wire_cpu_per_gib', float('nan')):.2f} "
            f"| {r.get('wire_drops', '-')} |"
        )
    for _, r in rows:
        if not 0.9 * args.rtt_ms <= r["echo_ms"] <= 1.3 * args.rtt_ms + 2:
            print(f"FAIL: echo round trip {r['echo_ms']:.1f} ms, expected about {args.rtt_ms:g} ms")
            ok = False
    by_n = dict(rows)
    if len(by_n) >= 2:
        single, most = by_n[min(by_n)]["rate"], by_n[max(by_n)]["rate"]
        if not most > 1.3 * single or most > 1.05 * rate:
            print(f"FAIL: {max(by_n)} connections should beat one and stay under the rate")
            ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
