"""``KmsAccessSensor``: waits until the sync principal can really use each KMS key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import KmsKeyRef, S3Location
from airflow_provider_s3xacct.compat import AirflowFailException, AirflowSensorTimeout, PokeReturnValue, conf
from airflow_provider_s3xacct.hooks.sync_principal import CONNECTION_ARGUMENTS, SyncPrincipalHook
from airflow_provider_s3xacct.kms.discovery import discover_keys
from airflow_provider_s3xacct.kms.probes import (
    KeyAccess,
    KeyProbePlan,
    SampleObject,
    account_of,
    normalise_operations,
    probe_all,
    relay_plans,
    validate_plans,
)
from airflow_provider_s3xacct.operators.errors import failure, task_failures
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.transfer.relay import check_transfer_topology
from airflow_provider_s3xacct.transfer.spec import CopySpec
from airflow_provider_s3xacct.triggers.kms import KmsAccessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def _describe(results: Sequence[KeyAccess | Mapping[str, Any]]) -> str:
    lines = []
    for r in results:
        data = r.to_dict() if isinstance(r, KeyAccess) else r
        verdict = "usable" if data["ok"] else data["problem"]
        lines.append(f"  {data['key_arn']}: {verdict}")
    return "\n".join(lines)


class KmsAccessSensor(AwsBaseSensor[SyncPrincipalHook]):
    """Succeeds when the sync principal (``aws_conn_id``) can use every KMS key as the copy will.

    Probes, cheapest first: DescribeKey (state, usage, spec, region), GenerateDataKey with
    ``DryRun=True`` for ``generate_data_key``, and a one-byte ranged GET of an object encrypted
    under the key for ``decrypt``. While access is denied it keeps waiting (IAM and key policy
    changes take time to propagate); it fails at once with ``AirflowFailException`` when waiting
    cannot help (key disabled, pending deletion, missing, in another region than the bucket,
    asymmetric, or the AWS managed ``aws/s3`` key of another account). It waits 30 minutes by
    default (``timeout``), checking every 30 seconds (``poke_interval``): long enough for IAM and
    key-policy changes to propagate, short enough that a nightly run is not held all night.

    :param transfer: the transfer spec in the ``s3xacct`` config format, as the copy and the
        permissions task take it (a mapping, or a template such as
        ``"{{ var.json.s3xacct_transfer }}"`` rendering to it, its JSON or its Python text). It
        gives the destination key (probed for ``generate_data_key`` in the destination region), the
        source prefix to discover the source keys under (probed for ``decrypt`` in the source
        region) and both regions; the arguments below then narrow it and must agree with it
        (templated).
    :param key_arns: key ARNs to probe; with ``transfer``, keys it names (templated).
    :param operations: ``decrypt`` and/or ``generate_data_key`` for every key, or a mapping
        key ARN -> operations (default ``decrypt``; with ``transfer``, ``generate_data_key`` on its
        destination key) (templated).
    :param sample_objects: key ARN -> ``s3://bucket/key`` of an object encrypted under it, for the
        decrypt probe (templated).
    :param discover_keys_from: ``s3://bucket/prefix`` whose objects are sampled (HEAD) to find the
        keys really in use; each found key is probed for ``decrypt`` with a sample object (templated).
    :param discover_sample_size: how many objects under ``discover_keys_from`` to HEAD.
    :param bucket_region: region of the bucket the ``key_arns`` serve (the destination's, for
        ``generate_data_key``); a key in another region is refused, as S3 would (templated).
    :param source_region: region of the bucket in ``discover_keys_from``: discovery lists it there,
        and the keys found are probed against it, so a transfer across regions checks each key
        where S3 will use it. Defaults to ``bucket_region`` (templated).
    :param deferrable: wait on the triggerer instead of a worker slot. A network error during a
        check is not a verdict: the sensor checks again at the next poke (or trigger round); an
        error of the trigger itself fails the task retryably. Default: the ``[operators]
        default_deferrable`` option.
    :param check_before_defer: with ``deferrable``, probe once on the worker first, so a run whose
        access is already there (the usual case) finishes without a trip to the triggerer. False
        hands every check to the triggerer, the wait then shows as deferred from the start.
    :param source_aws_conn_id: relay copy: the connection of the principal that reads the source
        (the copy's ``source_aws_conn_id``); the source keys are discovered and probed for
        ``decrypt`` as it. A side without its own connection uses ``aws_conn_id`` (templated).
    :param dest_aws_conn_id: relay copy: the connection of the principal that writes the
        destination; the destination key is probed for ``generate_data_key`` as it (templated).
    :param aws_conn_id: the Airflow connection of the sync principal (a server-side copy, or a
        relay side without its own connection); None or empty uses boto3's default credential
        chain (environment, instance profile, ...) (templated).
    :param region_name: AWS region for the clients; if empty, the connection's (templated).
    :param verify: whether to verify SSL certificates: False skips verification, a path uses that CA
        bundle; None uses botocore's default (templated).
    :param botocore_config: the botocore client configuration, as a dict (``botocore.config.Config``'s
        arguments).
    """

    aws_hook_class = SyncPrincipalHook
    template_fields: Sequence[str] = aws_template_fields(
        "transfer",
        "key_arns",
        "operations",
        "sample_objects",
        "discover_keys_from",
        "bucket_region",
        "source_region",
        "source_aws_conn_id",
        "dest_aws_conn_id",
    )
    template_fields_renderers = {"transfer": "json"}
    ui_color = "#e8d8f5"

    def __init__(
        self,
        *,
        transfer: Mapping[str, Any] | str | None = None,
        key_arns: str | Sequence[str] = (),
        operations: str | Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        sample_objects: Mapping[str, str] | None = None,
        discover_keys_from: str | None = None,
        discover_sample_size: int = 100,
        bucket_region: str | None = None,
        source_region: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        check_before_defer: bool = True,
        source_aws_conn_id: str | None = None,
        dest_aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        kwargs.setdefault("timeout", 30 * 60)
        super().__init__(**kwargs)
        self.transfer = transfer
        self.key_arns = key_arns
        self.operations = operations
        self.sample_objects = sample_objects
        self.discover_keys_from = discover_keys_from
        self.discover_sample_size = discover_sample_size
        self.bucket_region = bucket_region
        self.source_region = source_region
        self.deferrable = deferrable
        self.check_before_defer = check_before_defer
        self.source_aws_conn_id = source_aws_conn_id
        self.dest_aws_conn_id = dest_aws_conn_id
        self._plans: list[KeyProbePlan] | None = None
        # The principal's account per side (None: the one principal), one STS call each per run.
        self._accounts: dict[str | None, str] = {}
        # One hook per relay connection, each building its session once (SyncPrincipalHook).
        self._side_hooks: dict[str, SyncPrincipalHook] = {}

    @property
    def relay(self) -> bool:
        """Two principals: each key is probed by the side's principal that will use it."""
        return bool(self.source_aws_conn_id or self.dest_aws_conn_id)

    def _conn_of(self, side: str | None) -> str | None:
        return {"source": self.source_aws_conn_id, "destination": self.dest_aws_conn_id}.get(side or "") or None

    def _hook_for(self, side: str | None) -> SyncPrincipalHook:
        """The hook of a relay side's connection, else ``aws_conn_id``'s."""
        conn_id = self._conn_of(side)
        if conn_id is None:
            return self.hook
        if conn_id not in self._side_hooks:
            self._side_hooks[conn_id] = SyncPrincipalHook(
                aws_conn_id=conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
            )
        return self._side_hooks[conn_id]

    # -- planning (once per task run; validation before any AWS call) ----------------------------

    def _operations_for(self, key_arn: str) -> tuple[str, ...]:
        ops = self.operations if self.operations is not None else ("decrypt",)
        if isinstance(ops, Mapping):
            return normalise_operations(ops.get(key_arn, ("decrypt",)))
        return normalise_operations(ops)

    def build_plans(self) -> list[KeyProbePlan]:
        """Validate the arguments, discover keys if asked, and return what to probe."""
        with task_failures():
            return self._build_plans()

    def _from_transfer(self) -> None:
        """Fill the probe settings from ``transfer`` (CopySpec.from_transfer, the one translation),
        so the sensor probes the keys and regions the copy will use; explicit arguments must agree."""
        if self.transfer in (None, ""):
            return
        given = {"source_uri": "discover_keys_from", "dest_region": "bucket_region", "source_region": "source_region"}
        try:
            copy = CopySpec.from_transfer(
                TransferSpec.parse(self.transfer),
                source=self.discover_keys_from or None,
                dest_region=self.bucket_region or None,
                source_region=self.source_region or None,
            )
        except InvalidInputError as exc:
            raise InvalidInputError(given.get(exc.field, exc.field), str(exc)[len(exc.field) + 2 :]) from None
        transfer = TransferSpec.parse(self.transfer)
        check_transfer_topology(
            transfer.relay,
            relay=self.relay,
            source_given=bool(self.source_aws_conn_id),
            dest_given=bool(self.dest_aws_conn_id),
            names=CONNECTION_ARGUMENTS,
        )
        named = {a for a in (copy.dest_kms_key_id, *transfer.source.kms_key_arns) if a}
        explicit = [self.key_arns] if isinstance(self.key_arns, str) else list(self.key_arns or ())
        for arn in explicit:
            if arn and arn != "None" and arn not in named:
                raise InvalidInputError(
                    "key_arns", f"{arn!r} is not a key of the transfer (destination.kms_key_arn, source.kms_key_arns)"
                )
        if not explicit and copy.dest_kms_key_id:
            self.key_arns = [copy.dest_kms_key_id]
            if self.operations is None:
                self.operations = {copy.dest_kms_key_id: ("generate_data_key",)}
        self.discover_keys_from = copy.source.uri
        self.bucket_region = copy.dest_region
        self.source_region = copy.source_region

    def _build_plans(self) -> list[KeyProbePlan]:
        if self._plans is not None:
            return self._plans
        self._from_transfer()
        arns = [self.key_arns] if isinstance(self.key_arns, str) else list(self.key_arns or ())
        arns = [a for a in arns if a and a != "None"]  # a null key rendered by a template means "none"
        samples = dict(self.sample_objects or {})
        location = (
            S3Location.parse(self.discover_keys_from, "discover_keys_from")
            if self.discover_keys_from
            else None
        )
        # Validate what was given before discovery makes any request.
        if not arns and location is None:
            raise InvalidInputError("key_arns", "no KMS key to probe: pass key_arns or discover_keys_from")
        for key_arn in arns:
            KmsKeyRef.parse(key_arn, "key_arns")
            self._operations_for(key_arn)
        for uri in samples.values():
            SampleObject.parse(uri, "sample_objects")
        given = set(arns)
        source_region = self.source_region or self.bucket_region
        if location is not None:
            reader = self._hook_for("source" if self.relay else None)
            discovery = discover_keys(reader.client_for("s3", source_region), location, self.discover_sample_size)
            self.log.info("key discovery under %s: %s", location.uri, discovery.describe())
            for key_arn, sample in discovery.keys.items():
                samples.setdefault(key_arn, sample.uri)
                if key_arn not in arns:
                    arns.append(key_arn)
        # Keys found only by discovery encrypt source objects: the copy needs decrypt on them.
        plans = [
            KeyProbePlan(
                a,
                self._operations_for(a) if a in given else ("decrypt",),
                samples.get(a),
                self.bucket_region if a in given else source_region,
            )
            for a in arns
        ]
        if plans:
            validate_plans(plans)
        if self.relay:
            plans = relay_plans(plans)
        self._plans = plans
        return plans

    def _principal_account(self, side: str | None = None) -> str | None:
        """A principal's account (one STS call per side and task run, however often it pokes)."""
        if side not in self._accounts:
            self._accounts[side] = account_of(self._hook_for(side).principal_arn()) or ""
        return self._accounts[side] or None

    def _probe(self) -> list[KeyAccess]:
        plans = self.build_plans()
        if not self.relay:
            clients = ClientCache(lambda service, region: self.hook.client_for(service, region))
            return probe_all(plans, clients, principal_account=self._principal_account())
        caches = {side: ClientCache(self._hook_for(side).client_for) for side in {plan.side for plan in plans}}
        return [
            probe_all([plan], caches[plan.side], principal_account=self._principal_account(plan.side))[0]
            for plan in plans
        ]

    # -- poke / reschedule ------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        """One probe of every key; a core failure ends as the error table's retryable or permanent one."""
        with task_failures():
            results = self._probe()
        if not results:
            self.log.info("no KMS key in use: nothing to probe")
            return PokeReturnValue(is_done=True, xcom_value=[])
        if any(r.terminal for r in results):
            raise AirflowFailException("KMS access cannot be obtained by waiting:\n" + _describe(results))
        if all(r.ok for r in results):
            self.log.info("every key is usable:\n%s", _describe(results))
            return PokeReturnValue(is_done=True, xcom_value=[r.to_dict() for r in results])
        self.log.info("KMS access not there yet:\n%s", _describe(results))
        return PokeReturnValue(is_done=False)

    # -- deferrable -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.check_before_defer:
            first = self.poke(context)  # answers at once when access is already there, or cannot be
            if first.is_done:
                return first.xcom_value
        else:
            self.build_plans()  # bad input and key discovery still fail here, before any deferral
        with task_failures():  # the STS calls naming the principals' accounts
            account = None if self.relay else self._principal_account()
            accounts = {side: self._principal_account(side) for side in ("source", "destination")} if self.relay else None
        self.defer(
            trigger=KmsAccessTrigger(
                plans=[p.to_dict() for p in self.build_plans()],
                bucket_region=self.bucket_region,
                principal_account=account,
                poll_interval=float(self.poke_interval),
                max_attempts=max(1, int(self.timeout // max(float(self.poke_interval), 1.0))),
                aws_conn_id=self.aws_conn_id,
                source_aws_conn_id=self.source_aws_conn_id or None,
                dest_aws_conn_id=self.dest_aws_conn_id or None,
                principal_accounts=accounts,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        event = validate_execute_complete_event(event)
        results = event.get("results", [])
        if event.get("status") == "error":
            # The trigger itself failed (not a verdict on the keys): the error table's verdict,
            # carried in the event, says whether a retry may succeed.
            raise failure(
                f"the KMS access trigger failed: {event.get('message')}",
                retryable=bool(event.get("retryable", True)),
            )
        if event.get("status") not in ("success", "failed", "timeout"):
            raise failure(f"unexpected event from the KMS access trigger: {event!r}", retryable=True)
        if event.get("status") == "success":
            self.log.info("every key is usable:\n%s", _describe(results))
            return list(results)
        if event.get("status") == "failed":
            raise AirflowFailException("KMS access cannot be obtained by waiting:\n" + _describe(results))
        raise AirflowSensorTimeout(
            "KMS access still denied when the sensor timed out:\n" + _describe(results)
        )
