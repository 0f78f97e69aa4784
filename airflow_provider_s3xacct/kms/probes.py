"""Probing one KMS key the way the copy will use it, cheapest request first.

The probe is written as a generator that yields the AWS calls it needs and receives their
results (a response dict or the ClientError). The same logic then runs synchronously (sensor
poke, CLI) and asynchronously on the triggerer (aiobotocore), with no second copy of the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.codes import TERMINAL_KEY_STATES, is_denial, key_state_problem
from airflow_provider_s3xacct.aws.errors import InvalidInputError, error_code, error_message
from airflow_provider_s3xacct.aws.locations import KmsKeyRef, S3Location
from airflow_provider_s3xacct.diagnosis.messages import parse_denial

OPERATIONS = ("decrypt", "generate_data_key")
# The code a probe sees for a request that never got an answer (connection refused or reset, a
# timeout): not a verdict about the key, so never terminal; the next poke or round asks again.
NETWORK_ERROR = "NetworkError"


@dataclass(frozen=True)
class Call:
    """One AWS request the probe needs: service, region, client method and its arguments."""

    service: str
    region: str | None
    method: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class SampleObject:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, field_name: str = "sample_object") -> SampleObject:
        location = S3Location.parse(uri, field_name)
        key = uri[len("s3://") + len(location.bucket) + 1 :]
        if not key or key.endswith("/"):
            raise InvalidInputError(field_name, f"{uri!r} must name one object, not a prefix")
        return cls(location.bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class KeyAccess:
    """What the probes found for one key. ``terminal``: waiting cannot fix ``problem``."""

    key_arn: str
    region: str
    operations: dict[str, bool | None]
    state: str | None = None
    key_manager: str | None = None
    problem: str | None = None
    terminal: bool = False
    sample_object: str | None = None
    notes: list[str] = field(default_factory=list)
    # The key ARN DescribeKey resolved an alias ARN to (None: given as a key ARN, or not resolved).
    resolved_key_arn: str | None = None

    @property
    def ok(self) -> bool:
        return not self.terminal and all(v is True for v in self.operations.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def fail(self, problem: str, *, terminal: bool = False) -> KeyAccess:
        self.problem = f"{self.problem}; {problem}" if self.problem else problem
        self.terminal = self.terminal or terminal
        return self


def normalise_operations(operations: Sequence[str] | str) -> tuple[str, ...]:
    """Accept 'decrypt', 'generate_data_key' or 'generate-data-key', as a list or comma string."""
    items = operations.split(",") if isinstance(operations, str) else list(operations)
    result = []
    for item in items:
        name = item.strip().replace("-", "_")
        if name not in OPERATIONS:
            raise InvalidInputError("operations", f"{item!r} is not one of decrypt, generate_data_key")
        result.append(name)
    if not result:
        raise InvalidInputError("operations", "name at least one of decrypt, generate_data_key")
    return tuple(dict.fromkeys(result))


def _error(result: Any) -> tuple[str, str] | None:
    if isinstance(result, ClientError):
        return error_code(result), error_message(result)
    if isinstance(result, BotoCoreError):
        return NETWORK_ERROR, str(result)
    return None


def _kms_state_problem(code: str, message: str, ref: KmsKeyRef) -> str | None:
    problem = key_state_problem(code, message, account=ref.account_id, region=ref.region)
    return f"{problem.cause}: {problem.fix}" if problem else None


def _denied_reason(message: str, action: str, ref: KmsKeyRef) -> str:
    denial = parse_denial(message)
    if denial.policy_type == "key policy":
        where = f"the key policy of {ref.arn} (account {ref.account_id})"
    elif denial.policy_type:
        where = f"the principal's {denial.policy_type}"
    else:
        where = f"the key policy of {ref.arn} (account {ref.account_id}) and the principal's identity policy"
    how = "an explicit Deny in" if denial.explicit_deny else "no Allow in"
    return f"{action} denied ({how} {where}); IAM and key policy changes can take a few minutes to apply"


def probe_key(
    key_arn: str,
    operations: Sequence[str],
    *,
    sample_object: SampleObject | None = None,
    bucket_region: str | None = None,
    principal_account: str | None = None,
) -> Generator[Call, Any, KeyAccess]:
    """Probe ``key_arn`` for ``operations``; yields the calls, returns the :class:`KeyAccess`."""
    ref = KmsKeyRef.parse(key_arn, "key_arns")
    access = KeyAccess(
        key_arn=key_arn,
        region=ref.region,
        operations=dict.fromkeys(operations),
        sample_object=sample_object.uri if sample_object else None,
    )
    if bucket_region and (problem := ref.region_problem(bucket_region)):
        return access.fail(problem, terminal=True)

    described = yield Call("kms", ref.region, "describe_key", {"KeyId": key_arn})
    if (error := _error(described)) is not None:
        code, message = error
        if code == NETWORK_ERROR:
            return access.fail(f"no answer from KMS ({message}); asked again at the next check")
        cross_account = principal_account is not None and ref.account_id != principal_account
        if code == "NotFoundException" and cross_account:
            # Another account's key may be invisible to DescribeKey without being unusable: the
            # data probes below (GenerateDataKey, the ranged GET) decide.
            access.notes.append(f"DescribeKey found no key {ref.arn} from account {principal_account}")
        elif (problem := _kms_state_problem(code, message, ref)) is not None:
            return access.fail(problem, terminal=True)
        else:
            access.notes.append(f"DescribeKey not permitted ({code}); key state unknown")
    else:
        meta = described["KeyMetadata"]
        if meta.get("Arn") and meta["Arn"] != ref.arn:
            # An alias resolved: the checks below (the key's account, the sample's key, the
            # denials) are about the key it names, as S3 and KMS see it.
            ref = KmsKeyRef.parse(meta["Arn"], "key_arns")
            access.resolved_key_arn = ref.arn
        access.state = meta.get("KeyState")
        access.key_manager = meta.get("KeyManager")
        if access.state in TERMINAL_KEY_STATES:
            return access.fail(
                TERMINAL_KEY_STATES[access.state].format(account=ref.account_id), terminal=True
            )
        spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if spec != "SYMMETRIC_DEFAULT" or meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            return access.fail(
                f"the key is {spec}/{meta.get('KeyUsage')}: SSE-KMS needs a symmetric encryption key "
                "(SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)",
                terminal=True,
            )
        if access.key_manager == "AWS" and principal_account and ref.account_id != principal_account:
            return access.fail(
                "the key is the AWS managed aws/s3 key of account "
                f"{ref.account_id}; its key policy cannot be changed, so no other account can ever decrypt "
                "with it: the source must re-encrypt its objects with a customer managed key and share that",
                terminal=True,
            )

    if "generate_data_key" in operations:
        generated = yield Call(
            "kms", ref.region, "generate_data_key", {"KeyId": key_arn, "KeySpec": "AES_256", "DryRun": True}
        )
        error = _error(generated)
        if error is None or error[0] == "DryRunOperationException":
            # moto performs DryRun calls instead of refusing them: a normal answer means allowed too.
            access.operations["generate_data_key"] = True
        elif is_denial(error[0]):
            access.operations["generate_data_key"] = False
            access.fail(_denied_reason(error[1], "kms:GenerateDataKey", ref))
        elif (problem := _kms_state_problem(*error, ref)) is not None:
            return access.fail(problem, terminal=True)
        else:
            access.fail(f"GenerateDataKey failed: {error[0]}: {error[1]}")

    if "decrypt" in operations:
        if sample_object is None:
            raise InvalidInputError(
                "sample_object",
                f"the decrypt probe for {key_arn} needs an object encrypted under it: pass "
                "sample_object (or discover_keys_from)",
            )
        yield from _probe_decrypt(access, ref, sample_object, bucket_region)
    return access


def _probe_decrypt(
    access: KeyAccess, ref: KmsKeyRef, sample: SampleObject, bucket_region: str | None
) -> Generator[Call, Any, None]:
    """A one-byte ranged GET of an object under the key: exactly what a copy makes KMS do."""
    got = yield Call(
        "s3", bucket_region, "get_object", {"Bucket": sample.bucket, "Key": sample.key, "Range": "bytes=0-0"}
    )
    error = _error(got)
    if error is None:
        # A readable sample proves nothing about this key unless the sample is encrypted under it;
        # the GET response says which key it used, so this costs no extra request.
        if not _encrypted_under(got, ref, sample, access):
            return
        access.operations["decrypt"] = True
        return
    code, message = error
    if is_denial(code):
        head = yield Call("s3", bucket_region, "head_object", {"Bucket": sample.bucket, "Key": sample.key})
        if (head_error := _error(head)) is not None and head_error[0] == NETWORK_ERROR:
            access.fail(f"no answer from S3 ({head_error[1]}); asked again at the next check")
            return
        if head_error is not None:
            access.operations["decrypt"] = None
            access.fail(
                f"S3 denies even a HEAD of {sample.uri}: grant s3:GetObject on it (identity policy "
                "and source bucket policy) before kms:Decrypt can be tested"
            )
            return
        if not _encrypted_under(head, ref, sample, access):
            return
        access.operations["decrypt"] = False
        access.fail(_denied_reason(message, "kms:Decrypt", ref))
    elif (problem := _kms_state_problem(code, message, ref)) is not None:
        access.fail(problem, terminal=True)
    elif code in ("NoSuchKey", "NoSuchBucket", "InvalidObjectState", "InvalidRange"):
        access.fail(
            f"sample object {sample.uri} cannot be read ({code}: {message}); pick another", terminal=True
        )
    else:
        access.fail(f"GetObject of {sample.uri} failed: {code}: {message}")


def _encrypted_under(
    response: dict[str, Any], ref: KmsKeyRef, sample: SampleObject, access: KeyAccess
) -> bool:
    """True when the GET/HEAD ``response`` shows the sample is SSE-KMS under ``ref``; else fail terminally."""
    object_key = response.get("SSEKMSKeyId")
    if response.get("ServerSideEncryption") == "aws:kms" and object_key in (ref.arn, ref.name):
        return True
    if response.get("ServerSideEncryption") == "aws:kms" and ref.is_alias:
        # DescribeKey did not resolve the alias (not permitted): which key it names is unknown.
        access.notes.append(f"{sample.uri} uses {object_key}; not confirmed to be the key {ref.arn} names")
        return True
    access.fail(
        f"{sample.uri} is not encrypted under this key (it uses "
        f"{object_key or response.get('ServerSideEncryption') or 'no SSE'}); pick a sample object that is",
        terminal=True,
    )
    return False


def _settled(result: dict[str, Any]) -> dict[str, Any]:
    """A response the probe may keep: a ranged GET's body stream is closed (only headers matter)."""
    if "Body" in result:
        result["Body"].close()
    return result


