"""What coordinator and workers say to each other over their pipes: small, picklable.

Tasks carry descriptors (path, offset, length, where to send) and never file bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .request import BucketEndpoint, CredentialSet


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to start sending."""

    region: str
    credentials: CredentialSet
    checksum: str
    engine: str = "userspace"           # resolved by the coordinator (never "auto" here)
    engine_reason: str = ""
    connections: int = 1
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = 60.0
    max_attempts: int = 5
    tls_max_version: str | None = None     # "1.2" or "1.3"; None: the best both sides speak


@dataclass(frozen=True)
class WorkerStart:
    """The first message a worker receives: who it is and how to send."""

    worker: int
    config: WorkerConfig
    tls_endpoint: bool


@dataclass(frozen=True)
class PartTask:
    """Send ``length`` bytes of ``path`` at ``offset`` as one PutObject or UploadPart."""

    task_id: int
    endpoint: BucketEndpoint
    key: str
    path: str
    offset: int
    length: int
    file_size: int
    file_mtime_ns: int
    upload_id: str | None = None       # None: a single PutObject
    part_number: int | None = None
    headers: tuple[tuple[str, str], ...] = ()   # object headers (PutObject only)
    checksum: str | None = None        # a known value to send instead of computing one
    algorithm: str | None = None       # the object's checksum kind, when not the run's


@dataclass(frozen=True)
class NewCredentials:
    """Refreshed credentials for all future requests."""

    credentials: CredentialSet = field(repr=False)


@dataclass(frozen=True)
class WorkerReady:
    worker: int
    pid: int
    engine: str
    engine_label: str
    reason: str
    node: str = ""          # the machine it runs on, when there are several (Ray)


@dataclass(frozen=True)
class PartDone:
    """The server accepted a part; what Complete needs and where it was sent from."""

    task_id: int
    etag: str
    checksum: str | None            # base64, as sent and verified by the server
    worker: int
    pid: int
    connection: str
    request_on_connection: int
    attempts: int
    seconds: float
    path: str = ""                  # data path used, e.g. "kTLS+sendfile"
    fallback: str | None = None     # why the connection fell back from the chosen engine
    ktls_rx: bool = False           # the kernel also decrypted this connection's responses


@dataclass(frozen=True)
class PartError:
    task_id: int
    message: str
    fatal: bool        # no other upload can succeed either (credentials, TLS, bucket)
    code: str = ""


@dataclass(frozen=True)
class PartRetrying:
    """A part failed transiently and will be sent again after a backoff."""

    worker: int
    task_id: int
    attempt: int            # the attempt that failed
    reason: str


@dataclass(frozen=True)
class BytesSent:
    """Progress: bytes handed to the kernel since the last report."""

    worker: int
    nbytes: int


@dataclass(frozen=True)
class WorkerStats:
    """A worker's own resource use, sent as it exits (for summaries and evidence)."""

    worker: int
    pid: int
    cpu_user: float
    cpu_system: float
    max_rss: int            # bytes, peak resident set since the worker was ready to send
    io: dict = field(default_factory=dict)    # /proc/self/io: rchar, wchar, syscr, syscw
