"""An emulated slow, distant link for ``make bench``: two network namespaces, one for the
client and one for the S3 server, joined by a wire that shapes the rate and delays every
packet, so that the round trip is long while both ends keep their ordinary TCP stacks.

    with SlowLink(rate="1gbit", rtt_ms=100) as link:
        server = subprocess.Popen(link.server_prefix() + ["weed", "server",
                                  f"-ip={link.server_address()}", ...])
        subprocess.run(link.client_prefix() + ["bulkup", "put", ...,
                       "--endpoint-url", f"https://{link.server_address()}:{port}"])

How the link is made, and why so
--------------------------------
The usual recipe is a veth pair with ``tc qdisc ... netem delay`` for the round trip and
``tbf`` for the rate. Kernels built without the queueing disciplines that can hold a packet
back leave no way to delay one in the kernel. A kernel with ``tbf``, ``htb``, ``ingress`` and
``cls_bpf`` but without ``netem``, without ``fq`` or ``etf`` (the qdiscs that honour a departure
time written into a packet by a BPF program, the "EDT" way of delaying) and without
``sch_bpf``, and with no module to load, as the one these benchmarks were first run on, can
shape a veth pair's rate but cannot delay its packets. ``SlowLink`` therefore
checks for netem and uses it when the kernel has it (``delay_method == "netem"``); otherwise
the two ends are joined by a *wire* (``bench.lib.wire``): a small process holding one TUN device
in each namespace, which reads every packet the kernel sends out of one end and writes it into the
other end RTT/2 later (``delay_method == "userspace wire"``).

The wire works on packets, not on connections: the client's TCP talks to the server's TCP
end to end, sees the real round trip, and grows its congestion window and its send and
receive buffers as it would over a long path; a single connection is then limited by its
window over the round trip (with Linux's default buffers, about 3 MB in flight: some
230 Mbit/s at 100 ms, 560 Mbit/s at 40 ms), which is what the benchmark wants to show. A
relay splitting each connection in two would not: the client would see a short round trip.
The rate is ``tbf`` on each end's egress, as with veth. TUN devices carry whole TCP
segmentation-offload packets (up to 64 KiB) to and from the wire, so it handles a few
thousand packets a second at 1 Gbit/s; large packets are handed over unsplit with their
offload header, much as a veth would.

Costs and limits of the wire: it runs at a raised priority (nice -10), so that its timing holds
on a busy machine, and it copies every byte once into and once out of user space, and
the write into the receiving end runs that end's receive path (TCP included) in the wire's
process; ``SlowLink.wire_stats()`` reports its CPU time and the bytes moved, so a benchmark can
show its share. Delays are kept with a resolution of about a millisecond; packets are released
in order, in small bursts. Past ``max_in_flight`` bytes held in one direction the wire drops
packets, like a router's full buffer; ``tbf`` upstream normally keeps it far from that.

TCP settings are set in both namespaces, so that results don't depend on the host's tuning:
Linux's defaults for buffers (``tcp_wmem`` max 4 MiB, ``tcp_rmem`` max 6 MiB; ``tcp_defaults=
False`` inherits the host's). A namespace starts with the host's default congestion control;
``congestion`` picks another, but outside the host's namespace the kernel allows only those in
the host's ``net.ipv4.tcp_allowed_congestion_control``.

Servers run in the server namespace (start them with ``server_prefix()``, or from a thread
inside ``in_server()``) and listen on ``server_address()`` (or on all addresses: that is only
this namespace's loopback and its end of the link); clients run with ``client_prefix()``.
Nothing is exposed in the host's namespace, and the host has no route
to the link's addresses: used from the host's namespace, ``server_address()`` would go to its
default gateway, so always connect from the client namespace. A TLS certificate must name ``server_address()`` as an IP
subject alternative name. Needs root, ``ip`` and ``tc`` from iproute2, and ``/dev/net/tun``
when the kernel has no netem. Everything is removed on leaving the ``with`` block, even after
an error: both namespaces, the devices and queueing disciplines in them, the wire, and any
process still running in either namespace. Namespaces left by a benchmark that was killed are
removed by the next ``SlowLink``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time

from bench.lib import wire
from bench.lib.netns import inside

PREFIX = "bulkup-bench-"
CLIENT_ADDRESS = "10.254.0.2"
SERVER_ADDRESS = "10.254.0.1"
DEVICE = "wire0"

# Linux's defaults, written into both namespaces so that the host's tuning does not leak in.
TCP_WMEM = (4096, 16384, 4 << 20)
TCP_RMEM = (4096, 131072, 6 << 20)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def rate_bytes(rate: str) -> float:
    """'1gbit', '500mbit', '100kbit', '10mbps' (bytes) or a bare number of bits, per second."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(bit|bps)?\s*", rate.lower())
    if not match:
        raise ValueError(f"rate {rate!r}: expected e.g. '1gbit' or '500mbit'")
    value = float(match.group(1)) * 1000 ** " kmgt".index(match.group(2) or " ")
    return value if match.group(3) == "bps" else value / 8