def run_probe(
    probe: Generator[Call, Any, KeyAccess], client_for: Callable[[str, str | None], Any]
) -> KeyAccess:
    """Drive a probe with synchronous boto3 clients (``client_for(service, region)``)."""
    try:
        call = next(probe)
        while True:
            try:
                result = _settled(getattr(client_for(call.service, call.region), call.method)(**call.kwargs))
            except (ClientError, BotoCoreError) as exc:  # answers and network errors alike go to the probe
                result = exc
            call = probe.send(result)
    except StopIteration as stop:
        return stop.value


async def run_probe_async(
    probe: Generator[Call, Any, KeyAccess], client_for: Callable[[str, str | None], Any]
) -> KeyAccess:
    """Drive a probe with aiobotocore clients (``await client_for(service, region)``)."""
    try:
        call = next(probe)
        while True:
            try:
                client = await client_for(call.service, call.region)
                result = _settled(await getattr(client, call.method)(**call.kwargs))
            except (ClientError, BotoCoreError) as exc:  # answers and network errors alike go to the probe
                result = exc
            call = probe.send(result)
    except StopIteration as stop:
        return stop.value


_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


def account_of(principal_arn: str | None) -> str | None:
    match = _ACCOUNT_IN_ARN.match(principal_arn or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class KeyProbePlan:
    """What to probe for one key; serialisable, so a trigger can carry it to the triggerer."""

    key_arn: str
    operations: tuple[str, ...]
    sample_object: str | None = None
    # Region of the bucket this key serves: a source key is probed against the source bucket's
    # region and the destination key against the destination's, so a transfer across regions
    # checks each key where S3 will use it.
    bucket_region: str | None = None
    # Relay copy: whose principal probes it, "source" (decrypt: it reads) or "destination"
    # (generate_data_key: it writes); None: the one principal of a server-side copy.
    side: str | None = None

    def start(self, principal_account: str | None) -> Generator[Call, Any, KeyAccess]:
        sample = SampleObject.parse(self.sample_object) if self.sample_object else None
        return probe_key(
            self.key_arn,
            self.operations,
            sample_object=sample,
            bucket_region=self.bucket_region,
            principal_account=principal_account,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_arn": self.key_arn,
            "operations": list(self.operations),
            "sample_object": self.sample_object,
            "bucket_region": self.bucket_region,
            **({"side": self.side} if self.side else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyProbePlan:
        return cls(
            data["key_arn"],
            tuple(data["operations"]),
            data.get("sample_object"),
            data.get("bucket_region"),
            data.get("side"),
        )


# The principal that uses a key for each operation in a relay copy: the source principal's GetObject
# decrypts, the destination principal's PutObject/UploadPart generates the data key.
RELAY_SIDE_OF_OPERATION = {"decrypt": "source", "generate_data_key": "destination"}


def relay_plans(plans: Sequence[KeyProbePlan]) -> list[KeyProbePlan]:
    """The plans of a relay copy: each operation probed by the principal that will perform it
    (a key used for both is probed once per side)."""
    split: list[KeyProbePlan] = []
    for plan in plans:
        for side in dict.fromkeys(RELAY_SIDE_OF_OPERATION[op] for op in plan.operations):
            operations = tuple(op for op in plan.operations if RELAY_SIDE_OF_OPERATION[op] == side)
            split.append(replace(plan, operations=operations, side=side))
    return split


def validate_plans(plans: Sequence[KeyProbePlan]) -> None:
    """Check every plan before any AWS call (ARNs, operations, sample objects)."""
    if not plans:
        raise InvalidInputError("key_arns", "no KMS key to probe: pass key_arns or discover_keys_from")
    for plan in plans:
        KmsKeyRef.parse(plan.key_arn, "key_arns")
        normalise_operations(plan.operations)
        if plan.sample_object:
            SampleObject.parse(plan.sample_object)
        elif "decrypt" in plan.operations:
            raise InvalidInputError(
                "sample_object",
                f"the decrypt probe for {plan.key_arn} needs an object encrypted under it: "
                "pass sample_object (or discover_keys_from)",
            )


def probe_all(
    plans: Sequence[KeyProbePlan],
    client_for: Callable[[str, str | None], Any],
    *,
    principal_account: str | None = None,
) -> list[KeyAccess]:
    return [run_probe(plan.start(principal_account), client_for) for plan in plans]
