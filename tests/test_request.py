"""Request heads: keys encoded the way S3 signs them, payload unsigned, checksum signed."""
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner, upload_target

ENDPOINT = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")


def test_special_characters_in_keys_are_percent_encoded():
    target = ENDPOINT.target("dir/a b+c?d#e%f é")
    assert target == "/bucket/dir/a%20b%2Bc%3Fd%23e%25f%20%C3%A9"


def test_upload_part_target_carries_part_number_and_upload_id():
    target = upload_target(ENDPOINT, "k", "id/with+chars", 7)
    assert target == "/bucket/k?partNumber=7&uploadId=id%2Fwith%2Bchars"


def test_virtual_host_endpoint_has_no_bucket_in_path():
    endpoint = BucketEndpoint.from_url("https://bucket.s3.eu-west-1.amazonaws.com/")
    assert endpoint.target("k") == "/k"
    assert endpoint.host_header == "bucket.s3.eu-west-1.amazonaws.com"


def test_signed_head_uses_unsigned_payload_and_signs_the_checksum():
    signer = RequestSigner(CredentialSet("AKID", "SECRET", "TOKEN"), "us-east-1")
    head = signer.sign(ENDPOINT, "PUT", "/bucket/k",
                       {"Content-Length": "3", "x-amz-checksum-crc64nvme": "AAAAAAAAAAA="})
    headers = {k.lower(): v for k, v in head.headers}
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["host"] == "127.0.0.1:8443"
    assert headers["x-amz-security-token"] == "TOKEN"
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-checksum-crc64nvme" in signed and "host" in signed


def test_credentials_never_show_secrets_in_repr():
    text = repr(CredentialSet("AKID", "SECRET", "TOKEN"))
    assert "SECRET" not in text and "TOKEN" not in text
