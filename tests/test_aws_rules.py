"""Each rule of AWS is written once (docs/design.md, "Where each AWS rule lives"), and stays so.

The grep tests fail when a copy of a rule comes back outside the module that owns it; the others
check the shared rule itself.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from airflow_provider_s3xacct.aws.arns import Arn, account_of, partition_of_arn, region_of, s3_arn
from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.codes import key_state_problem
from airflow_provider_s3xacct.aws.errors import (
    InvalidInputError,
    code_and_message,
    error_code,
    error_message,
    http_status,
)
from airflow_provider_s3xacct.aws.locations import prefixes_overlap
from airflow_provider_s3xacct.diagnosis.explain import Diagnoser, TransferContext
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.inject import s3_error_body

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_s3xacct"


def _code_lines(pattern: str, *, owner: str) -> list[str]:
    """Lines of the package matching ``pattern``, outside the module ``owner`` that owns the rule."""
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() != owner
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if regex.search(line)
    ]


def test_arns_are_split_only_by_the_arn_module() -> None:
    """``arn.split(":")[4]`` was written in seven places; Arn.parse is the one parser now."""
    # Indexing a split on ":" (an action's "s3:GetObject" is split with a maxsplit), or any split of
    # something named like an ARN.
    pattern = r"""\.split\(\s*["']:["']\s*\)\s*\[|arn\w*(\.\w+)*\.split\(\s*["']:"""
    assert _code_lines(pattern, owner="aws/arns.py") == []


def test_no_arn_is_built_with_a_hard_coded_partition() -> None:
    """``arn:aws:...{value}`` never matches in aws-cn or aws-us-gov: ARNs are built from a partition."""
    assert _code_lines(r"""arn:aws:[^"'\s]*\{""", owner="aws/arns.py") == []


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa",
        "arn:aws-cn:s3:::bucket/key:with:colons",
        "arn:aws-us-gov:iam::222222222222:role/path/name",
    ],
)
def test_arn_round_trips(text: str) -> None:
    arn = Arn.parse(text)
    assert str(arn) == text
    assert (partition_of_arn(text), account_of(text), region_of(text)) == (
        arn.partition,
        arn.account,
        arn.region,
    )


def test_arn_fields_are_named() -> None:
    arn = Arn.parse("arn:aws-cn:kms:cn-north-1:111111111111:key/abc")
    assert (arn.partition, arn.service, arn.region, arn.account, arn.resource) == (
        "aws-cn",
        "kms",
        "cn-north-1",
        "111111111111",
        "key/abc",
    )
    assert s3_arn("aws-cn", "b", "k/") == "arn:aws-cn:s3:::b/k/"


@pytest.mark.parametrize("text", ["alias/x", "arn:aws:kms", "", "1111aaaa-1111-aaaa-1111-aaaa1111aaaa"])
def test_not_an_arn_is_refused_with_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="arn:<partition>:<service>"):
        Arn.parse(text)


class _DeniedHead:
    """A source client whose HEAD is refused: S3, not KMS, denied the read."""

    def head_object(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")


def test_diagnosis_names_arns_in_the_principals_partition() -> None:
    """A fix for a China-region copy names arn:aws-cn: resources (an arn:aws: grant would not match)."""
    context = TransferContext(
        "src", "dst", principal_arn="arn:aws-cn:iam::222222222222:role/sync", source_account_id="111111111111"
    )
    diagnosis = Diagnoser(context, _DeniedHead()).explain(
        "CopyObject", "a/b", "AccessDenied", "Access Denied"
    )
    assert diagnosis.resource == "arn:aws-cn:s3:::src/a/b"
    assert "arn:aws-cn:s3:::src/<prefix>*" in diagnosis.fix and "arn:aws:" not in str(diagnosis)


def test_denial_codes_and_key_states_are_read_in_one_place() -> None:
    """Two sets of denial codes and two translations of KMS key states used to drift apart."""
    for literal in (
        '"AccessDeniedException"',
        '"DisabledException"',
        '"KMSInvalidStateException"',
    ):
        assert _code_lines(re.escape(literal), owner="aws/codes.py") == [], literal


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("KMS.DisabledException", "kms:EnableKey"),
        ("KMS.KMSInvalidStateException", "kms:CancelKeyDeletion"),
        ("KMS.NotFoundException", "bucket's region"),
    ],
)
def test_a_copy_failing_on_the_key_state_says_the_same_as_the_probe(code: str, fix: str) -> None:
    """The copy's diagnosis (S3 passes KMS's code on with a KMS. prefix) and the key probe give the
    same cause and fix, and the copy does not retry: the key's owner has to act."""
    key = "arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"
    diagnosis = Diagnoser(TransferContext("src", "dst")).explain("CopyObject", "a", code, f"{key} is bad.")
    probe = key_state_problem(code.removeprefix("KMS."), f"{key} is bad.")
    assert probe is not None and probe.cause in diagnosis.cause and fix in diagnosis.fix
    assert diagnosis.permanent and diagnosis.kms_key_arn == key


