"""A discard endpoint for ``make bench``: an S3-compatible server that costs almost nothing.

Debian's nginx answers the S3 calls an uploader makes (bucket checks, PutObject, the multipart
calls, an empty listing) with fixed, valid minimal responses and throws every request body
away, so what a benchmark measures is the client's own cost, not a storage server's::

    with DiscardEndpoint() as d:
        run_tool(d.https_url, ca_file=d.ca_file)     # or d.http_url
        assert d.requests()["UploadPart"] == 256

* Both HTTPS (a certificate for IP 127.0.0.1 and localhost from a CA made per run with
  ``trustme``: trust ``ca_file``) and plain HTTP, on free ports of 127.0.0.1 only.
* Path-style addressing only (``/bucket/key``): clients must be told to use path style
  (boto3 ``Config(s3={"addressing_style": "path"})``, rclone ``force_path_style``, ...).
* Any bucket exists, no object does (HeadObject and GetObject answer 404), every listing is
  empty. Credentials and signatures are not checked: any dummy keys work.
* Checksums are not verified. ``x-amz-checksum-*`` request headers are echoed in the response
  (clients may compare the echo), also inside CompleteMultipartUpload's XML. Checksums sent
  as aws-chunked trailers cannot be echoed (nginx never sees the trailer's value); the bodies
  are accepted all the same.
* ETags are fixed: ``"<MD5 of nothing>-1"`` for PutObject and CompleteMultipartUpload, the
  MD5 of nothing for UploadPart. PutObject's is deliberately not a plain MD5: rclone compares
  a 32-hex-digit ETag with the MD5 of the file it sent (and fails, "md5 hashes differ"), while
  it takes any other ETag as opaque, as for SSE-KMS or multipart objects ("Dst hash empty").

``ensure_nginx()`` finds the binary, installing Debian's ``nginx-light`` with apt-get when it
is missing and the caller is root. On a machine whose init system starts services, installing
the package also starts the system-wide nginx on port 80; this module never uses it.

``python -m bench.lib.discard`` starts an endpoint and prints its URLs until interrupted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from bench.lib.discard_config import nginx_config

# Credentials for a tool sent to the endpoint (it checks none); nothing from the caller's AWS setup.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "BENCHDISCARD",
    "AWS_SECRET_ACCESS_KEY": "not-checked",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def data_requests(counts: dict[str, int]) -> int:
    """The requests that carry data (PutObject, UploadPart) among ``counts`` (``requests()``)."""
    return counts.get("PutObject", 0) + counts.get("UploadPart", 0)


def ensure_nginx() -> str:
    """Path of the nginx binary; installs Debian's nginx-light (as root) when it is missing."""
    found = _find_nginx()
    if found:
        return found
    if not shutil.which("apt-get"):
        raise RuntimeError("nginx is not installed and apt-get is not available: install nginx (Debian's nginx-light)")
    if os.geteuid() != 0:
        raise RuntimeError("nginx is not installed: run `apt-get install nginx-light` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "nginx-light"]):
        run = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if run.returncode != 0:
            last = [line for line in run.stdout.splitlines() if line.strip()][-1:] or ["no output"]
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {run.returncode}): {last[0].strip()}")
    found = _find_nginx()
    if not found:
        raise RuntimeError("apt-get installed nginx-light but no nginx binary was found")
    return found


