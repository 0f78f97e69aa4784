"""``CrossAccountS3CopyOperator``: the copy engine as an Airflow task."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.hooks.sync_principal import CONNECTION_ARGUMENTS, SyncPrincipalHook
from airflow_provider_s3xacct.links.s3 import S3DestinationLink
from airflow_provider_s3xacct.operators.errors import failure, invalid_input, task_failures
from airflow_provider_s3xacct.operators.progress import ProgressLogger
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.transfer.clients import bucket_region
from airflow_provider_s3xacct.transfer.engine import TransferEngine, nothing_transferred
from airflow_provider_s3xacct.transfer.relay import check_transfer_topology, transport_for_principals
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import LIST_CONCURRENCY, CopySpec
from airflow_provider_s3xacct.transfer.uploads import cleanup_uploads, parse_duration

if TYPE_CHECKING:
    from airflow.sdk import Context


class CrossAccountS3CopyOperator(AwsBaseOperator[SyncPrincipalHook]):
    """Copy or sync S3 objects from one account's bucket to another's, server side, with SSE-KMS.

    ``aws_conn_id`` is the sync principal (usually a role in the destination account, assumed via
    the connection's ``role_arn`` extra); it reads the source and writes the destination, so bytes
    never pass through the worker. Give the transfer spec (``transfer``, the one the permissions
    task verified) and every setting comes from it; or give ``source_uri``/``dest_uri`` and the
    options directly. With both, the explicit arguments may narrow the transfer (a sub-prefix,
    ``copy`` instead of ``sync``, no tags, no delete) and anything wider fails naming the argument.
    Every argument is validated before any AWS call.

    The summary is returned (XCom); permanent failures (AccessDenied, bad input) raise
    ``AirflowFailException`` so retries are not wasted, while throttling that outlasted botocore's
    retries raises a retryable error. A source object deleted after it was listed is skipped
    (``vanished`` in the summary), not failed. When the task is killed (``on_kill``: marked failed,
    timed out, SIGTERM), no new copy starts, the multipart uploads of this run are aborted, the
    report is written and the task fails with a retryable error; a rerun in ``mode="sync"``
    finishes the work. Selection and writing options mirror ``s3xacct copy`` (README, "s3xacct copy").

    :param transfer: the transfer spec in the ``s3xacct`` config format (``source``,
        ``destination``, ``principal_arn``, ``options``): a mapping, or a template such as
        ``"{{ var.json.s3xacct_transfer }}"``; it may render to the mapping, its JSON or its Python
        text, so no ``render_template_as_native_obj`` is needed. Locations, accounts, regions, the
        destination key, ``mode``, ``delete``, ``copy_tags`` and ``acl`` come from it (templated).
    :param source_uri: ``s3://bucket/prefix`` to copy from; with ``transfer``, a prefix inside its
        source (templated).
    :param dest_uri: ``s3://bucket/prefix`` to copy to; with ``transfer``, a prefix inside its
        destination (templated).
    :param source_bucket: deprecated, use ``source_uri`` (templated).
    :param source_prefix: deprecated, use ``source_uri`` (templated).
    :param dest_bucket: deprecated, use ``dest_uri`` (templated).
    :param dest_prefix: deprecated, use ``dest_uri`` (templated).
    :param mode: ``"copy"`` copies every object, ``"sync"`` only new or changed ones. Default: the
        transfer's ``options.mode``, else ``"copy"`` (templated).
    :param dest_kms_key_id: the destination KMS key every copy is encrypted under: key ARN, alias
        ARN, key id or alias name (resolved to the key ARN before copying); None keeps the bucket's
        default encryption. Default: the transfer's ``destination.kms_key_arn`` (templated).
    :param bucket_key_enabled: set the S3 Bucket Key on the copies (only with ``dest_kms_key_id``).
    :param delete: with ``mode="sync"``, also delete destination objects gone from the source,
        within ``max_delete``. Default: the transfer's ``options.delete``, else False (templated).
    :param max_delete: the most objects one run may delete; more fails before deleting (templated).
    :param dry_run: report what would change and change nothing (templated).
    :param concurrency: copies in flight (1-1024) (templated).
    :param multipart_threshold: objects from this size (bytes) are copied in parts (UploadPartCopy);
        default 5 GiB, CopyObject's limit. Refused with a transfer whose ``options.multipart`` is
        false (as is ``part_size``): its objects are never copied in parts.
    :param copy_tags: copy each object's tags. Default: the transfer's ``options.copy_tags``, else
        True (templated).
    :param acl: the canned ACL to send (``"bucket-owner-full-control"``). Default: the transfer's
        ``options.acl``.
    :param include: glob(s) of relative keys to copy; a single string is one pattern (templated).
    :param exclude: glob(s) of relative keys to leave out; a single string is one pattern (templated).
    :param compare: with ``mode="sync"``, what makes an object changed: ``"size-mtime"``,
        ``"etag"`` or ``"size"``.
    :param transport: ``"crt"`` or ``"botocore"``: a server-side copy as ``aws_conn_id``, the CopyObject
        of objects below the multipart threshold sent by the AWS CRT (a fraction of botocore's CPU
        per request) or botocore; ``"relay"``: read the source as ``source_aws_conn_id`` and write
        the destination as ``dest_aws_conn_id`` (a side without its own connection uses
        ``aws_conn_id``), the bytes passing through the worker; ``"auto"`` (default): the relay when
        both ``source_aws_conn_id`` and ``dest_aws_conn_id`` are given (and differ), else ``"crt"``
        (the rule of ``s3xacct copy --transport auto``).
    :param source_aws_conn_id: the Airflow connection of the principal that reads the source in a
        relay copy (e.g. a role the source account hands out); None: not a relay side (templated).
    :param dest_aws_conn_id: the Airflow connection of the principal that writes the destination
        in a relay copy; None: not a relay side (templated).
    :param relay_part_size: relay: objects above this size (bytes) are read in ranges and written
        as parts of this size (default 16 MiB).
    :param relay_buffers: relay: parts held in memory at once in the whole run (default 8; the
        object data in memory stays within ``relay_buffers x relay_part_size``).
    :param source_account_id: the expected owner of the source bucket (sent as
        ``x-amz-source-expected-bucket-owner``). Default: the transfer's (templated).
    :param dest_account_id: the expected owner of the destination bucket. Default: the
        transfer's (templated).
    :param source_region: the source bucket's region; asked from S3 when not given. Default: the
        transfer's (templated).
    :param dest_region: the destination bucket's region; asked from S3 when not given. Default: the
        transfer's (templated).
    :param report_path: per-object JSON lines, a local path or ``s3://`` URI (templated).
    :param start_after: with ``end_key``, limit the run to one shard: relative keys in
        (start_after, end_key] (templated).
    :param end_key: the last relative key of the shard (templated).
    :param progress_interval: seconds between progress lines in the task log.
    :param filters: ordered ``[["exclude", "*"], ["include", "*.csv"]]`` rules, the aws CLI's
        ``--exclude``/``--include``: the last matching rule wins (applied after ``include``/``exclude``,
        which mean "match an include, if any, and no exclude") (templated).
    :param files_from: a local file or ``s3://`` object listing the relative keys to consider, one a
        line (templated).
    :param min_size: skip source objects smaller than this (bytes, or ``"10M"``) (templated).
    :param max_size: skip source objects larger than this (templated).
    :param min_age: skip source objects modified more recently (seconds, or ``"30m"``, ``"1d"``): files
        a vendor is still writing; their destination copies are kept (templated).
    :param max_age: skip source objects older than this (templated).
    :param storage_class_skip: skip source objects of these storage classes unless restored
        (e.g. ``["GLACIER", "DEEP_ARCHIVE"]``).
    :param max_delete_fraction: with ``delete``, the share of destination objects that may be deleted
        without ``max_delete`` (default 0.1; at least 5 are always allowed).
    :param part_size: the part size of multipart copies (bytes, 5 MiB..5 GiB); by default chosen per
        object so its parts fill ``concurrency`` (at most 256 MiB a part, within 10,000 parts).
    :param storage_class: the destination storage class, or ``"keep"`` for each source object's
        (templated).
    :param request_payer: ``"requester"`` for Requester Pays buckets (sent to both buckets).
    :param checksum_algorithm: the destination objects' checksum (CRC32, CRC32C, CRC64NVME, SHA1,
        SHA256); by default a multipart copy keeps the source's.
    :param content_type: set this Content-Type on every copy (other metadata kept) (templated).
    :param metadata: replace the user metadata with this dict (templated).
    :param error_on_no_transfer: fail the task when nothing was copied or deleted.
    :param max_requests_per_second: pace every S3 request of the run to this rate (a shared
        bucket or a Requester Pays budget).
    :param sse_c_copy_source_key_variable: the name of an Airflow Variable (so any secrets backend)
        holding the source objects' SSE-C key (AES256, raw or base64); read at run time and masked.
    :param version_at: copy the source as it was at this time (ISO 8601 or datetime; a versioned
        source bucket): per key the newest version written by then (templated).
    :param backup_prefix: with ``mode="sync"``, an ``s3://`` prefix in the destination bucket (beside
        the synced one) where objects are saved before being overwritten or deleted (templated).
    :param list_concurrency: ListObjectsV2 requests in flight per side (1-256, default 8): each
        bucket is listed as that many key ranges at once, merged back into key order; 1 lists
        page after page.
    :param cleanup_uploads_older_than: before copying, abort incomplete multipart uploads under the
        destination prefix initiated longer ago than this duration (``"24h"``, ``"7d"``), whoever
        left them; None (default) leaves them to the bucket's lifecycle rule.
    :param aws_conn_id: the Airflow connection of the sync principal (a server-side copy, or the
        side of a relay copy without its own connection); None or empty uses boto3's default
        credential chain (environment, instance profile, ...) (templated).
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
        "source_bucket",
        "source_prefix",
        "dest_bucket",
        "dest_prefix",
        "dest_kms_key_id",
        "mode",
        "delete",
        "copy_tags",
        "max_delete",
        "dry_run_only",
        "concurrency",
        "include",
        "exclude",
        "report_path",
        "start_after",
        "end_key",
        "source_account_id",
        "dest_account_id",
        "source_region",
        "dest_region",
        "filters",
        "files_from",
        "min_size",
        "max_size",
        "min_age",
        "max_age",
        "storage_class",
        "content_type",
        "metadata",
        "version_at",
        "backup_prefix",
        "source_aws_conn_id",
        "dest_aws_conn_id",
    )
    template_fields_renderers = {"transfer": "json", "include": "json", "exclude": "json", "filters": "json", "metadata": "json"}
    operator_extra_links = (S3DestinationLink(),)
    ui_color = "#f3e1c7"

    def __init__(
        self,
        *,
        transfer: Mapping[str, Any] | str | None = None,
        source_uri: str | None = None,
        dest_uri: str | None = None,
        source_bucket: str | None = None,
        source_prefix: str = "",
        dest_bucket: str | None = None,
        dest_prefix: str = "",
        mode: str | None = None,
        dest_kms_key_id: str | None = None,
        bucket_key_enabled: bool | None = None,
        delete: bool | None = None,
        max_delete: int | None = None,
        dry_run: bool = False,
        concurrency: int = 32,
        list_concurrency: int = LIST_CONCURRENCY,
        multipart_threshold: int | None = None,
        part_size: int | None = None,
        copy_tags: bool | None = None,
        acl: str | None = None,
        include: str | Sequence[str] = (),
        exclude: str | Sequence[str] = (),
        compare: str = "size-mtime",
        transport: str = "auto",
        source_aws_conn_id: str | None = None,
        dest_aws_conn_id: str | None = None,
        relay_part_size: int | None = None,
        relay_buffers: int | None = None,
        source_account_id: str | None = None,
        dest_account_id: str | None = None,
        source_region: str | None = None,
        dest_region: str | None = None,
        report_path: str | None = None,
        start_after: str | None = None,
        end_key: str | None = None,
        progress_interval: float = 10.0,
        filters: Sequence[Sequence[str]] = (),
        files_from: str | None = None,
        min_size: int | str | None = None,
        max_size: int | str | None = None,
        min_age: float | str | None = None,
        max_age: float | str | None = None,
        storage_class_skip: Sequence[str] = (),
        max_delete_fraction: float = 0.1,
        storage_class: str | None = None,
        request_payer: str | None = None,
        checksum_algorithm: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        error_on_no_transfer: bool = False,
        max_requests_per_second: float | None = None,
        sse_c_copy_source_key_variable: str | None = None,
        version_at: Any = None,
        backup_prefix: str | None = None,
        cleanup_uploads_older_than: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # The amazon provider's transfer operators name locations by URI; one spelling is enough.
        for side, bucket, prefix in (("source", source_bucket, source_prefix), ("dest", dest_bucket, dest_prefix)):
            if bucket is not None or prefix:
                warnings.warn(
                    f"{side}_bucket/{side}_prefix are deprecated: pass {side}_uri='s3://bucket/prefix'",
                    AirflowProviderDeprecationWarning,
                    stacklevel=2,
                )
        self.transfer = transfer
        # Passed to the spec as they are (CopySpec.create validates and names each).
        self.semantics: dict[str, Any] = {
            "storage_class_skip": list(storage_class_skip),
            "max_delete_fraction": max_delete_fraction,
            "request_payer": request_payer,
            "checksum_algorithm": checksum_algorithm,
            "error_on_no_transfer": error_on_no_transfer,
            "max_requests_per_second": max_requests_per_second,
        }
        self.sse_c_copy_source_key_variable = sse_c_copy_source_key_variable
        self.version_at = version_at
        self.backup_prefix = backup_prefix
        self.filters = filters
        self.files_from = files_from
        self.min_size = min_size
        self.max_size = max_size
        self.min_age = min_age
        self.max_age = max_age
        self.storage_class = storage_class
        self.content_type = content_type
        self.metadata = metadata
        self.source_uri = source_uri
        self.dest_uri = dest_uri
        self.source_bucket = source_bucket
        self.source_prefix = source_prefix
        self.dest_bucket = dest_bucket
        self.dest_prefix = dest_prefix
        self.mode = mode
        self.dest_kms_key_id = dest_kms_key_id
        self.bucket_key_enabled = bucket_key_enabled
        self.delete = delete
        self.max_delete = max_delete
        # Stored under another name: BaseOperator.dry_run() is a method.
        self.dry_run_only = dry_run
        self.concurrency = concurrency
        self.list_concurrency = list_concurrency
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.copy_tags = copy_tags
        self.acl = acl
        self.include = include
        self.exclude = exclude
        self.compare = compare
        self.transport = transport
        self.source_aws_conn_id = source_aws_conn_id
        self.dest_aws_conn_id = dest_aws_conn_id
        self.relay_part_size = relay_part_size
        self.relay_buffers = relay_buffers
        # One hook per relay connection, each building its session once (SyncPrincipalHook).
        self._side_hooks: dict[str, SyncPrincipalHook] = {}
        self.source_account_id = source_account_id
        self.dest_account_id = dest_account_id
        self.source_region = source_region
        self.dest_region = dest_region
        self.report_path = report_path
        self.start_after = start_after
        self.end_key = end_key
        self.progress_interval = progress_interval
        self.cleanup_uploads_older_than = cleanup_uploads_older_than
        self._spec: CopySpec | None = None
        self._engine: TransferEngine | None = None

    @staticmethod
    def _location(uri: str | None, bucket: str | None, prefix: str, field: str, required: bool) -> str | None:
        if uri and bucket:
            raise InvalidInputError(field, f"give either {field} or a bucket/prefix pair, not both")
        if uri:
            return uri
        if not bucket:
            if not required:
                return None
            raise InvalidInputError(
                field, f"missing: give {field} (s3://bucket/prefix), or the transfer spec (transfer)"
            )
        return f"s3://{bucket}/{prefix or ''}"

    def _sse_c_key(self) -> str | None:
        if not self.sse_c_copy_source_key_variable:
            return None
        from airflow_provider_s3xacct.compat import Variable, mask_secret

        key = str(Variable.get(self.sse_c_copy_source_key_variable))
        mask_secret(key)  # never in the task log
        return key

    def build_spec(self) -> CopySpec:
        """The validated spec from the rendered arguments (raises InvalidInputError)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            given = self.transfer not in (None, "")
            arguments: dict[str, Any] = dict(
                source=self._location(
                    self.source_uri, self.source_bucket, self.source_prefix, "source_uri", not given
                ),
                destination=self._location(
                    self.dest_uri, self.dest_bucket, self.dest_prefix, "dest_uri", not given
                ),
                mode=self.mode,
                dest_kms_key_id=self.dest_kms_key_id,
                bucket_key_enabled=self.bucket_key_enabled,
                delete=self.delete,
                max_delete=self.max_delete,
                dry_run=self.dry_run_only,
                concurrency=self.concurrency,
                list_concurrency=self.list_concurrency,
                multipart_threshold=self.multipart_threshold,
                part_size=self.part_size,
                copy_tags=self.copy_tags,
                acl=self.acl,
                include=_patterns(self.include),
                exclude=_patterns(self.exclude),
                compare=self.compare,
                transport=self.resolve_transport(),
                relay_part_size=self.relay_part_size,
                relay_buffers=self.relay_buffers,
                # Native template rendering turns a 12-digit id into an int.
                source_account_id=str(self.source_account_id) if self.source_account_id else None,
                dest_account_id=str(self.dest_account_id) if self.dest_account_id else None,
                source_region=self.source_region or None,
                dest_region=self.dest_region or None,
                start_after=self.start_after or None,
                end_key=self.end_key or None,
                filters=[tuple(rule) for rule in self.filters or ()],
                files_from=self.files_from or None,
                min_size=self.min_size,
                max_size=self.max_size,
                min_age=self.min_age,
                max_age=self.max_age,
                storage_class=self.storage_class or None,
                content_type=self.content_type or None,
                metadata=self.metadata,
                sse_c_copy_source_key=self._sse_c_key(),
                version_at=self.version_at or None,
                backup_prefix=self.backup_prefix or None,
                **self.semantics,
            )
            # None is "not given": the spec's default, or the transfer's value.
            arguments = {name: value for name, value in arguments.items() if value is not None}
            if given:
                transfer = TransferSpec.parse(self.transfer)
                spec = CopySpec.from_transfer(transfer, **arguments)
                check_transfer_topology(
                    transfer.relay,
                    relay=spec.transport == "relay",
                    source_given=bool(self.source_aws_conn_id),
                    dest_given=bool(self.dest_aws_conn_id),
                    names=CONNECTION_ARGUMENTS,
                )
            else:
                spec = CopySpec.create(**arguments)
        for warning in caught:
            self.log.warning("%s", warning.message)
        return spec

    def resolve_transport(self) -> str:
        """The transport by the CLI's rule (relay.transport_for_principals): raises InvalidInputError
        naming the argument for a bad combination, before any AWS call."""
        return transport_for_principals(
            str(self.transport),
            source=self.source_aws_conn_id or None,
            dest=self.dest_aws_conn_id or None,
            single=None,  # aws_conn_id always has a value (its default): never "given" on its own
            names=CONNECTION_ARGUMENTS,
        )

    def _side_hook(self, conn_id: str | None) -> SyncPrincipalHook:
        """The hook of one relay side: its own connection's, else ``aws_conn_id``'s."""
        if not conn_id:
            return self.hook
        if conn_id not in self._side_hooks:
            self._side_hooks[conn_id] = SyncPrincipalHook(
                aws_conn_id=conn_id,
                region_name=self.region_name,
                verify=self.verify,
                config=self.botocore_config,
            )
        return self._side_hooks[conn_id]

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the copy; every core failure ends as the error table's retryable or permanent failure."""
        with task_failures():
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        try:
            spec = self._spec = self.build_spec()
            stale_after = (
                parse_duration(self.cleanup_uploads_older_than, "cleanup_uploads_older_than")
                if self.cleanup_uploads_older_than
                else None
            )
            relay = spec.transport == "relay"
            reader = self._side_hook(self.source_aws_conn_id if relay else None)
            writer = self._side_hook(self.dest_aws_conn_id if relay else None)
            # The buckets' regions from S3, not from the connection's configuration; each side asked
            # by its own principal (HeadBucket answers the region even when it refuses).
            spec = self._spec = spec.with_regions(
                bucket_region(reader.client_for("s3"), spec.source.bucket, spec.source_account_id)
                or self.region_name,
                bucket_region(writer.client_for("s3"), spec.destination.bucket, spec.dest_account_id)
                or self.region_name,
            )
        except InvalidInputError as exc:
            # Name the operator's own argument, not the spec's field.
            argument = {"source": "source_uri", "destination": "dest_uri"}.get(exc.field, exc.field)
            raise invalid_input(InvalidInputError(argument, str(exc).split(": ", 1)[1])) from None
        clients = (
            writer.relay_clients(
                reader, concurrency=spec.concurrency, source_region=spec.source_region, dest_region=spec.dest_region
            )
            if relay
            else writer.transfer_clients(
                concurrency=spec.concurrency, source_region=spec.source_region, dest_region=spec.dest_region
            )
        )
        S3DestinationLink.record(
            context=context,
            operator=self,
            region_name=spec.dest_region or writer.conn_region_name,
            aws_partition=writer.conn_partition,
            bucket=spec.destination.bucket,
            prefix=spec.destination.prefix,
        )
        self.log.info(
            "%s %s -> %s%s",
            spec.mode,
            spec.source.uri,
            spec.destination.uri,
            " (dry run)" if spec.dry_run else "",
        )
        engine = self._engine = TransferEngine(
            spec,
            clients,
            principal_arn=writer.principal_arn(),
            # The reader is named only when one of its requests fails (relay: a second principal).
            source_principal_lookup=functools.cache(reader.principal_arn),
            progress=ProgressLogger(self.log, self.progress_interval),
            report_target=self.report_path,
        )
        try:
            log = engine.open_report()
        except InvalidInputError as exc:
            raise invalid_input(InvalidInputError("report_path", str(exc).split(": ", 1)[1])) from None
        if stale_after is not None:
            stale = cleanup_uploads(
                clients.dest,
                spec.destination.bucket,
                spec.destination.prefix,
                stale_after,
                expected_owner=spec.dest_account_id,
            )
            self.log.info(
                "aborted %d stale multipart uploads (%d failed)", stale.aborted, len(stale.failures)
            )
        report = engine.run(log)
        self.log.info("%s", report.summary_line())
        empty = nothing_transferred(spec, report)
        if empty and empty[1]:
            raise failure(empty[0], retryable=False)
        if empty:
            self.log.warning("%s", empty[0])
        return self._finish(context, report)

    def on_kill(self) -> None:
        """Stop the copy cleanly: no new copies, this run's multipart uploads aborted, report written.

        Airflow calls this from its SIGTERM handler on the task's main thread, in the middle of
        ``execute``: it only cancels the engine (signal-safe) and returns; ``execute`` then drains,
        aborts and fails the task with the summary.
        """
        if self._engine is not None:
            self._engine.cancel("on_kill")

    def _finish(self, context: Context, report: CopyReport) -> dict[str, Any]:
        summary = report.to_dict()
        if report.ok:
            return summary
        if self.do_xcom_push:
            context["ti"].xcom_push(key="report", value=summary)
        retryable = report.only_retryable_failures or (report.interrupted is not None and not report.failed)
        raise failure(report.failure_summary(), retryable=retryable)

    def get_openlineage_facets_on_start(self) -> Any:
        """Lineage on the START event: known from the rendered arguments alone, no AWS call."""
        return self._lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage on the COMPLETE (and FAIL) event: the same datasets as on START."""
        return self._lineage()

    def _lineage(self) -> Any:
        """The source prefix feeds the destination prefix (namespace ``s3://bucket``, name the prefix)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._spec is not None:
            source, destination = self._spec.source, self._spec.destination
        elif self.transfer not in (None, ""):  # START: the transfer's locations, narrowed as given
            spec = CopySpec.from_transfer(
                TransferSpec.parse(self.transfer),
                source=self._location(self.source_uri, self.source_bucket, self.source_prefix, "source_uri", False),
                destination=self._location(self.dest_uri, self.dest_bucket, self.dest_prefix, "dest_uri", False),
            )
            source, destination = spec.source, spec.destination
        else:  # START: the rendered locations only (no SSE-C Variable read, no AWS call)
            source = S3Location.parse(
                self._location(self.source_uri, self.source_bucket, self.source_prefix, "source_uri", True) or "",
                "source_uri",
            )
            destination = S3Location.parse(
                self._location(self.dest_uri, self.dest_bucket, self.dest_prefix, "dest_uri", True) or "",
                "dest_uri",
            )
        return OperatorLineage(
            inputs=[Dataset(namespace=f"s3://{source.bucket}", name=source.prefix or "/")],
            outputs=[Dataset(namespace=f"s3://{destination.bucket}", name=destination.prefix or "/")],
        )


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    """Glob patterns from an argument: a string is one pattern, never a sequence of characters."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(pattern) for pattern in value]