def test_aws_error_answers_are_read_in_one_place() -> None:
    """``exc.response.get("Error", {}).get("Code")`` was written eighteen times (and the status
    twice), each with its own default and guard; aws/errors.py reads botocore's structure now.
    Building an error (``ClientError({"Error": {...}}, op)``) is not reading one."""
    pattern = r"""(\.get\(\s*|\[\s*)["'](Error|HTTPStatusCode)["']"""
    assert _code_lines(pattern, owner="aws/errors.py") == []


class _Body:
    """The raw body of an HTTP answer, as botocore's AWSResponse reads it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _raised(service: str, call: str, status: int, body: bytes, **params: Any) -> BaseException:
    """What botocore raises when AWS answers ``call`` with ``status`` and ``body``: botocore's own
    parser and exception factory build it, nothing reaches the network."""
    client = botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    client.meta.events.register(
        "before-send", lambda request, **_: AWSResponse(request.url, status, {}, _Body(body))
    )
    with pytest.raises(ClientError) as caught:
        getattr(client, call)(**params)
    return caught.value


@pytest.mark.parametrize(
    ("service", "call", "params", "status", "body", "code", "message"),
    [
        (
            "s3",
            "get_object",
            {"Bucket": "b", "Key": "k"},
            403,
            s3_error_body("AccessDenied", "Access Denied"),
            "AccessDenied",
            "Access Denied",
        ),
        # A HEAD has no body: botocore makes the code and message of the status.
        ("s3", "head_object", {"Bucket": "b", "Key": "k"}, 404, b"", "404", "Not Found"),
        (
            "kms",
            "describe_key",
            {"KeyId": "alias/x"},
            400,
            b'{"__type": "NotFoundException", "message": "Alias alias/x is not found."}',
            "NotFoundException",
            "Alias alias/x is not found.",
        ),
    ],
)
def test_an_aws_error_is_read_as_botocore_raises_it(
    service: str, call: str, params: dict[str, Any], status: int, body: bytes, code: str, message: str
) -> None:
    """S3's XML error, a HEAD's bodiless one and KMS's JSON one, as botocore parses them."""
    exc = _raised(service, call, status, body, **params)
    assert (error_code(exc), error_message(exc), http_status(exc)) == (code, message, status)
    assert code_and_message(exc) == f"{code}: {message}"


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad"),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        requests.HTTPError("503", response=requests.Response()),
    ],
)
def test_an_exception_without_an_aws_answer_reads_empty(exc: BaseException) -> None:
    """A network error or one of ours carries no answer: no code, no message, no status (an HTTP
    library's error has a ``response`` too, but not botocore's)."""
    read = (error_code(exc), error_message(exc), http_status(exc), code_and_message(exc))
    assert read == ("", "", None, "")


def test_a_hand_built_aws_error_reads_what_it_has() -> None:
    """Errors built by hand (the relay's BadDigest, the CRT's translation) may lack fields."""
    exc = ClientError({"Error": {"Code": "BadDigest"}}, "GetObject")
    assert (error_code(exc), error_message(exc), http_status(exc)) == ("BadDigest", "", None)
    assert code_and_message(exc) == "BadDigest: None"  # as every error text showed a missing field
    bare = ClientError({}, "GetObject")
    assert (error_code(bare), error_message(bare), http_status(bare)) == ("", "", None)


