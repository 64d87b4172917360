"""The signer's shortcuts (the date string per second, the signing key's HMAC state per day and
region, a canonical-request template per set of header names) sign exactly what botocore's
SigV4 signs, for any key, headers, path and query."""

import datetime
import hashlib
import hmac
import string
from unittest import mock
from urllib.parse import quote

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner, upload_target
from bulkup.transport.sigv4 import SigV4Signer, _Day

PROPERTY = settings(max_examples=300, deadline=None)

# Names the signer adds itself, and those botocore leaves unsigned (a caller never sends them).
_RESERVED = {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"}
_UNSIGNED = {
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
}
_TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Printable Latin-1 and every kind of whitespace SigV4's trimming folds (but CR, LF and NUL,
# which no header may hold).
_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x100) if chr(c).isprintable()) + "\t\x0b\x0c\x1c\x1f\x85\xa0  "

names = st.one_of(
    st.sampled_from(
        ["Content-Length", "Content-Type", "x-amz-checksum-crc64nvme", "x-amz-meta-mtime", "If-None-Match"]
    ),
    st.text(_TOKEN_CHARS, min_size=1, max_size=12),
).filter(lambda name: name.lower() not in _RESERVED | _UNSIGNED)
values = st.text(_VALUE_CHARS, max_size=24)
header_names = st.lists(names, max_size=6, unique_by=str.lower)
query_part = st.text(max_size=8).map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="-_.~"))
queries = st.lists(
    st.tuples(query_part, st.none() | query_part).map(lambda pair: pair[0] if pair[1] is None else "=".join(pair)),
    max_size=4,
).map("&".join)
keys = st.text(max_size=30).map(lambda text: text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
endpoints = st.sampled_from(
    [
        BucketEndpoint.from_url("https://127.0.0.1:8443/bucket"),
        BucketEndpoint.from_url("https://bucket.s3.eu-west-3.amazonaws.com/", region="eu-west-3"),
        BucketEndpoint.from_url("http://localhost:9000/b-1"),
    ]
)
instants = st.integers(946_684_800_000_000, 4_102_444_799_999_999)  # µs since 1970: 2000-2099


def _botocore(method, url, headers, region, credentials, when):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class NoPayloadSigning:
        s3 = {"payload_signing_enabled": False}

    request = AWSRequest(method=method, url=url, headers=dict(headers))
    request.context["client_config"] = NoPayloadSigning()
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=when)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        S3SigV4Auth(Credentials(*credentials), "s3", region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@PROPERTY
@given(
    access_key=st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=20),
    secret_key=st.text(string.ascii_letters + string.digits + "+/", min_size=1, max_size=40),
    token=st.none()
    | st.text(string.ascii_letters + string.digits + "+/=", min_size=1, max_size=40)
    | st.text("ab \t", min_size=1, max_size=6),  # one SigV4 trims
    region=st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2", "garage"]),
    method=st.sampled_from(["PUT", "GET", "HEAD"]),
    endpoint=endpoints,
    key=keys,
    query=st.none() | queries | st.tuples(st.text(max_size=20), st.integers(1, 10_000)),
    names=header_names,
    data=st.data(),
    when=instants,
)
@example(
    access_key="AKID",
    secret_key="SECRET",
    token=None,
    region="us-east-1",
    method="PUT",
    endpoint=BucketEndpoint.from_url("https://127.0.0.1:8443/bucket"),
    key="k",
    query="a-b=2&a=1&=&0",  # by name then value, not as "name=value" strings
    names=["Content-Type"],
    data=None,
    when=1_700_000_000_500_000,
)
def test_every_signature_is_the_one_botocore_computes(
    access_key, secret_key, token, region, method, endpoint, key, query, names, data, when
):
    if isinstance(query, tuple):
        target = upload_target(endpoint, key, *query)
    else:
        target = endpoint.target(key, query or "")
    credentials = (access_key, secret_key, token)
    signer = RequestSigner(CredentialSet(*credentials), region)
    # Twice with the same names: the second request takes every shortcut the first set up.
    for _ in range(2):
        draw = data.draw if data is not None else lambda _: "text/plain"
        headers = {name: draw(values) for name in names}
        with mock.patch("time.time", return_value=when / 1e6):
            head = signer.sign(endpoint, method, target, headers)
        ours = {k.lower(): v for k, v in head.headers}
        region_used = endpoint.region or region
        theirs = _botocore(
            method, endpoint.url(target), {"Host": endpoint.host_header, **headers}, region_used, credentials, when
        )
        assert ours["authorization"] == theirs["authorization"]
        assert ours["x-amz-date"] == theirs["x-amz-date"]
        assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")
        assert [name for name, _ in head.headers[: len(headers) + 1]] == ["Host", *headers]


@PROPERTY
@given(key=st.binary(max_size=100), message=st.binary(max_size=300))
def test_the_signing_hmac_is_rfc_2104s(key, message):
    day = _Day(key, "20260101", "us-east-1", "s3", "AKID")
    assert day.signature(message) == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert day.signature(message) == hmac.new(key, message, hashlib.sha256).hexdigest()  # the states are copied


def test_the_date_changes_with_the_second_and_the_day_with_the_date():
    signer = SigV4Signer("AKID", "SECRET", None)
    first = signer.sign("PUT", "/b/k", {"Host": "h"}, "us-east-1", now=1_767_225_599.9)  # 2025-12-31 23:59:59.9
    second = signer.sign("PUT", "/b/k", {"Host": "h"}, "us-east-1", now=1_767_225_600.0)
    assert first["X-Amz-Date"] == "20251231T235959Z"
    assert second["X-Amz-Date"] == "20260101T000000Z"
    assert "/20251231/" in first["Authorization"] and "/20260101/" in second["Authorization"]


def test_the_secret_and_token_never_show_in_the_signers_state():
    signer = SigV4Signer("AKID", "TOPSECRET", "SESSIONTOKEN")
    signer.sign("PUT", "/b/k", {"Host": "h"}, "us-east-1", now=1_700_000_000)
    for value in (repr(signer), *map(repr, signer._days.values()), repr(signer._layouts)):
        assert "TOPSECRET" not in value and "SESSIONTOKEN" not in value
