"""Two moto accounts (source 111111111111, destination 222222222222) and helpers to fill them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"
REGION = "us-east-1"


def assume(account: str, role: str = "admin", endpoint_url: str | None = None) -> boto3.Session:
    """A session in ``account``: moto switches accounts on STS AssumeRole, as AWS does."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=endpoint_url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="tests")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


@dataclass
class World:
    """Buckets and keys in both accounts, plus the sync principal's session (in the destination)."""

    source: boto3.Session
    dest: boto3.Session
    principal: boto3.Session
    source_bucket: str
    dest_bucket: str
    source_key_arn: str
    dest_key_arn: str
    endpoint_url: str | None = None

    def s3(self, session: boto3.Session) -> Any:
        return session.client("s3", endpoint_url=self.endpoint_url)

    @property
    def src_s3(self) -> Any:
        return self.s3(self.source)

    @property
    def dst_s3(self) -> Any:
        return self.s3(self.dest)

    def put(
        self, key: str, body: bytes = b"x", *, kms: str | None = None, sse_s3: bool = False, **extra: Any
    ) -> None:
        args: dict[str, Any] = {"Bucket": self.source_bucket, "Key": key, "Body": body, **extra}
        if kms:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms)
        elif sse_s3:
            args["ServerSideEncryption"] = "AES256"
        self.src_s3.put_object(**args)

    def dest_keys(self, prefix: str = "") -> list[str]:
        paginator = self.dst_s3.get_paginator("list_objects_v2")
        return [
            o["Key"]
            for page in paginator.paginate(Bucket=self.dest_bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]


def build_world(
    endpoint_url: str | None = None, source_bucket: str = "src-bucket", dest_bucket: str = "dst-bucket"
) -> World:
    source = assume(SOURCE_ACCOUNT, endpoint_url=endpoint_url)
    dest = assume(DEST_ACCOUNT, endpoint_url=endpoint_url)
    principal = assume(DEST_ACCOUNT, role="sync-role", endpoint_url=endpoint_url)
    source.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=source_bucket)
    dest.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=dest_bucket)
    src_key = source.client("kms", endpoint_url=endpoint_url).create_key(Description="source")["KeyMetadata"][
        "Arn"
    ]
    dst_key = dest.client("kms", endpoint_url=endpoint_url).create_key(Description="dest")["KeyMetadata"][
        "Arn"
    ]
    return World(source, dest, principal, source_bucket, dest_bucket, src_key, dst_key, endpoint_url)


def credential_env(session: boto3.Session, endpoint_url: str | None) -> dict[str, str]:
    """Environment variables that make the default AWS chain act as ``session`` on ``endpoint_url``."""
    creds = session.get_credentials()
    env = {
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token or "",
        "AWS_DEFAULT_REGION": REGION,
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def act_as(monkeypatch: pytest.MonkeyPatch, session: boto3.Session, endpoint_url: str | None) -> None:
    """This process's default AWS chain acts as ``session`` (what an operator with
    ``aws_conn_id=None`` uses), on ``endpoint_url``."""
    for name, value in credential_env(session, endpoint_url).items():
        monkeypatch.setenv(name, value)


def aws_connection(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    endpoint_url: str,
    *,
    session: boto3.Session | None = None,
    **extra: Any,
) -> None:
    """The Airflow AWS connection ``conn_id``, from the environment (``AIRFLOW_CONN_<ID>``): with
    ``session``'s keys when given, on ``endpoint_url`` in us-east-1; ``extra`` adds to its extra
    (``role_arn``, ``assume_role_kwargs``, as in production connections)."""
    conn: dict[str, Any] = {"conn_type": "aws"}
    extra = {**extra, "endpoint_url": endpoint_url, "region_name": REGION}
    if session is not None:
        creds = session.get_credentials()
        conn |= {"login": creds.access_key, "password": creds.secret_key}
        extra["aws_session_token"] = creds.token
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "extra": extra}))
