"""Live probes as the sync principal: AWS is the final judge of what the evaluator predicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.kms.probes import KeyProbePlan, SampleObject, probe_all
from airflow_provider_s3xacct.permissions.spec import TransferSpec


def _result(check: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"check": check, "ok": ok, "detail": detail}


def live_probes(spec: TransferSpec, client_for: Callable[[str, str | None], Any]) -> list[dict[str, Any]]:
    """List one source key, HEAD it, GET its first byte, GenerateDataKey (DryRun) on the destination key."""
    src = spec.source
    s3 = client_for("s3", src.region)
    results = []
    try:
        listed = s3.list_objects_v2(
            Bucket=src.bucket, Prefix=src.prefix, MaxKeys=1, **owner_args(src.account_id)
        ).get("Contents", [])
        results.append(_result("list source", True, f"{len(listed)} key(s) seen"))
    except ClientError as exc:
        listed = []
        results.append(_result("list source", False, str(exc)))
    if listed:
        key = listed[0]["Key"]
        try:
            head = s3.head_object(Bucket=src.bucket, Key=key, **owner_args(src.account_id))
            results.append(_result("head source object", True, f"s3://{src.bucket}/{key}"))
            if head.get("ServerSideEncryption") == "aws:kms" and listed[0]["Size"] > 0:
                (access,) = probe_all(
                    [
                        KeyProbePlan(
                            head["SSEKMSKeyId"], ("decrypt",), SampleObject(src.bucket, key).uri, src.region
                        )
                    ],
                    client_for,
                )
                results.append(_result("decrypt source object", access.ok, access.problem or "one byte read"))
            elif listed[0]["Size"] > 0:
                s3.get_object(Bucket=src.bucket, Key=key, Range="bytes=0-0")["Body"].close()
                results.append(_result("read source object", True, "one byte read"))
        except ClientError as exc:
            results.append(_result("read source object", False, str(exc)))
    if spec.destination.kms_key_arn:
        (access,) = probe_all(
            [
                KeyProbePlan(
                    spec.destination.kms_key_arn,
                    ("generate_data_key",),
                    bucket_region=spec.destination.region,
                )
            ],
            client_for,
        )
        results.append(
            _result("GenerateDataKey (DryRun) on the destination key", access.ok, access.problem or "allowed")
        )
    return results
