"""Reading a bucket on bulkup's own connections: every listing page and every HeadObject
answer arrives whole and right through resets and SlowDowns; a refusal is one line."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from bulkup.control.listing import ListingIncomplete, list_prefix
from bulkup.transport.connection import TlsSettings
from bulkup.transport.readers import ReadSettings, StoreReadError, StoreReads
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

COUNT = 1200  # two listing pages


@pytest.fixture(scope="module")
def filled(s3server):
    s3 = s3server.client()
    bucket = "test-readers"
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket=bucket, Key=f"r/{i:05d}", Body=b"x" * (i % 7), Metadata={"mtime": f"{1_700_000_000 + i}.5"}
                ),
                range(COUNT),
            )
        )
    return bucket


def reads_for(server, url, bucket, secret=None, ca=None, connections=8):
    settings = ReadSettings(
        endpoint=BucketEndpoint.from_url(f"{url}/{bucket}"),
        bucket=bucket,
        tls=TlsSettings(ca_bundle=ca or server.ca_file),
        connections=connections,
        timeout=scaled(10),
    )
    who = server.admin
    return StoreReads(settings, RequestSigner(CredentialSet(who.access_key, secret or who.secret_key), "us-east-1"))


def test_every_head_answer_is_right_through_resets_and_slowdowns(s3server, filled):
    keys = [f"r/{i:05d}" for i in range(0, COUNT, 3)] + ["r/missing-1", "r/missing-2"]
    with FaultProxy(s3server.http_url, seed=7, reset_rate=0.1, slowdown_rate=0.1) as proxy:
        reads = reads_for(s3server, proxy.url, filled)
        answers = reads.heads(keys)
        reads.close()
        outcomes = {r.outcome for r in proxy.snapshot()}
    assert {"reset", "slowdown"} <= outcomes
    assert answers["r/missing-1"] is None and answers["r/missing-2"] is None
    for i in range(0, COUNT, 3):
        answer = answers[f"r/{i:05d}"]
        assert (answer.size, answer.mtime) == (i % 7, f"{1_700_000_000 + i}.5")


def test_the_whole_listing_arrives_through_resets_and_slowdowns(s3server, filled):
    with FaultProxy(s3server.http_url, seed=3, reset_rate=0.2, slowdown_rate=0.2) as proxy:
        reads = reads_for(s3server, proxy.url, filled)
        listed = list_prefix(reads, "r/")
        reads.close()
        assert len([r for r in proxy.snapshot() if r.method == "GET"]) > 2  # some pages were asked again
    assert sorted(listed) == [f"r/{i:05d}" for i in range(COUNT)]
    assert listed["r/00006"].size == 6 and listed["r/00006"].etag


def test_a_wrong_secret_is_one_line_for_heads_and_listings(s3server, filled):
    reads = reads_for(s3server, s3server.https_url, filled, secret="not-the-secret")
    with pytest.raises(StoreReadError, match=r"HeadObject s3://test-readers/r/00001: access denied"):
        reads.heads(["r/00001"])
    with pytest.raises(ListingIncomplete, match="SignatureDoesNotMatch"):
        list_prefix(reads, "r/")
    reads.close()


def test_an_untrusted_certificate_is_refused(s3server, filled, tmp_path):
    other_ca = tmp_path / "other.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other_ca))
    reads = reads_for(s3server, s3server.https_url, filled, ca=str(other_ca))
    with pytest.raises(StoreReadError, match="TLS certificate verification failed"):
        reads.heads(["r/00001"])
    reads.close()