def _find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _die_with_parent():
    """A preexec_fn that has the kernel SIGTERM nginx's master when the thread that started
    it dies (PR_SET_PDEATHSIG), so a killed benchmark leaves no nginx behind; None off Linux."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class LogEntry:
    method: str
    operation: str
    status: int
    request_length: int  # request line and headers (nginx leaves a discarded body out)
    connection: int  # nginx's serial number of the connection
    connection_requests: int  # this request's position on its connection (1 = first)
    uri: str


class DiscardEndpoint:
    """with DiscardEndpoint() as d: d.https_url, d.http_url, d.ca_file"""

    START_TIMEOUT = 10.0

    def __init__(self, workdir: str | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.https_url = self.http_url = self.ca_file = ""
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> DiscardEndpoint:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._proc is not None:
            return
        began = time.monotonic()
        nginx = ensure_nginx()
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="bulkup-discard-")
        self.workdir = os.path.abspath(self.workdir)
        for sub in ("logs", "tmp"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        cert, key = self._make_certificates()
        error = ""
        for _ in range(5):  # a free port can be taken before nginx binds it: try again
            https_port, http_port = _free_ports(2)
            conf = os.path.join(self.workdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_config(self.workdir, https_port, http_port, cert, key))
            for name in ("access.log", "error.log"):
                open(os.path.join(self.workdir, "logs", name), "w").close()
            out = open(os.path.join(self.workdir, "logs", "nginx.out"), "w")
            self._proc = subprocess.Popen(
                [nginx, "-p", self.workdir + "/", "-c", conf, "-e", os.path.join(self.workdir, "logs", "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
            out.close()
            error = self._wait_listening(https_port, http_port)
            if not error:
                self.https_url = f"https://127.0.0.1:{https_port}"
                self.http_url = f"http://127.0.0.1:{http_port}"
                self.startup_seconds = time.monotonic() - began
                return
            self._kill()
            if "Address already in use" not in error:
                break
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        raise RuntimeError(f"nginx did not start: {error}")

    def _make_certificates(self) -> tuple[str, str]:
        import trustme

        ca = trustme.CA(organization_name="bulkup bench discard CA")
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = os.path.join(self.workdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        cert, key = os.path.join(self.workdir, "server.pem"), os.path.join(self.workdir, "server.key")
        with open(cert, "wb") as f:
            for blob in server.cert_chain_pems:
                f.write(blob.bytes())
        server.private_key_pem.write_to_path(key)
        os.chmod(key, 0o600)
        return cert, key

    def _wait_listening(self, *ports: int) -> str:
        """'' once nginx accepts connections on every port, else why it did not."""
        deadline = time.monotonic() + self.START_TIMEOUT
        pending = list(ports)
        while pending:
            if self._proc.poll() is not None:
                return self._startup_error() or f"nginx exited with status {self._proc.returncode}"
            try:
                with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.2):
                    pending.pop(0)
                    continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                return f"not listening after {self.START_TIMEOUT:g} s"
            time.sleep(0.005)
        return ""

    def _startup_error(self) -> str:
        lines = []
        for name in ("nginx.out", "error.log"):
            try:
                with open(os.path.join(self.workdir, "logs", name)) as f:
                    lines += [ln.strip() for ln in f if "[emerg]" in ln or "[alert]" in ln or "[crit]" in ln]
            except OSError:
                pass
        return lines[-1] if lines else ""

    def stop(self) -> None:
        if self._proc is None:
            return
        self._kill()
        if self._own_workdir and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # fast shutdown: the worker exits too
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # -- the access log ----------------------------------------------------------------

    def flush_log(self, timeout: float = 2.0) -> None:
        """Make nginx write out its buffered access log (SIGUSR1 makes it reopen its logs,
        flushing the buffers first; the worker notes "reopening logs" just before it does)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        error_log = os.path.join(self.workdir, "logs", "error.log")
        master = self._proc.pid
        before = _count_reopens(error_log, master)
        self._proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while _count_reopens(error_log, master) <= before and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # the worker flushes right after its note

    def mark(self) -> int:
        """Where the log ends now: ``requests(since=mark())`` later counts only what came after."""
        self.flush_log()
        return os.path.getsize(os.path.join(self.workdir, "logs", "access.log"))

    def log(self, since: int = 0) -> list[LogEntry]:
        """Every request answered so far (after the ``mark()`` ``since``), in order."""
        self.flush_log()
        entries = []
        with open(os.path.join(self.workdir, "logs", "access.log")) as f:
            f.seek(since)
            for line in f:
                parts = line.rstrip("\n").split(" ", 6)
                if len(parts) == 7:
                    entries.append(
                        LogEntry(
                            parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4]), int(parts[5]), parts[6]
                        )
                    )
        return entries

    def requests(self, since: int = 0) -> dict[str, int]:
        """Requests answered so far (after the ``mark()`` ``since``), counted by S3 operation
        (method + query pattern); "Unsupported" counts requests the endpoint answered with 501."""
        counts: dict[str, int] = {}
        for entry in self.log(since):
            counts[entry.operation] = counts.get(entry.operation, 0) + 1
        return counts

    def bytes_read(self) -> int:
        """Bytes nginx's worker has read with read(2) so far: over HTTPS (OpenSSL reads the
        socket with read(2)) this counts every byte received, bodies included, so a benchmark
        can check a tool really sent its data. Plain HTTP is read with recv(2), which the
        kernel does not count here (and nginx's $request_length leaves discarded bodies out)."""
        total = 0
        for pid in _children(self._proc.pid) if self._proc else []:
            try:
                with open(f"/proc/{pid}/io") as f:
                    total += next(int(ln.split()[1]) for ln in f if ln.startswith("rchar:"))
            except (OSError, StopIteration, ValueError):
                pass
        return total

    def nginx_cpu_seconds(self) -> float:
        """User+system CPU seconds the running nginx (master and worker) has used so far."""
        if self._proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self._proc.pid] + _children(self._proc.pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total


_REOPEN = re.compile(r" (\d+)#\d+: reopening logs$")


def _count_reopens(path: str, master: int) -> int:
    """How often a worker (not the master ``master``) noted "reopening logs"."""
    try:
        with open(path) as f:
            return sum(1 for line in f if (m := _REOPEN.search(line.rstrip())) and int(m.group(1)) != master)
    except OSError:
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main() -> int:
    with DiscardEndpoint() as d:
        print(
            f"https: {d.https_url}  (CA: {d.ca_file})\nhttp:  {d.http_url}\n"
            f"started in {d.startup_seconds * 1000:.0f} ms; path-style only, any credentials; "
            "Ctrl-C stops",
            flush=True,
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        print(d.requests())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
