"""CrossAccountCheckOperator: a difference or an unproven object fails the task, naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountCheckOperator
from tests.aws_world import World, act_as
from tests.test_cli_copy import s3xacct


def _operator(world: World, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> CrossAccountCheckOperator:
    act_as(monkeypatch, world.principal, world.endpoint_url)
    kwargs.setdefault("source_uri", f"s3://{world.source_bucket}/data/")
    kwargs.setdefault("dest_uri", f"s3://{world.dest_bucket}/copy/")
    return CrossAccountCheckOperator(task_id="check", aws_conn_id=None, region_name="us-east-1", **kwargs)


def _copied(world: World, keys: list[str]) -> None:
    for key in keys:
        world.put(f"data/{key}", key.encode() * 10)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    assert s3xacct(world, "copy", src, dst).returncode == 0


def test_an_identical_destination_passes_and_returns_the_counts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _copied(world, ["a", "b"])
    summary = _operator(world, monkeypatch, metadata=True).execute({})  # type: ignore[arg-type]
    assert summary["identical"] is True and summary["counts"]["identical"] == 2


def test_a_missing_object_fails_for_good_naming_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _copied(world, ["a", "b"])
    world.dst_s3.delete_object(Bucket=world.dest_bucket, Key="copy/b")
    with pytest.raises(AirflowFailException, match="missing: b: not in the destination"):
        _operator(world, monkeypatch).execute({})  # type: ignore[arg-type]


def test_unverified_objects_fail_unless_sampled_or_warned(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same bytes without a checksum: one part at the source, a multipart upload at the
    # destination (its ETag is no MD5), so only reading them can prove them identical.
    old_tool = Config(request_checksum_calculation="when_required")
    world.source.client("s3", endpoint_url=world.endpoint_url, config=old_tool).put_object(
        Bucket=world.source_bucket, Key="data/a", Body=b"same bytes"
    )
    dst = world.dest.client("s3", endpoint_url=world.endpoint_url, config=old_tool)
    upload = dst.create_multipart_upload(Bucket=world.dest_bucket, Key="copy/a")["UploadId"]
    etag = dst.upload_part(Bucket=world.dest_bucket, Key="copy/a", UploadId=upload, PartNumber=1, Body=b"same bytes")["ETag"]
    dst.complete_multipart_upload(
        Bucket=world.dest_bucket, Key="copy/a", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    with pytest.raises(AirflowFailException, match="not proven identical"):
        _operator(world, monkeypatch).execute({})  # type: ignore[arg-type]
    assert _operator(world, monkeypatch, on_unverified="warn").execute({})["counts"]["unverified"] == 1  # type: ignore[arg-type]
    assert _operator(world, monkeypatch, sample="5").execute({})["identical"] is True  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sample": -1}, "sample"), ({"on_unverified": "maybe"}, "on_unverified"), ({"dest_uri": "dst"}, "dest_uri"),
     ({"concurrency": 0}, "concurrency"), ({"source_account_id": "12"}, "source_account_id")],
)
def test_bad_input_fails_before_any_call(monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str) -> None:
    kwargs.setdefault("source_uri", "s3://src-bucket/data/")
    kwargs.setdefault("dest_uri", "s3://dst-bucket/copy/")
    op = CrossAccountCheckOperator(task_id="check", aws_conn_id=None, **kwargs)
    monkeypatch.setattr(type(op), "hook", property(lambda self: pytest.fail("no AWS client may be made")))
    with pytest.raises(AirflowFailException, match=field):
        op.execute({})  # type: ignore[arg-type]


def test_a_missing_bucket_fails_for_good_with_the_diagnosis(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AirflowFailException, match="NoSuchBucket") as failed:
        _operator(world, monkeypatch, source_uri="s3://no-such-bucket/data/").execute({})  # type: ignore[arg-type]
    assert "Fix:" in str(failed.value)