def test_bucket_owner_arguments_are_built_in_one_place() -> None:
    """``ExpectedBucketOwner`` was built in seven places, each free to forget it (owner_args)."""
    pattern = r"""["']Expected(Source)?BucketOwner["']\s*:|Expected(Source)?BucketOwner\s*=|\[["']Expected(Source)?BucketOwner["']\]\s*="""
    assert _code_lines(pattern, owner="aws/locations.py") == []


def test_region_and_overlap_rules_are_written_once() -> None:
    """The key-in-the-bucket's-region check was written four times, the prefix overlap twice."""
    assert _code_lines(r"only (uses|encrypts with) keys?\b", owner="aws/locations.py") == []
    assert _code_lines(r"prefix\.startswith\([\w.]*prefix\)", owner="aws/locations.py") == []


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (("b", "data/"), ("b", "data/out/"), True),
        (("b", "data/out/"), ("b", "data/"), True),
        (("b", ""), ("b", "x/"), True),
        (("b", "data/"), ("b", "data2/"), False),
        (("b", "data/"), ("c", "data/"), False),
    ],
)
def test_prefix_overlap(a: tuple[str, str], b: tuple[str, str], overlap: bool) -> None:
    assert prefixes_overlap(*a, *b) is overlap


def _transfer(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": {"account_id": "111111111111", "bucket": "src", "prefix": "data/", "region": "us-east-1"},
        "destination": {"account_id": "222222222222", "bucket": "dst", "prefix": "", "region": "us-east-1"},
        "principal_arn": "arn:aws:iam::222222222222:user/sync",
    }
    for side, values in changes.items():
        data[side] = {**data[side], **values}
    return data


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"source": {"kms_key_arns": ["arn:aws:kms:eu-west-1:111111111111:key/k"]}},
            "source.kms_key_arns[0]",
            "the key is in eu-west-1 but the source bucket is in us-east-1",
        ),
        (
            {"destination": {"kms_key_arn": "arn:aws:kms:eu-west-1:222222222222:key/k"}},
            "destination.kms_key_arn",
            "the key is in eu-west-1 but the destination bucket is in us-east-1",
        ),
        ({"destination": {"bucket": "src", "prefix": "data/out/"}}, "destination", "overlaps the source"),
    ],
)
def test_permission_spec_refuses_what_s3_would(changes: dict[str, Any], field: str, words: str) -> None:
    """plan/verify refuse a key S3 would not use (S3 only uses a key of the bucket's region) and a
    destination inside the source, before any AWS call, naming the field."""
    with pytest.raises(InvalidInputError) as caught:
        TransferSpec.create(_transfer(**changes))
    assert caught.value.field == field and words in str(caught.value)


def test_copy_spec_refuses_a_destination_inside_the_source() -> None:
    with pytest.raises(InvalidInputError, match="overlaps the source") as caught:
        CopySpec.create(source="s3://bkt/data/", destination="s3://bkt/data/x/")
    assert caught.value.field == "destination"


def test_one_client_per_service_and_region() -> None:
    """Clients are costly to make (service model, connection pool): each is made once."""
    made: list[tuple[str, str | None]] = []

    def make(service: str, region: str | None) -> object:
        made.append((service, region))
        return object()

    clients = ClientCache(make)
    assert clients("kms", "us-east-1") is clients("kms", "us-east-1")
    assert clients("kms", "eu-west-1") is not clients("kms", "us-east-1")
    clients("s3", "us-east-1")
    assert made == [("kms", "us-east-1"), ("kms", "eu-west-1"), ("s3", "us-east-1")]


def test_the_triggerers_cache_opens_each_async_client_once() -> None:
    """The triggerer caches a task per client: two probes awaiting it get the one opened client."""
    opened: list[str] = []

    async def open_client(service: str, region: str | None) -> object:
        opened.append(service)
        await asyncio.sleep(0)
        return object()

    async def round_() -> tuple[object, object]:
        clients = ClientCache(lambda s, r: asyncio.ensure_future(open_client(s, r)))
        return await clients("kms", "us-east-1"), await clients("kms", "us-east-1")

    first, second = asyncio.run(round_())
    assert first is second and opened == ["kms"]
