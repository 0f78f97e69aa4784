"""Finding the KMS keys really in use under a prefix, from a bounded sample of objects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import code_and_message
from airflow_provider_s3xacct.aws.locations import S3Location, owner_args
from airflow_provider_s3xacct.diagnosis.explain import Diagnoser, Diagnosis, TransferContext
from airflow_provider_s3xacct.kms.probes import SampleObject
from airflow_provider_s3xacct.transfer.listing import list_objects


class KeyDiscoveryError(RuntimeError):
    """The prefix could not be listed or sampled. ``permanent``: waiting or retrying cannot help."""

    def __init__(self, location: S3Location, message: str, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        # A network error has no diagnosis and is worth another try; an AWS answer such as
        # NoSuchBucket or AccessDenied is permanent unless the diagnosis says otherwise (throttling).
        self.permanent = diagnosis.permanent if diagnosis is not None else False
        detail = f" {diagnosis}" if diagnosis is not None else ""
        super().__init__(f"key discovery under {location.uri} failed: {message}.{detail}")


@dataclass
class KeyDiscovery:
    """Keys seen (each with one non-empty object encrypted under it) and the mix of encryption types."""

    keys: dict[str, SampleObject] = field(default_factory=dict)
    encryption_mix: Counter[str] = field(default_factory=Counter)
    sampled: int = 0

    def describe(self) -> str:
        mix = ", ".join(f"{n} {kind}" for kind, n in self.encryption_mix.most_common()) or "nothing"
        return f"sampled {self.sampled} objects: {mix}; {len(self.keys)} KMS key(s) in use"


def discover_keys(
    s3_client: Any, location: S3Location, sample_size: int = 100, expected_owner: str | None = None
) -> KeyDiscovery:
    """HEAD up to ``sample_size`` listed objects (HEAD needs no KMS permission) and collect their keys.

    Encryption is per object and can differ within a prefix (the blog's closing note), so a sample,
    not the bucket default, says which keys the copy will need.
    """
    try:
        return _sample(s3_client, location, sample_size, expected_owner)
    except ClientError as exc:
        operation = exc.operation_name or "ListObjectsV2"
        diagnosis = Diagnoser(TransferContext(location.bucket, "")).explain_client_error(operation, "", exc)
        raise KeyDiscoveryError(location, code_and_message(exc), diagnosis) from exc
    except BotoCoreError as exc:
        raise KeyDiscoveryError(location, f"S3 could not be reached ({exc})", None) from exc


def _sample(
    s3_client: Any, location: S3Location, sample_size: int, expected_owner: str | None
) -> KeyDiscovery:
    found = KeyDiscovery()
    owner = owner_args(expected_owner)
    for obj in list_objects(
        s3_client, location, expected_owner=expected_owner, page_size=min(sample_size, 1000)
    ):
        if found.sampled >= sample_size:
            break
        key = location.prefix + obj.key
        head = s3_client.head_object(Bucket=location.bucket, Key=key, **owner)
        found.sampled += 1
        sse = head.get("ServerSideEncryption") or "none"
        found.encryption_mix["SSE-KMS" if sse == "aws:kms" else "SSE-S3" if sse == "AES256" else sse] += 1
        key_arn = head.get("SSEKMSKeyId")
        if sse == "aws:kms" and key_arn and obj.size > 0:
            found.keys.setdefault(key_arn, SampleObject(location.bucket, key))
    return found
