"""S3 object-write requests: URL, headers and SigV4 signature, with no I/O.

The worker turns a part descriptor into a signed request head here, then writes the head
(``http1``) and hands the body to a send engine. Signing is SigV4 with ``UNSIGNED-PAYLOAD``
(as the AWS CLI does over HTTPS): body integrity comes from the checksum header, which is
signed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from bulkup.transport.sigv4 import SigV4Signer

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*")  # what quote(key, safe="/~") leaves as it is


@dataclass(frozen=True)
class BucketEndpoint:
    """Where a bucket's objects live: ``scheme://host[:port]/base_path/<key>``."""

    scheme: str
    host: str
    port: int
    base_path: str  # "/bucket" in path style, "" in virtual-host style
    region: str = ""  # the bucket's signing region when not the run's

    @classmethod
    def from_url(cls, url: str, region: str = "") -> BucketEndpoint:
        """From the bucket's URL as botocore resolved it (no query string)."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"unsupported endpoint URL {url!r}")
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), region)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def target(self, key: str, query: str = "") -> str:
        """The request target (path and query) for an object key, percent-encoded for S3."""
        path = f"{self.base_path}/{key if _UNQUOTED.fullmatch(key) else quote(key, safe='/~')}"
        return f"{path}?{query}" if query else path

    def url(self, target: str) -> str:
        return f"{self.scheme}://{self.host_header}{target}"


@dataclass(frozen=True)
class CredentialSet:
    """Plain credentials as they travel from the coordinator to workers."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass
class RequestHead:
    """A signed request line and headers, ready to be framed (``http1.request_head``)."""

    method: str
    target: str
    headers: list[tuple[str, str]]


class RequestSigner:
    """Signs S3 object writes with the current credentials, for the run's region or the
    bucket's own (``BucketEndpoint.region``)."""

    def __init__(self, credentials: CredentialSet, region: str) -> None:
        self.region = region
        self._host: tuple[BucketEndpoint | None, str] = (None, "")  # the last endpoint and its Host
        self.update(credentials)

    def update(self, credentials: CredentialSet) -> None:
        """Use new (refreshed) credentials from now on."""
        self._sigv4 = SigV4Signer(credentials.access_key, credentials.secret_key, credentials.token)

    def sign(self, endpoint: BucketEndpoint, method: str, target: str, headers: dict[str, str]) -> RequestHead:
        """Add Host, date, payload marker, token and Authorization to ``headers``."""
        last, host = self._host  # parts in a row mostly go to one endpoint: the same object
        if last is not endpoint:
            host = endpoint.host_header
            self._host = (endpoint, host)
        signed = self._sigv4.sign(method, target, {"Host": host, **headers}, endpoint.region or self.region)
        return RequestHead(method, target, list(signed.items()))


def upload_target(endpoint: BucketEndpoint, key: str, upload_id: str | None, part_number: int | None) -> str:
    """The target of PutObject (no upload id) or UploadPart."""
    if upload_id is None:
        return endpoint.target(key)
    query = f"partNumber={part_number}&uploadId={quote(upload_id, safe='~')}"
    return endpoint.target(key, query)
