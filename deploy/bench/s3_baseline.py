"""The baseline for `just bench upload`'s S3 row: `aws s3 cp`-style multipart upload with boto3
(5 MiB parts, 4 concurrent, the settings Framelog's REST client uses) into an S3 endpoint.

    python s3_baseline.py <endpoint> <bucket> <key> <file>

Creates the bucket if missing (not timed), uploads, checks the object's size, deletes it, and
prints one JSON line {"ms": <upload_file time>}.
"""

import json
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1024 * 1024


def main() -> None:
    endpoint, bucket, key, path = sys.argv[1:5]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=8),
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    cfg = TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4
    )
    t = time.perf_counter()
    s3.upload_file(path, bucket, key, Config=cfg)
    ms = (time.perf_counter() - t) * 1000
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if size != os.path.getsize(path):
        sys.exit(f"stored {size} bytes, expected {os.path.getsize(path)}")
    s3.delete_object(Bucket=bucket, Key=key)
    print(json.dumps({"ms": ms}))


if __name__ == "__main__":
    main()
