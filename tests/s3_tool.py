"""Set up and inspect the tests' S3 server (run inside the tests' network namespace).

``python s3_tool.py COMMAND JSON_ARGS`` prints a JSON answer. The server is at $S3_URL;
credentials come from the usual AWS variables.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import boto3


def client(service: str = "s3"):
    return boto3.client(service, endpoint_url=os.environ["S3_URL"], region_name="us-east-1")


def iam(args: dict) -> dict:
    """A user whose key may do anything on S3 except PUT objects matching ``deny_put``."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "setup")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "setup")
    c = client("iam")
    c.create_user(UserName="batch")
    key = c.create_access_key(UserName="batch")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": args["deny_put"]},
        ],
    }
    c.put_user_policy(UserName="batch", PolicyName="tests", PolicyDocument=json.dumps(policy))
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def put(args: dict) -> dict:
    """Create the (versioned) bucket if needed and upload ``files`` {key: local path}."""
    s3 = client()
    bucket = args["bucket"]
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key, path in args["files"].items():
        s3.upload_file(path, bucket, key)
    return {"uploaded": len(args["files"])}


def _versions(bucket: str, prefix: str) -> dict[str, list[dict]]:
    s3 = client()
    out: dict[str, list[dict]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append({"size": v["Size"], "latest": v["IsLatest"]})
        for m in page.get("DeleteMarkers", []):
            out.setdefault(m["Key"], []).append({"deleted": True, "latest": m["IsLatest"]})
    return out


def wait(args: dict) -> dict:
    """Wait until ``n`` keys under ``prefix`` end with ``suffix``."""
    end = time.time() + args.get("timeout", 120)
    while time.time() < end:
        keys = [
            k
            for k, v in _versions(args["bucket"], args["prefix"]).items()
            if k.endswith(args["suffix"]) and not v[-1].get("deleted")
        ]
        if len(keys) >= args["n"]:
            return {"keys": keys}
        time.sleep(0.1)
    return {"keys": [], "timeout": True}


def dump(args: dict) -> dict:
    """Every key under ``prefix`` with its versions; the live objects downloaded below ``into``."""
    s3 = client()
    versions = _versions(args["bucket"], args["prefix"])
    live = []
    for key, vs in versions.items():
        if any(v["latest"] and not v.get("deleted") for v in vs):
            live.append(key)
            target = Path(args["into"]) / key
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(args["bucket"], key, str(target))
    return {"versions": versions, "live": sorted(live)}


if __name__ == "__main__":
    print(
        json.dumps({"iam": iam, "put": put, "wait": wait, "dump": dump}[sys.argv[1]](json.loads(sys.argv[2])))
    )
