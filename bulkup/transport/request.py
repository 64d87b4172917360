"""S3 object-write requests: URL, headers and SigV4 signature, with no I/O.

The worker turns a part descriptor into a signed request head here, then writes the head
(``http1``) and hands the body to a send engine. Signing is SigV4 with ``UNSIGNED-PAYLOAD``
(as the AWS CLI does over HTTPS): body integrity comes from the checksum header, which is
signed. The signer is the AWS CRT's (awscrt, in C: ~10 µs a request, where botocore's
general signer takes ~30); its signatures are tested against botocore's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import datetime

from awscrt import auth, http

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class BucketEndpoint:
    """Where a bucket's objects live: ``scheme://host[:port]/base_path/<key>``."""

    scheme: str
    host: str
    port: int
    base_path: str     # "/bucket" in path style, "" in virtual-host style
    region: str = ""   # the bucket's signing region when not the run's

    @classmethod
    def from_url(cls, url: str, region: str = "") -> "BucketEndpoint":
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
        path = f"{self.base_path}/{quote(key, safe='/~')}"
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
        self.update(credentials)

    def update(self, credentials: CredentialSet) -> None:
        """Use new (refreshed) credentials from now on."""
        provider = auth.AwsCredentialsProvider.new_static(credentials.access_key, credentials.secret_key,
                                                          credentials.token)
        self._configs: dict[str, auth.AwsSigningConfig] = {}
        self._base = auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4, signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=provider, region=self.region, service="s3",
            signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
            use_double_uri_encode=False, should_normalize_uri_path=False)   # S3's rules

    def sign(self, endpoint: BucketEndpoint, method: str, target: str, headers: dict[str, str],
             when: datetime.datetime | None = None) -> RequestHead:
        """Add Host, date, payload marker, token and Authorization to ``headers`` (signed
        as of ``when``, default now)."""
        config = self._config(endpoint.region or self.region)
        if when is not None:
            config = config.replace(date=when)
        request = http.HttpRequest(method, target, http.HttpHeaders([("Host", endpoint.host_header),
                                                                     *headers.items()]))
        auth.aws_sign_request(request, config).result()
        return RequestHead(method, target, list(request.headers))

    def _config(self, region: str) -> auth.AwsSigningConfig:
        config = self._configs.get(region)
        if config is None:
            config = self._configs[region] = self._base.replace(region=region)
        return config


def upload_target(endpoint: BucketEndpoint, key: str, upload_id: str | None,
                  part_number: int | None) -> str:
    """The target of PutObject (no upload id) or UploadPart."""
    if upload_id is None:
        return endpoint.target(key)
    query = f"partNumber={part_number}&uploadId={quote(upload_id, safe='~')}"
    return endpoint.target(key, query)
