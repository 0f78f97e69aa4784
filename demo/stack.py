"""The local demo stack: a moto server on loopback with the two demo accounts.

Used by ``make demo``, ``make ui`` and the end-to-end tests, so what they show is what is tested.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"
REGION = "us-east-1"
SOURCE_BUCKET = "vendor-exports"
DEST_BUCKET = "analytics-landing"
PRINCIPAL_ROLE = "s3xacct-sync"
MIB = 1024 * 1024
ADMIN_ROLE = "admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(port: int | None = None, *, counting: bool = False) -> Iterator[str]:
    """Start ``moto.server`` on loopback; stop it on exit, also on failure.

    ``counting`` starts it behind ``demo.counting_server`` instead: S3 requests counted per
    operation and per copied key, and a delay per request that can be set while it runs.
    """
    port = port or free_port()
    if counting:
        command = [sys.executable, "-m", "demo.counting_server", "--port", str(port), "--delay", "0"]
    else:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def credentials(endpoint_url: str, account: str, role: str) -> dict[str, str]:
    """Temporary credentials for ``role`` in ``account`` (moto switches account on AssumeRole)."""
    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="s3xacct-demo")
    c = creds["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def session(endpoint_url: str, account: str, role: str = ADMIN_ROLE) -> boto3.Session:
    return boto3.Session(region_name=REGION, **credentials(endpoint_url, account, role))


@dataclass
class DemoAccounts:
    endpoint_url: str
    source_key_arn: str
    source_key2_arn: str
    dest_key_arn: str
    principal_arn: str
    objects: int
    # A disabled destination key: the sync principal may not use it, so a run asked to encrypt
    # with it fails (KmsAccessSensor says why). For trying the failure path in `make ui`.
    retired_key_arn: str

    @property
    def total_objects(self) -> int:
        return self.objects + 3

    def as_env(self) -> dict[str, str]:
        return {
            "S3XACCT_DEMO_ENDPOINT": self.endpoint_url,
            "S3XACCT_SOURCE_KEY_ARN": self.source_key_arn,
            "S3XACCT_SOURCE_KEY2_ARN": self.source_key2_arn,
            "S3XACCT_DEST_KEY_ARN": self.dest_key_arn,
        }


def seed(endpoint_url: str, objects: int = 300) -> DemoAccounts:
    """Create both accounts: buckets, KMS keys, the sync role, and source objects of mixed encryption."""
    src = session(endpoint_url, SOURCE_ACCOUNT)
    dst = session(endpoint_url, DEST_ACCOUNT)
    s3_src = src.client("s3", endpoint_url=endpoint_url)
    s3_dst = dst.client("s3", endpoint_url=endpoint_url)
    s3_src.create_bucket(Bucket=SOURCE_BUCKET)
    s3_dst.create_bucket(Bucket=DEST_BUCKET)
    kms_src = src.client("kms", endpoint_url=endpoint_url)
    key1 = kms_src.create_key(Description="vendor exports")["KeyMetadata"]["Arn"]
    key2 = kms_src.create_key(Description="vendor archive")["KeyMetadata"]["Arn"]
    key_dst = dst.client("kms", endpoint_url=endpoint_url).create_key(Description="analytics landing")[
        "KeyMetadata"
    ]["Arn"]
    kms_dst = dst.client("kms", endpoint_url=endpoint_url)
    retired = kms_dst.create_key(Description="analytics landing (retired)")["KeyMetadata"]
    kms_dst.disable_key(KeyId=retired["KeyId"])  # moto 5.2.5 wants the id here, not the ARN
    iam = dst.client("iam", endpoint_url=endpoint_url)
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::'
        + DEST_ACCOUNT
        + ':root"},"Action":"sts:AssumeRole"}]}'
    )
    role = iam.create_role(RoleName=PRINCIPAL_ROLE, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    for i in range(objects):
        args: dict[str, Any] = {
            "Bucket": SOURCE_BUCKET,
            "Key": f"exports/{i % 7:02}/part-{i:05}.csv",
            "Body": (f"row,{i}\n" * (1 + i % 50)).encode(),
            "ContentType": "text/csv",
            "Metadata": {"batch": str(i % 7)},
        }
        if i % 3 == 0:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=key1)
        elif i % 3 == 1:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=key2)
        else:
            args.update(ServerSideEncryption="AES256")
        s3_src.put_object(**args)
    for i in range(3):  # a few larger objects among the small ones
        s3_src.put_object(
            Bucket=SOURCE_BUCKET,
            Key=f"exports/large/blob-{i}.bin",
            Body=os.urandom((i + 1) * MIB),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key1,
        )
    return DemoAccounts(endpoint_url, key1, key2, key_dst, role, objects, retired["Arn"])


def principal_env(endpoint_url: str) -> dict[str, str]:
    """Environment for a process acting as the sync principal against the demo stack."""
    creds = credentials(endpoint_url, DEST_ACCOUNT, PRINCIPAL_ROLE)
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": creds["aws_session_token"],
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
    }
