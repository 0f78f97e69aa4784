"""``CrossAccountCheckOperator``: after a copy, prove the destination complete and identical."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location, validate_account_id
from airflow_provider_s3xacct.hooks.sync_principal import CONNECTION_ARGUMENTS, SyncPrincipalHook
from airflow_provider_s3xacct.operators.errors import failure, task_failures
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.transfer.check import Checker, CheckOptions, CheckReport
from airflow_provider_s3xacct.transfer.relay import check_transfer_topology
from airflow_provider_s3xacct.transfer.spec import CopySpec

if TYPE_CHECKING:
    from airflow.sdk import Context


class CrossAccountCheckOperator(AwsBaseOperator[SyncPrincipalHook]):
    """Compare the source and destination prefixes, as ``s3xacct check`` does, and fail on any difference.

    Every key gets a verdict that says what it rests on (size, full-object checksum, MD5 ETag,
    metadata, tags, bytes read): missing, extra and differing objects fail the task
    (``AirflowFailException``: re-running the check cannot fix them, re-running the copy can).
    Objects that cannot be proven identical (same size, SSE-KMS or multipart ETags, no common
    checksum) are "unverified": by default they fail the task too, since a check exists to be
    sure; ``sample`` reads that many objects from both sides and compares their bytes, or set
    ``on_unverified="warn"``. The summary is returned (XCom).

    :param transfer: the transfer spec in the ``s3xacct`` config format, as the copy takes it (a
        mapping, or a template such as ``"{{ var.json.s3xacct_transfer }}"`` rendering to it, its
        JSON or its Python text): locations, accounts and regions come from it, and tags are
        not compared when its ``options.copy_tags`` is false; the arguments below may narrow it
        (templated).
    :param source_uri: ``s3://bucket/prefix`` of the source (templated).
    :param dest_uri: ``s3://bucket/prefix`` of the destination (templated).
    :param metadata: also compare content headers and user metadata (a HEAD per side and key).
    :param tags: also compare object tags (a GetObjectTagging per side and key); refused with a
        transfer that does not copy tags.
    :param size_only: accept an equal size as identical.
    :param sample: read this many objects from both sides and compare their bytes (templated).
    :param concurrency: HEAD/GET requests in flight (1-256).
    :param on_unverified: ``"fail"`` (default) or ``"warn"`` when some objects stay unverified.
    :param source_account_id: expected owner of the source bucket (templated).
    :param dest_account_id: expected owner of the destination bucket (templated).
    :param source_region: region of the source bucket's client (default: the connection's) (templated).
    :param dest_region: region of the destination bucket's client (default: the connection's) (templated).
    :param report_path: per-object JSON lines, a local path or ``s3://`` URI (templated).
    :param source_aws_conn_id: a relay copy's source principal's connection, which reads the source
        side (no one principal may read both); None: ``aws_conn_id`` (templated).
    :param dest_aws_conn_id: a relay copy's destination principal's connection, which reads the
        destination side; None: ``aws_conn_id`` (templated). A relay ``transfer`` (one naming
        ``source_principal_arn``/``dest_principal_arn``) needs both side connections, and a
        server-side one refuses them, as the copy and the sensor do.
    :param aws_conn_id: the Airflow connection of the principal that reads both sides (the sync
        principal), or a side without its own connection; None or empty uses boto3's default
        credential chain (templated).
    :param region_name: AWS region for the clients; if empty, the connection's (templated).
    :param verify: whether to verify SSL certificates: False skips verification, a path uses that CA
        bundle; None uses botocore's default (templated).
    :param botocore_config: the botocore client configuration, as a dict (``botocore.config.Config``'s
        arguments).
    """

    aws_hook_class = SyncPrincipalHook
    template_fields: Sequence[str] = aws_template_fields(
        "transfer",
        "source_uri",
        "dest_uri",
        "sample",
        "source_account_id",
        "dest_account_id",
        "source_region",
        "dest_region",
        "report_path",
        "source_aws_conn_id",
        "dest_aws_conn_id",
    )
    template_fields_renderers = {"transfer": "json"}
    ui_color = "#d8ecd3"

    def __init__(
        self,
        *,
        transfer: Mapping[str, Any] | str | None = None,
        source_uri: str | None = None,
        dest_uri: str | None = None,
        metadata: bool = False,
        tags: bool = False,
        size_only: bool = False,
        sample: int = 0,
        concurrency: int = 16,
        on_unverified: str = "fail",
        source_account_id: str | None = None,
        dest_account_id: str | None = None,
        source_region: str | None = None,
        dest_region: str | None = None,
        report_path: str | None = None,
        source_aws_conn_id: str | None = None,
        dest_aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transfer = transfer
        self.source_uri = source_uri
        self.dest_uri = dest_uri
        self.metadata = metadata
        self.tags = tags
        self.size_only = size_only
        self.sample = sample
        self.concurrency = concurrency
        self.on_unverified = on_unverified
        self.source_account_id = source_account_id
        self.dest_account_id = dest_account_id
        self.source_region = source_region
        self.dest_region = dest_region
        self.report_path = report_path
        self.source_aws_conn_id = source_aws_conn_id
        self.dest_aws_conn_id = dest_aws_conn_id
        self._side_hooks: dict[str, SyncPrincipalHook] = {}

    def _checker_parts(self) -> tuple[S3Location, S3Location, CheckOptions, str | None, str | None]:
        """Every argument validated before any AWS call (raises InvalidInputError)."""
        if self.on_unverified not in ("fail", "warn"):
            raise InvalidInputError("on_unverified", f"{self.on_unverified!r} is not 'fail' or 'warn'")
        if self.transfer not in (None, ""):
            self._from_transfer()
        options = CheckOptions(
            metadata=self.metadata,
            tags=self.tags,
            size_only=self.size_only,
            sample=int(self.sample)
            if isinstance(self.sample, str) and self.sample.isdigit()
            else self.sample,
            concurrency=self.concurrency,
        )
        return (
            S3Location.parse(self.source_uri or "", "source_uri"),
            S3Location.parse(self.dest_uri or "", "dest_uri"),
            options,
            # Native template rendering turns a 12-digit id into an int.
            validate_account_id(
                str(self.source_account_id) if self.source_account_id else None, "source_account_id"
            ),
            validate_account_id(
                str(self.dest_account_id) if self.dest_account_id else None, "dest_account_id"
            ),
        )

    def _from_transfer(self) -> None:
        """Locations, owners and regions of ``transfer`` (CopySpec.from_transfer, the one
        translation); explicit arguments may narrow them, never point elsewhere. The side connections
        must be the transfer's topology (relay.check_transfer_topology, the copy's and the sensor's
        rule): a relay transfer's sides are read as its two principals, a server-side one as one."""
        transfer = TransferSpec.parse(self.transfer)
        check_transfer_topology(
            transfer.relay,
            relay=bool(self.source_aws_conn_id or self.dest_aws_conn_id),
            source_given=bool(self.source_aws_conn_id),
            dest_given=bool(self.dest_aws_conn_id),
            names=CONNECTION_ARGUMENTS,
        )
        copy = CopySpec.from_transfer(
            transfer,
            source=self.source_uri or None,
            destination=self.dest_uri or None,
            source_account_id=str(self.source_account_id) if self.source_account_id else None,
            dest_account_id=str(self.dest_account_id) if self.dest_account_id else None,
            source_region=self.source_region or None,
            dest_region=self.dest_region or None,
        )
        if self.tags and not copy.copy_tags:
            raise InvalidInputError("tags", "the transfer does not copy tags (options.copy_tags: false)")
        self.source_uri, self.dest_uri = copy.source.uri, copy.destination.uri
        self.source_account_id, self.dest_account_id = copy.source_account_id, copy.dest_account_id
        self.source_region, self.dest_region = copy.source_region, copy.dest_region

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the check; every core failure ends as the error table's retryable or permanent failure."""
        with task_failures():
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        source, destination, options, source_owner, dest_owner = self._checker_parts()
        reader, writer = (self._hook_for(conn_id) for conn_id in (self.source_aws_conn_id, self.dest_aws_conn_id))
        source_side = reader.transfer_clients(
            concurrency=options.concurrency, source_region=self.source_region, dest_region=self.dest_region
        )
        dest_side = (
            source_side
            if writer is reader
            else writer.transfer_clients(
                concurrency=options.concurrency, source_region=self.source_region, dest_region=self.dest_region
            )
        )
        checker = Checker(
            source_side.source,
            dest_side.dest,
            source,
            destination,
            options,
            source_owner=source_owner,
            dest_owner=dest_owner,
        )
        report = checker.run(self.report_path)
        self.log.info("%s", report.summary_line())
        return self._verdict(report)

    def _hook_for(self, conn_id: str | None) -> SyncPrincipalHook:
        """A side's own connection's hook (a relay copy), else ``aws_conn_id``'s."""
        if not conn_id:
            return self.hook
        if conn_id not in self._side_hooks:  # one hook, so one session, per connection
            self._side_hooks[conn_id] = SyncPrincipalHook(
                aws_conn_id=conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
            )
        return self._side_hooks[conn_id]

    def _verdict(self, report: CheckReport) -> dict[str, Any]:
        summary = report.to_dict()
        listed = "\n".join(f"  {d['verdict']}: {d['key']}: {d['reason']}" for d in report.differences)
        if report.different:
            raise failure(f"{report.summary_line()}\n{listed}", retryable=False)
        if not report.identical:
            message = f"{report.summary_line()}; not proven identical:\n{listed}"
            if self.on_unverified == "fail":
                raise failure(message, retryable=False)
            self.log.warning("%s", message)
        return summary
