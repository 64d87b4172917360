"""Request heads: keys encoded the way S3 signs them, payload unsigned, checksum signed."""

import calendar
import datetime
import hmac
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner, upload_target
from bulkup.transport.sigv4 import SigV4Signer

ENDPOINT = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")


def test_special_characters_in_keys_are_percent_encoded():
    target = ENDPOINT.target("dir/a b+c?d#e%f é")
    assert target == "/bucket/dir/a%20b%2Bc%3Fd%23e%25f%20%C3%A9"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30) | st.text("abcXYZ019_.-~/%+ ", max_size=30))
@example("")
@example("dir/plain-name_1.2~x")
def test_a_key_is_encoded_as_quote_encodes_it(key):
    assert ENDPOINT.target(key) == "/bucket/" + quote(key, safe="/~")


def test_upload_part_target_carries_part_number_and_upload_id():
    target = upload_target(ENDPOINT, "k", "id/with+chars", 7)
    assert target == "/bucket/k?partNumber=7&uploadId=id%2Fwith%2Bchars"


def test_virtual_host_endpoint_has_no_bucket_in_path():
    endpoint = BucketEndpoint.from_url("https://bucket.s3.eu-west-1.amazonaws.com/")
    assert endpoint.target("k") == "/k"
    assert endpoint.host_header == "bucket.s3.eu-west-1.amazonaws.com"


def test_signed_head_uses_unsigned_payload_and_signs_the_checksum():
    signer = RequestSigner(CredentialSet("AKID", "SECRET", "TOKEN"), "us-east-1")
    head = signer.sign(
        ENDPOINT, "PUT", "/bucket/k", {"Content-Length": "3", "x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}
    )
    headers = {k.lower(): v for k, v in head.headers}
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["host"] == "127.0.0.1:8443"
    assert headers["x-amz-security-token"] == "TOKEN"
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-checksum-crc64nvme" in signed and "host" in signed


def test_credentials_never_show_secrets_in_repr():
    text = repr(CredentialSet("AKID", "SECRET", "TOKEN"))
    assert "SECRET" not in text and "TOKEN" not in text


# -- the signature equals botocore's, the reference implementation S3 accepts ---------------


def _botocore_headers(method, url, headers, region, credentials, when):
    from unittest import mock

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class NoPayloadSigning:
        s3 = {"payload_signing_enabled": False}

    request = AWSRequest(method=method, url=url, headers=dict(headers))
    request.context["client_config"] = NoPayloadSigning()
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        S3SigV4Auth(Credentials(*credentials), "s3", region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize(
    "key, upload",
    [("plain.bin", None), ("dir/a b+c?d#e%f é~*", None), ("k", ("id/with+chars=", 7)), ("deep/k", ("x.y_z-~", 10000))],
)
@pytest.mark.parametrize("token", [None, "SESSION/TOKEN+=="])
def test_signature_is_the_one_botocore_computes(key, upload, token):
    when = datetime.datetime(2026, 12, 1, 23, 59, 58)
    credentials = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    endpoint = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket", region="eu-west-3")
    target = upload_target(endpoint, key, *(upload or (None, None)))
    headers = {
        "Content-Length": "16384",
        "x-amz-checksum-crc64nvme": "AAAAAAAAAAA=",
        "Content-Type": "text/plain;  charset=utf-8",
        "x-amz-meta-note": " two  spaces ",
    }
    signer = RequestSigner(CredentialSet(*credentials), "us-east-1")
    with mock.patch("time.time", return_value=calendar.timegm(when.timetuple())):
        ours = {k.lower(): v for k, v in signer.sign(endpoint, "PUT", target, headers).headers}
    theirs = _botocore_headers(
        "PUT", endpoint.url(target), {"Host": endpoint.host_header, **headers}, "eu-west-3", credentials, when
    )
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20261201T235958Z"


@pytest.mark.parametrize("query", ["a-b=2&a=1", "a=2&a=1&a", "0=x&=&z", "uploadId=u&partNumber=3"])
def test_query_parameters_are_sorted_as_botocore_sorts_them(query):
    when = datetime.datetime(2026, 12, 1, 23, 59, 58)
    credentials = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
    target = ENDPOINT.target("k", query)
    signer = RequestSigner(CredentialSet(*credentials), "us-east-1")
    with mock.patch("time.time", return_value=calendar.timegm(when.timetuple())):
        ours = {k.lower(): v for k, v in signer.sign(ENDPOINT, "PUT", target, {}).headers}
    theirs = _botocore_headers(
        "PUT", ENDPOINT.url(target), {"Host": ENDPOINT.host_header}, "us-east-1", credentials, when
    )
    assert ours["authorization"] == theirs["authorization"]


def test_signing_key_is_derived_once_per_day_and_region():
    signer = SigV4Signer("AKID", "SECRET", None)
    with mock.patch("hmac.new", wraps=hmac.new) as calls:
        for _ in range(3):
            signer.sign("PUT", "/b/k", {"Host": "h"}, "us-east-1", now=1_700_000_000)
    assert calls.call_count == 5  # the key's four steps and its keyed HMAC, once: a signature copies it
    with mock.patch("hmac.new", wraps=hmac.new) as calls:
        signer.sign("PUT", "/b/k", {"Host": "h"}, "us-east-1", now=1_700_000_000 + 86_400)
        signer.sign("PUT", "/b/k", {"Host": "h"}, "eu-west-1", now=1_700_000_000)
    assert calls.call_count == 5 + 5  # a new day, a new region
