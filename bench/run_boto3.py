"""The boto3 peers: a folder uploaded through s3transfer's TransferManager, as the AWS CLI
and boto3 users do it, with the classic (threads) or the CRT (awscrt) transfer client.

Usage: run_boto3.py classic|crt FOLDER BUCKET PREFIX ENDPOINT PART_SIZE CONCURRENCY [CA_FILE]

boto3's own CRT switch (TransferConfig(preferred_transfer_client="crt")) ignores a custom
endpoint, so the CRT manager is built here the way the AWS CLI v2 builds it: s3transfer's
CRT client plus a botocore request serializer that knows the endpoint.
"""

import os
import sys

import boto3
import botocore.session
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config

kind, folder, bucket, prefix, endpoint, part_size, concurrency = sys.argv[1:8]
part_size, concurrency = int(part_size), int(concurrency)
ca_file = sys.argv[8] if len(sys.argv) > 8 else None
path_style = Config(s3={"addressing_style": "path"}, max_pool_connections=concurrency * 2)


def crt_manager():
    from s3transfer.crt import (
        BotocoreCRTCredentialsWrapper,
        BotocoreCRTRequestSerializer,
        CRTTransferManager,
        create_s3_crt_client,
    )

    session = botocore.session.Session()
    serializer = BotocoreCRTRequestSerializer(
        session, {"region_name": "us-east-1", "endpoint_url": endpoint, "verify": ca_file or True, "config": path_style}
    )
    credentials = BotocoreCRTCredentialsWrapper(session.get_credentials()).to_crt_credentials_provider()
    client = create_s3_crt_client(
        "us-east-1", credentials, part_size=part_size, use_ssl=endpoint.startswith("https"), verify=ca_file
    )
    return CRTTransferManager(client, serializer)


def classic_manager():
    client = boto3.client("s3", endpoint_url=endpoint, verify=ca_file or True, config=path_style)
    return create_transfer_manager(
        client,
        TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=concurrency),
    )


manager = crt_manager() if kind == "crt" else classic_manager()
print(f"transfer manager: {type(manager).__name__}")
with manager:
    futures = [
        manager.upload(os.path.join(folder, name), bucket, f"{prefix}{name}") for name in sorted(os.listdir(folder))
    ]
    for future in futures:
        future.result()