def window_for(rate: str, rtt_ms: float) -> int:
    """The TCP buffer size that holds a connection to about ``rate`` over ``rtt_ms``: the
    window it may have in flight (the kernel advertises about half of a receive buffer as
    window, keeping the rest for its own bookkeeping)."""
    return int(rate_bytes(rate) * rtt_ms / 1000 * 2)


def _netem_available() -> bool:
    """True when this kernel has netem: tried on the loopback of a scratch namespace."""
    name = f"{PREFIX}{os.getpid()}-probe"
    if _run("ip", "netns", "add", name, check=False).returncode != 0:
        return False
    try:
        return (
            _run("tc", "-n", name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", check=False).returncode
            == 0
        )
    finally:
        _run("ip", "netns", "del", name, check=False)


def _pids_in(name: str) -> list[int]:
    proc = _run("ip", "netns", "pids", name, check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def _kill_all_in(names: list[str]) -> None:
    """SIGTERM, a short grace, SIGKILL for whatever still runs in these namespaces."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        pids = [p for name in names for p in _pids_in(name)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_pids_in(n) for n in names):
            time.sleep(0.05)


def remove_stale() -> None:
    """Remove the namespaces (and what runs in them) of SlowLinks whose process is gone."""
    proc = _run("ip", "netns", "list", check=False)
    stale = {}
    for line in proc.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(re.escape(PREFIX) + r"(\d+)-\w+", name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            stale[name] = None
    if stale:
        _kill_all_in(list(stale))
        for name in stale:
            _run("ip", "netns", "del", name, check=False)


class SlowLink:
    """A client namespace and a server namespace joined by a link of ``rate`` (tc syntax,
    e.g. '1gbit') and a round trip of ``rtt_ms``. Use as a context manager."""

    def __init__(
        self,
        rate: str = "1gbit",
        rtt_ms: float = 100.0,
        *,
        congestion: str | None = None,
        tcp_defaults: bool = True,
        max_in_flight: int = 256 << 20,
        force_wire: bool = False,
        per_connection: str | None = None,
    ) -> None:
        self.rate = rate
        self.per_connection = per_connection  # a cap on each connection's rate, e.g. "31mbit"
        self.rtt_ms = float(rtt_ms)
        self.congestion = congestion
        self.tcp_defaults = tcp_defaults
        self.max_in_flight = max_in_flight
        self.force_wire = force_wire
        tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.client_ns = f"{PREFIX}{tag}c"
        self.server_ns = f"{PREFIX}{tag}s"
        self.delay_method = "none"
        self._wire: subprocess.Popen | None = None
        self._wire_lock = threading.Lock()
        self._made: list[str] = []

    # -- what callers use -------------------------------------------------------------
    def client_prefix(self) -> list[str]:
        """Prepend to a command to run it in the client namespace."""
        return ["ip", "netns", "exec", self.client_ns]

    def server_prefix(self) -> list[str]:
        """Prepend to a command to run it in the server namespace."""
        return ["ip", "netns", "exec", self.server_ns]

    def in_server(self):
        """``with link.in_server():`` the calling thread's sockets, and the threads and
        processes it starts meanwhile, are in the server namespace: e.g. start a server there
        with subprocess, or check on it without crossing the link. Other threads are not moved."""
        return inside(self.server_ns)

    def server_address(self) -> str:
        """The server's address, as the client reaches it across the link."""
        return SERVER_ADDRESS

    def wire_stats(self) -> dict:
        """The wire's counters so far: bytes and packets each way, drops, its CPU seconds
        (user + system). Empty when the link has no wire (netem)."""
        with self._wire_lock:
            if self._wire is None or self._wire.poll() is not None:
                return {}
            self._wire.stdin.write("stats\n")
            self._wire.stdin.flush()
            return json.loads(self._wire.stdout.readline())

    def describe(self) -> str:
        return self._describe() + (
            f"; each connection capped near {self.per_connection} (its TCP window over the round trip)"
            if self.per_connection
            else ""
        )

    def _describe(self) -> str:
        return (
            f"{self.rate} each way, {self.rtt_ms:g} ms round trip ({self.delay_method}), "
            f"TCP {self.congestion}"
            f"{', Linux default buffers' if self.tcp_defaults else ''}"
        )

    # -- setting up and tearing down -------------------------------------------------
    def __enter__(self) -> SlowLink:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SlowLink:
        if os.geteuid() != 0:
            raise RuntimeError("SlowLink needs root (network namespaces, tc)")
        remove_stale()
        use_netem = not self.force_wire and _netem_available()
        for name in (self.client_ns, self.server_ns):
            _run("ip", "netns", "add", name)
            self._made.append(name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
            self._tune_tcp(name)
        if use_netem:
            self._veth()
            self.delay_method = "netem"
        else:
            self._start_wire()
            self.delay_method = "userspace wire"
        ends = ((self.client_ns, CLIENT_ADDRESS, SERVER_ADDRESS), (self.server_ns, SERVER_ADDRESS, CLIENT_ADDRESS))
        for name, local, peer in ends:
            _run("ip", "-n", name, "addr", "add", local, "peer", peer, "dev", DEVICE)
            _run("ip", "-n", name, "link", "set", DEVICE, "txqueuelen", "1000", "up")
            self._shape(name, netem=use_netem)
        return self

    def stop(self) -> None:
        if self._wire is not None:
            try:
                self._wire.stdin.close()  # the wire leaves on end of input
            except OSError:
                pass
            try:
                self._wire.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._wire.kill()
                self._wire.wait()
            self._wire = None
        if self._made:
            _kill_all_in(self._made)
            for name in self._made:
                _run("ip", "netns", "del", name, check=False)
            self._made = []

    def _tune_tcp(self, name: str) -> None:
        settings = {}
        if self.tcp_defaults:
            settings["net.ipv4.tcp_wmem"] = " ".join(map(str, TCP_WMEM))
            settings["net.ipv4.tcp_rmem"] = " ".join(map(str, TCP_RMEM))
        if self.per_connection:
            # A connection carries at most its window per round trip: capping the buffers that
            # bound the window caps each connection's rate, as a store's per-connection limit does.
            window = window_for(self.per_connection, self.rtt_ms)
            settings["net.ipv4.tcp_wmem"] = f"4096 {min(window, 16384)} {window}"
            settings["net.ipv4.tcp_rmem"] = f"4096 {min(window, 131072)} {window}"
            settings["net.ipv4.tcp_window_scaling"] = "1"
        if self.congestion:
            settings["net.ipv4.tcp_congestion_control"] = self.congestion
        for key, value in settings.items():
            try:
                _run("ip", "netns", "exec", name, "sysctl", "-q", "-w", f"{key}={value}")
            except RuntimeError as e:
                if key.endswith("congestion_control"):
                    with open("/proc/sys/net/ipv4/tcp_allowed_congestion_control") as f:
                        allowed = f.read().strip()
                    raise RuntimeError(
                        f"congestion control {value!r} is not allowed outside the host's namespace; allowed: {allowed}"
                    ) from e
                raise
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            host = f.read().strip()
        self.congestion = self.congestion or host

    def _veth(self) -> None:
        _run(
            "ip",
            "link",
            "add",
            DEVICE,
            "netns",
            self.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            DEVICE,
            "netns",
            self.server_ns,
        )

    def _start_wire(self) -> None:
        self._wire = subprocess.Popen(
            [
                sys.executable,
                "-m",
                wire.__name__,
                DEVICE,
                self.client_ns,
                self.server_ns,
                str(self.rtt_ms / 2000),
                str(self.max_in_flight),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = self._wire.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the wire did not start ({line.strip() or 'no answer'})")

    def _shape(self, name: str, netem: bool) -> None:
        """tbf at ``rate`` on the device's egress (and netem's half of the round trip before
        it, when the kernel has netem). Burst: 2 ms of the rate, and at least two 64 KiB
        offload packets so that tbf need not split them; queue: one bandwidth-delay product,
        the classic router buffer, at least 1 MiB."""
        rate = rate_bytes(self.rate)
        burst = max(int(rate * 0.002), 160 * 1024)
        limit = max(int(rate * self.rtt_ms / 1000), 1 << 20)
        tbf = ["tbf", "rate", self.rate, "burst", str(burst), "limit", str(limit)]
        if netem:
            # netem holds packets for half the round trip, tbf below it sets the pace.
            packets = max(1000, int(rate * self.rtt_ms / 1000 / 1000))
            _run(
                "tc",
                "-n",
                name,
                "qdisc",
                "add",
                "dev",
                DEVICE,
                "root",
                "handle",
                "1:",
                "netem",
                "delay",
                f"{self.rtt_ms / 2:g}ms",
                "limit",
                str(packets),
            )
            _run("tc", "-n", name, "qdisc", "add", "dev", DEVICE, "parent", "1:1", "handle", "10:", *tbf)
        else:
            _run("tc", "-n", name, "qdisc", "replace", "dev", DEVICE, "root", *tbf)
