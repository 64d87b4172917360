"""The store's side of a sync: list the objects under a prefix, look at some of them
(HeadObject, in parallel), and delete others (DeleteObjects, 1,000 a request)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions as bex

from bulkup.control.s3client import describe
from bulkup.errors import FatalRemoteError
from bulkup.plan.sync import RemoteObject

HEAD_THREADS = 16
DELETE_BATCH = 1000          # S3's most per DeleteObjects


class ListingIncomplete(FatalRemoteError):
    """The prefix could not be listed to the end: nothing may be decided from it."""


def list_prefix(client, bucket: str, prefix: str) -> dict[str, RemoteObject]:
    """Every object under ``prefix`` (ListObjectsV2, page by page); ListingIncomplete if a
    page fails or the store ends the listing early."""
    found: dict[str, RemoteObject] = {}
    params = {"Bucket": bucket, "Prefix": prefix}
    while True:
        try:
            page = client.list_objects_v2(**params)
        except (bex.ClientError, bex.BotoCoreError) as exc:
            raise ListingIncomplete(f"cannot list s3://{bucket}/{prefix} ({describe(exc)}): "
                                    "nothing was sent or deleted") from None
        for item in page.get("Contents", []):
            found[item["Key"]] = RemoteObject(key=item["Key"], size=item["Size"],
                                              last_modified=item["LastModified"].timestamp(),
                                              etag=item.get("ETag", ""))
        if not page.get("IsTruncated"):
            return found
        token = page.get("NextContinuationToken")
        if not token:
            raise ListingIncomplete(f"the store ended the listing of s3://{bucket}/{prefix} without a "
                                    "continuation token: nothing was sent or deleted")
        params["ContinuationToken"] = token


def with_details(client, bucket: str, objects: list[RemoteObject]) -> list[RemoteObject]:
    """The objects with their x-amz-meta-mtime and full-object CRC64NVME (HeadObject each,
    in parallel); one that cannot be looked at stays as listed."""
    def detail(obj: RemoteObject) -> RemoteObject:
        try:
            head = client.head_object(Bucket=bucket, Key=obj.key, ChecksumMode="ENABLED")
        except (bex.ClientError, bex.BotoCoreError):
            return obj
        whole = head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        return RemoteObject(key=obj.key, size=obj.size, last_modified=obj.last_modified, etag=obj.etag,
                            mtime=head.get("Metadata", {}).get("mtime"),
                            crc64nvme=head.get("ChecksumCRC64NVME") if whole else None)
    if not objects:
        return []
    with ThreadPoolExecutor(max_workers=min(HEAD_THREADS, len(objects))) as pool:
        return list(pool.map(detail, objects))


def delete_keys(client, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
    """Delete ``keys``; the ones that could not be deleted, with why."""
    failed: list[tuple[str, str]] = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        try:
            answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                  "Quiet": True})
        except (bex.ClientError, bex.BotoCoreError) as exc:
            failed += [(key, describe(exc)) for key in batch]
            continue
        failed += [(e.get("Key", "?"), f"{e.get('Code', '')}: {e.get('Message', '')}")
                   for e in answer.get("Errors", [])]
    return failed
