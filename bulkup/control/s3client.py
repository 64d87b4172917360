"""The coordinator's boto3 side: client construction, bucket endpoint, readable errors.

boto3 is imported when a session or client is made (importing it costs ~0.3 s), and
botocore's errors when one is looked at (``botoerrors``): a run that needs neither (a few
small files, every answer remembered) loads neither.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from bulkup.control import botoerrors as bex
from bulkup.control.awsenv import DEFAULT_REGION, system_trust_store
from bulkup.errors import BulkupError, FatalRemoteError
from bulkup.transport.connection import certificate_failure
from bulkup.transport.request import BucketEndpoint, CredentialSet
from bulkup.transport.responses import FATAL_CODES

if TYPE_CHECKING:
    import boto3

S3Client: TypeAlias = Any
"""A boto3 S3 client, as it is passed around. boto3 ships no types, so to mypy its clients are
``Any``: this one name stands for them (and is where typed stubs would go)."""


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to reach the store."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing_style: str = "auto"  # auto | path | virtual
    ca_bundle: str | None = None
    verify_ssl: bool = True


def make_session(settings: ClientSettings) -> boto3.Session:
    """A boto3 session using the full credential chain (env, profile, SSO, roles)."""
    import boto3

    try:
        return boto3.Session(profile_name=settings.profile)
    except bex.ProfileNotFound:
        raise BulkupError(f"AWS profile {settings.profile!r} not found") from None


def effective_ca_bundle(session: boto3.Session, settings: ClientSettings) -> str | None:
    """The one trust store of a run, for boto3's calls and the workers' alike: --ca-bundle,
    else the profile's ca_bundle or AWS_CA_BUNDLE (as the AWS CLI), else the system's (as
    OpenSSL finds it, SSL_CERT_FILE / SSL_CERT_DIR included; boto3 alone would use certifi's)."""
    return settings.ca_bundle or session._session.get_config_variable("ca_bundle") or system_trust_store()


def make_client(session: boto3.Session, settings: ClientSettings, region: str | None = None) -> S3Client:
    """An S3 client for control-plane calls (create/complete/abort multipart uploads)."""
    from botocore.config import Config

    if not settings.verify_ssl:
        import urllib3

        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
    config = Config(
        # auto: botocore's choice, or the profile's s3 addressing_style
        s3={"addressing_style": settings.addressing_style} if settings.addressing_style != "auto" else None,
        retries={"mode": "standard", "max_attempts": 3},  # then S3Calls.persist, to the retry deadline
        connect_timeout=10,
        read_timeout=60,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    verify: bool | str = (settings.ca_bundle or True) if settings.verify_ssl else False
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=region or settings.region or session.region_name or DEFAULT_REGION,
        config=config,
        verify=verify,
    )


def frozen_credentials(session: boto3.Session) -> CredentialSet:
    """Current credentials (refreshed by botocore when near expiry)."""
    creds = session.get_credentials()
    if creds is None:
        raise FatalRemoteError(
            "no AWS credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, use --profile, or configure SSO/roles)"
        )
    try:
        frozen = creds.get_frozen_credentials()
    except bex.BotoCoreError as exc:
        raise FatalRemoteError(f"could not load AWS credentials: {describe(exc)}") from None
    return CredentialSet(frozen.access_key, frozen.secret_key, frozen.token)


def resolve_bucket(client: S3Client, bucket: str) -> tuple[BucketEndpoint, str | None, bool]:
    """Check the bucket and learn the URL botocore uses for it (addressing style applied).

    Returns the endpoint, the bucket's region when the server names it, and whether
    HeadBucket succeeded. A missing bucket, wrong credentials, or an unreachable or untrusted
    endpoint raise one-line errors; a plain 403 (allowed to write but not to list) lets the
    upload go on.
    """
    seen: list[str] = []

    def capture(request: Any, **_: object) -> None:  # a botocore AWSRequest
        seen.append(request.url.split("?", 1)[0])

    client.meta.events.register("before-sign.s3.HeadBucket", capture)
    region: str | None = None
    answered = False
    try:
        response = client.head_bucket(Bucket=bucket)
        region = response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
        answered = True
    except bex.ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code in ("NoSuchBucket", "404"):
            raise FatalRemoteError(f"bucket {bucket!r} does not exist") from None
        if status == 301:
            where = exc.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region", "another region")
            raise FatalRemoteError(f"bucket {bucket!r} is in {where}: pass --region {where}") from None
        if status != 403:
            raise FatalRemoteError(describe(exc)) from None
    except (bex.BotoCoreError, ValueError) as exc:
        raise FatalRemoteError(describe(exc)) from None
    finally:
        client.meta.events.unregister("before-sign.s3.HeadBucket", capture)
    return BucketEndpoint.from_url(seen[-1]), region, answered


_SSL_REASONS = (
    re.compile(r"certificate verify failed: ([^(]*)"),
    re.compile(r"(hostname '[^']*' doesn't match [^\s\")]*)"),
)


def error_code(exc: bex.ClientError) -> str:
    """The S3 error code of a failed call ("NoSuchUpload", "SlowDown", "404", ...)."""
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code


def describe(exc: BaseException) -> str:
    """One line naming the cause of a boto3/botocore failure (never a signature or URL query)."""
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        if code in FATAL_CODES:
            return f"{code}: {FATAL_CODES[code]}"
        return f"{exc.operation_name}: {code or 'error'}: {err.get('Message') or 'no message'}"
    if isinstance(exc, bex.SSLError):
        text = str(exc)
        host = _host_of(getattr(exc, "kwargs", {}).get("endpoint_url", ""))
        found = [m.group(1).strip().rstrip(".") for r in _SSL_REASONS if (m := r.search(text))]
        reason = found[0] if found else "TLS handshake failed"
        return certificate_failure(host, reason)
    if isinstance(exc, bex.EndpointConnectionError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return f"cannot connect to endpoint {_host_of(url)}: is the server running and reachable?"
    if isinstance(exc, (bex.ConnectTimeoutError, bex.ReadTimeoutError)):
        return f"timed out talking to {_host_of(getattr(exc, 'kwargs', {}).get('endpoint_url', ''))}"
    if isinstance(exc, bex.NoCredentialsError):
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile)"
    return f"{exc.__class__.__name__}: {_strip_query(str(exc))}"


def _host_of(url: str) -> str:
    match = re.match(r"^[a-z]+://([^/?]+)", url or "")
    return match.group(1) if match else "the endpoint"


def _strip_query(text: str) -> str:
    return re.sub(r"\?[^\s\"']*", "?…", text)
