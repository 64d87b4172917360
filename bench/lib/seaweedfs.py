"""The real S3 server of the tests (SeaweedFS) in a benchmark: a bucket ready for timed runs."""

from __future__ import annotations

import os

MiB = 1 << 20


def warm_up(client) -> None:
    """SeaweedFS grows a bucket's volumes on its first writes: pay for that before the first
    tool, so it does not fall on whichever tool runs first."""
    for i in range(16):
        client.put_object(Bucket="bench", Key=f"warm-up/{i}", Body=os.urandom(MiB))
    upload = client.create_multipart_upload(Bucket="bench", Key="warm-up/multipart")["UploadId"]
    part = client.upload_part(
        Bucket="bench", Key="warm-up/multipart", UploadId=upload, PartNumber=1, Body=os.urandom(8 * MiB)
    )
    client.complete_multipart_upload(
        Bucket="bench",
        Key="warm-up/multipart",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
