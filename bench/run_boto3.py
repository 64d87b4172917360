"""The peer: boto3's upload_file (s3transfer), as a user would call it."""
import sys

import boto3
from boto3.s3.transfer import TransferConfig

path, bucket, key, endpoint, part_size, concurrency = sys.argv[1:7]
client = boto3.client("s3", endpoint_url=endpoint)
config = TransferConfig(multipart_threshold=int(part_size), multipart_chunksize=int(part_size),
                        max_concurrency=int(concurrency))
client.upload_file(path, bucket, key, Config=config)
