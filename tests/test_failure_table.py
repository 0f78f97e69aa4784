"""The error table (diagnosis/failures.py): each row observed where it happens.

For every core exception that can reach a task or the CLI: the operator's ``execute`` raises
``AirflowFailException`` (no retry) or ``AirflowException`` (retried), and ``s3xacct`` exits 1 or 2
with a JSON line naming the kind and whether a retry may help. Faults are queued on the counting
server (demo/counting_server.py), so the failures travel the real HTTP path.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError

from airflow_provider_s3xacct.compat import AirflowException, AirflowFailException
from airflow_provider_s3xacct.diagnosis.failures import FAILURE_KINDS, classify
from airflow_provider_s3xacct.operators import CrossAccountCheckOperator, CrossAccountS3CopyOperator
from airflow_provider_s3xacct.operators.errors import task_failures
from airflow_provider_s3xacct.permissions.apply import ConcurrentChangeError
from tests.aws_world import World, credential_env
from tests.faults.helpers import cli, fault, finish, last_json

# Core exceptions that never reach a caller, and why (the table need not have a row for them).
NEVER_ESCAPE = {
    "CopyFailedError": "one object's failure: recorded in the report, which decides the retry",
    "CopyInterruptedError": "one object's copy stopped by a cancel: recorded as interrupted",
    "RetriesExhaustedError": "one object's transient failure after the engine's retries: in the report",
    "UnsupportedCondition": "raised only by the conditions bridge the tests call, never by a command",
}


def _principal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in credential_env(world.principal, world.endpoint_url).items():
        monkeypatch.setenv(name, value)


def _copy(world: World, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> CrossAccountS3CopyOperator:
    _principal(world, monkeypatch)
    kwargs.setdefault("source_uri", f"s3://{world.source_bucket}/data/")
    kwargs.setdefault("dest_uri", f"s3://{world.dest_bucket}/copy/")
    return CrossAccountS3CopyOperator(
        task_id="copy", aws_conn_id=None, region_name="us-east-1", concurrency=2, **kwargs
    )


def _fails(op: Any, *, retryable: bool, match: str) -> BaseException:
    """``execute`` fails; retried (AirflowException) or for good (AirflowFailException) as expected."""
    with pytest.raises(AirflowException, match=match) as failed:
        op.execute({})
    assert isinstance(failed.value, AirflowFailException) is not retryable, failed.value
    return failed.value


def test_every_core_exception_has_a_row_or_a_reason_it_never_escapes() -> None:
    defined: set[str] = set()
    for package in ("transfer", "permissions", "kms", "diagnosis"):
        pkg = importlib.import_module(f"airflow_provider_s3xacct.{package}")
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__
                ):
                    defined.add(name)
    rows = {
        error.__name__
        for kind in FAILURE_KINDS
        for error in (kind.errors if isinstance(kind.errors, tuple) else (kind.errors,))
    }
    assert defined - rows - set(NEVER_ESCAPE) == set()
    assert set(NEVER_ESCAPE) <= defined  # no stale excuse


# -- ListingOrderError, for real: a listing with two keys swapped ---------------------------------


def _unordered_listing(world: World) -> None:
    for key in ("data/a", "data/b", "data/c"):
        world.put(key, b"1")
    # Every listing page of the source: the parallel listing first asks with a delimiter, then
    # lists ranges; whichever page carries the keys comes back with two of them swapped.
    fault(world, "ListObjects", f"/{world.source_bucket}", kind="reorder", times=50)


def test_a_listing_out_of_order_fails_the_task_for_good(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unordered_listing(world)
    _fails(
        _copy(world, monkeypatch, mode="sync"), retryable=False, match="source listing returned 'a' after 'b'"
    )


def test_a_listing_out_of_order_exits_1_with_its_kind(world: World) -> None:
    _unordered_listing(world)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    code, out, err = finish(cli(world, "copy", src, dst, "--mode", "sync", "--json"))
    assert code == 1 and "Traceback" not in err and "not S3-compatible enough" in err
    line = last_json(out)
    assert line["kind"] == "ListingOrderError" and line["retryable"] is False


# -- ListingFailedError: permanent (no bucket) and retryable (no answer) --------------------------


def test_a_missing_bucket_listing_fails_for_good(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _fails(
        _copy(world, monkeypatch, source_uri="s3://no-such-bucket/data/"),
        retryable=False,
        match="NoSuchBucket",
    )


def test_a_listing_without_answer_is_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.put("data/a", b"1")
    fault(world, "ListObjects", f"/{world.source_bucket}", kind="reset-before", times=50)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    _fails(_copy(world, monkeypatch), retryable=True, match="connection to S3 failed")


# -- ClientError and BotoCoreError reaching the top (the upload cleanup before the copy) ----------


@pytest.mark.parametrize(
    ("params", "retryable", "match"),
    [
        ({"status": 403, "code": "AccessDenied", "message": "Access Denied"}, False, "AccessDenied"),
        (
            {"status": 503, "code": "SlowDown", "message": "Please reduce your request rate.", "times": 50},
            True,
            "SlowDown",
        ),
        ({"kind": "reset-before", "times": 50}, True, "Connection was closed|Could not connect"),
    ],
    ids=["denied", "throttled", "no-answer"],
)
def test_an_aws_error_outside_the_engine_maps_by_its_code(
    world: World, monkeypatch: pytest.MonkeyPatch, params: dict[str, Any], retryable: bool, match: str
) -> None:
    world.put("data/a", b"1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    fault(world, "ListMultipartUploads", f"/{world.dest_bucket}", **params)
    _fails(_copy(world, monkeypatch, cleanup_uploads_older_than="1d"), retryable=retryable, match=match)
    assert world.dest_keys() == []  # stopped before any copy


@pytest.mark.parametrize(
    ("params", "retryable", "kind"),
    [
        ({"status": 403, "code": "AccessDenied", "message": "Access Denied"}, False, "AccessDenied"),
        ({"kind": "reset-before", "times": 50}, True, "ConnectionClosedError"),
    ],
    ids=["denied", "no-answer"],
)
def test_an_aws_error_in_the_cli_exits_1_saying_whether_to_retry(
    world: World, params: dict[str, Any], retryable: bool, kind: str
) -> None:
    fault(world, "ListMultipartUploads", f"/{world.dest_bucket}", **params)
    code, out, err = finish(
        cli(
            world,
            "cleanup-uploads",
            f"s3://{world.dest_bucket}/copy/",
            "--older-than",
            "1d",
            "--json",
            env={"AWS_MAX_ATTEMPTS": "2"},
        )
    )
    assert code == 1 and "Traceback" not in err
    line = last_json(out)
    assert line["kind"] == kind and line["retryable"] is retryable
    assert line["error"].startswith(f"listing the multipart uploads of s3://{world.dest_bucket}/copy/ failed")


# -- CheckFailedError ------------------------------------------------------------------------------


def test_a_check_that_cannot_list_fails_for_good_and_exits_1(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _principal(world, monkeypatch)
    op = CrossAccountCheckOperator(
        task_id="check",
        aws_conn_id=None,
        region_name="us-east-1",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri="s3://no-such-bucket/copy/",
    )
    _fails(op, retryable=False, match="NoSuchBucket")
    code, out, err = finish(
        cli(world, "check", f"s3://{world.source_bucket}/data/", "s3://no-such-bucket/", "--json")
    )
    assert code == 1 and "Traceback" not in err
    line = last_json(out)
    assert (
        line["kind"] == "CheckFailedError" and line["retryable"] is False and "NoSuchBucket" in line["error"]
    )


# -- configuration errors: no credentials at all ------------------------------------------------


def test_no_credentials_fails_for_good_not_retried(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    op = _copy(world, monkeypatch)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    _fails(op, retryable=False, match="Unable to locate credentials")


# -- rows without a wire trigger here (ConcurrentChangeError's is tests/test_apply_ownership.py) ---


def test_a_concurrent_policy_change_fails_the_task_for_good() -> None:
    with pytest.raises(AirflowFailException, match="someone changed it"), task_failures():
        raise ConcurrentChangeError("bucket policy of b is not what apply wrote: someone changed it")


def test_an_exception_without_a_row_is_a_bug_and_propagates_unchanged() -> None:
    assert classify(KeyError("x")) is None
    with pytest.raises(KeyError), task_failures():
        raise KeyError("x")
    verdict = classify(NoCredentialsError())
    assert verdict is not None and not verdict.retryable and not verdict.bad_input


# -- the sensor's key discovery (its permanent row: tests/test_kms_sensor.py, a missing bucket) ----


def test_key_discovery_without_answer_from_s3_is_a_retryable_failure(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network error while sampling the source is worth a retry; the sensor does not stop for good."""
    from airflow_provider_s3xacct.sensors import KmsAccessSensor

    for name, value in credential_env(world.source, world.endpoint_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    world.put("data/a", b"1", kms=world.source_key_arn)
    fault(world, "ListObjects", f"/{world.source_bucket}", kind="reset-before", times=10)
    sensor = KmsAccessSensor(
        task_id="kms",
        aws_conn_id=None,
        region_name="us-east-1",
        discover_keys_from=f"s3://{world.source_bucket}/data/",
        bucket_region="us-east-1",
        poke_interval=0,
        timeout=5,
    )
    _fails(sensor, retryable=True, match="key discovery under .* failed: S3 could not be reached")
