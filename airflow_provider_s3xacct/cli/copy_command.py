"""``s3xacct copy SRC_URI DST_URI``: a server-side cross-account copy or sync."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ProfileNotFound

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import validate_region
from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_credential_args,
    add_principal_args,
    checked,
    fail_usage,
    print_json,
)
from airflow_provider_s3xacct.transfer.clients import TransferClients, bucket_region
from airflow_provider_s3xacct.transfer.engine import TransferEngine, nothing_transferred
from airflow_provider_s3xacct.transfer.relay import PrincipalArgs, transport_for_principals
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.session import build_session, caller_arn
from airflow_provider_s3xacct.transfer.spec import LIST_CONCURRENCY, CopySpec


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "copy", help="copy or sync objects between buckets, server side", description=__doc__
    )
    parser.add_argument("src_uri", metavar="SRC_URI")
    parser.add_argument("dst_uri", metavar="DST_URI")
    parser.add_argument("--mode", choices=["copy", "sync"], default="copy")
    parser.add_argument(
        "--sse-kms-key-id",
        metavar="KEY",
        help="encrypt destination objects with this KMS key: key ARN, alias ARN, key id or alias/NAME",
    )
    parser.add_argument("--bucket-key", action="store_true", default=None, help="enable S3 Bucket Keys")
    parser.add_argument(
        "--delete", action="store_true", help="sync: delete destination keys absent from the source"
    )
    parser.add_argument(
        "--max-delete",
        type=int,
        help="allow at most N deletions (default: --max-delete-fraction of the destination, at least 5); "
        "with N covering every deletion, an emptied source is mirrored",
    )
    parser.add_argument(
        "--backup-prefix", metavar="S3_URI", help="sync: save overwritten and deleted objects here first"
    )
    parser.add_argument(
        "--max-delete-fraction", type=float, metavar="F", help="allow deleting this fraction (default 0.1)"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--list-concurrency",
        type=int,
        default=LIST_CONCURRENCY,
        metavar="1-256",
        help=f"ListObjectsV2 requests in flight per side (key ranges listed at once; default {LIST_CONCURRENCY})",
    )
    parser.add_argument("--multipart-threshold", type=int, metavar="BYTES", default=None)
    parser.add_argument(
        "--part-size",
        type=int,
        metavar="BYTES",
        default=None,
        help="multipart part size (default: per object, so its parts fill --concurrency)",
    )
    parser.add_argument("--no-tags", action="store_true", help="do not copy object tags")
    parser.add_argument("--acl", choices=["bucket-owner-full-control"])
    _add_selection_args(parser)
    parser.add_argument("--compare", choices=["size-mtime", "etag", "size"], default="size-mtime")
    parser.add_argument("--size-only", action="store_true", help="compare sizes only (--compare size)")
    parser.add_argument(
        "--transport",
        choices=["auto", "crt", "botocore", "relay"],
        default="auto",
        help="crt/botocore: server-side copy, the HTTP client for copies below the multipart threshold; "
        "relay: read as the source principal, write as the destination principal, through this process; "
        "auto (default): relay when both --source-* and --dest-* principals are given and no "
        "--profile/--role-arn, else crt",
    )
    parser.add_argument(
        "--relay-part-size", type=int, metavar="BYTES", help="relay: part size (default 16 MiB)"
    )
    parser.add_argument(
        "--relay-buffers",
        type=int,
        metavar="N",
        help="relay: parts held in memory at once in the whole run (default 8; memory <= N x part size)",
    )
    parser.add_argument("--source-account-id", help="expected owner of the source bucket")
    parser.add_argument("--dest-account-id", help="expected owner of the destination bucket")
    parser.add_argument(
        "--source-region",
        type=checked(validate_region, "--source-region"),
        help="region of the source bucket (default: asked from S3)",
    )
    parser.add_argument(
        "--dest-region",
        type=checked(validate_region, "--dest-region"),
        help="region of the destination bucket (default: asked from S3)",
    )
    parser.add_argument("--report", metavar="PATH_OR_S3_URI", help="write a JSON-lines line per object")
    parser.add_argument(
        "--error-on-no-transfer", action="store_true", help="exit 1 when nothing was copied or deleted"
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors (and --json)")
    parser.add_argument(
        "--max-requests-per-second", type=float, metavar="N", help="pace all S3 requests to N per second"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object (last line)"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    add_credential_args(parser)
    add_principal_args(parser)
    parser.set_defaults(handler=run)


class _Filter(argparse.Action):
    """``--include``/``--exclude`` into one ordered list: the aws CLI's last match wins."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any, option: Any = None) -> None:
        namespace.filters = [*namespace.filters, (self.dest, value)]


def _add_selection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selection (README: filters)")
    group.set_defaults(filters=[])
    for kind in ("include", "exclude"):
        group.add_argument(
            f"--{kind}",
            dest=kind,
            action=_Filter,
            metavar="GLOB",
            help="as aws s3 sync: in order, last match wins",
        )
    group.add_argument(
        "--version-at", metavar="TIME", help="copy the source as it was then (ISO 8601; a versioned bucket)"
    )
    group.add_argument("--files-from", metavar="PATH_OR_S3_URI", help="only these relative keys, one a line")
    for name, what in (("size", "BYTES, e.g. 10M"), ("age", "DURATION, e.g. 30m, 7d")):
        group.add_argument(f"--min-{name}", metavar=what.split(",")[0], help=what)
        group.add_argument(f"--max-{name}", metavar=what.split(",")[0], help=what)
    group.add_argument(
        "--storage-class-skip",
        action="append",
        default=[],
        metavar="CLASS",
        help="skip source objects of this class unless restored (e.g. GLACIER,DEEP_ARCHIVE)",
    )
    writes = parser.add_argument_group("destination objects")
    writes.add_argument("--storage-class", help="STANDARD_IA, GLACIER_IR, ... or 'keep' (the source's)")
    writes.add_argument("--request-payer", choices=["requester"], help="Requester Pays, on both buckets")
    writes.add_argument("--checksum-algorithm", choices=["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
    writes.add_argument(
        "--sse-c-copy-source",
        action="store_true",
        help=f"source objects use SSE-C; the AES256 key (raw or base64) is read from ${SSE_C_KEY_ENV}",
    )
    writes.add_argument("--content-type", help="set this Content-Type (keeps the other metadata)")
    writes.add_argument(
        "--metadata", action="append", default=None, metavar="KEY=VALUE", help="replace the user metadata"
    )


SSE_C_KEY_ENV = "S3XACCT_SSE_C_COPY_SOURCE_KEY"


def _sse_c_key(wanted: bool) -> str | None:
    """The source SSE-C key from the environment: never a flag value (shell history, ps)."""
    if not wanted:
        return None
    key = os.environ.get(SSE_C_KEY_ENV)
    if not key:
        raise InvalidInputError(
            "sse_c_copy_source", f"set the key in the environment variable {SSE_C_KEY_ENV}"
        )
    return key


def _metadata(pairs: list[str] | None) -> dict[str, str] | None:
    if pairs is None:
        return None
    bad = [pair for pair in pairs if "=" not in pair]
    if bad:
        raise InvalidInputError("metadata", f"{bad[0]!r} is not KEY=VALUE")
    return dict(pair.split("=", 1) for pair in pairs)


def spec_from_args(args: argparse.Namespace) -> CopySpec:
    optional = {
        "multipart_threshold": args.multipart_threshold,
        "part_size": args.part_size,
        "max_delete": args.max_delete,
        "max_delete_fraction": args.max_delete_fraction,
        "bucket_key_enabled": args.bucket_key,
        "relay_part_size": args.relay_part_size,
        "relay_buffers": args.relay_buffers,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = CopySpec.create(
            source=args.src_uri,
            destination=args.dst_uri,
            mode=args.mode,
            dest_kms_key_id=args.sse_kms_key_id,
            delete=args.delete,
            dry_run=args.dry_run,
            concurrency=args.concurrency,
            list_concurrency=args.list_concurrency,
            copy_tags=not args.no_tags,
            acl=args.acl,
            filters=args.filters,
            files_from=args.files_from,
            min_size=args.min_size,
            max_size=args.max_size,
            min_age=args.min_age,
            max_age=args.max_age,
            storage_class_skip=[c for value in args.storage_class_skip for c in value.split(",") if c],
            compare="size" if args.size_only else args.compare,
            storage_class=args.storage_class,
            request_payer=args.request_payer,
            checksum_algorithm=args.checksum_algorithm,
            content_type=args.content_type,
            metadata=_metadata(args.metadata),
            error_on_no_transfer=args.error_on_no_transfer,
            max_requests_per_second=args.max_requests_per_second,
            sse_c_copy_source_key=_sse_c_key(args.sse_c_copy_source),
            version_at=args.version_at,
            backup_prefix=args.backup_prefix,
            transport=transport_from_args(args),
            source_account_id=args.source_account_id,
            dest_account_id=args.dest_account_id,
            source_region=args.source_region,
            dest_region=args.dest_region,
            **{name: value for name, value in optional.items() if value is not None},
        )
    for warning in caught:
        sys.stderr.write(f"s3xacct: warning: {warning.message}\n")
    return spec


@dataclass(frozen=True)
class _Principal:
    """One principal's credentials as the flags give them (profile and/or role to assume)."""

    profile: str | None
    role_arn: str | None
    external_id: str | None

    def session(self, region: str | None) -> boto3.Session:
        return build_session(self.profile, self.role_arn, region, self.external_id)


def _side(args: argparse.Namespace, side: str) -> _Principal | None:
    """The principal given for one side by --SIDE-profile/--SIDE-role-arn, or None."""
    profile, role = getattr(args, f"{side}_profile"), getattr(args, f"{side}_role_arn")
    if not profile and not role:
        return None
    return _Principal(profile, role, getattr(args, f"{side}_external_id"))


_FLAGS = PrincipalArgs(
    source="--source-profile/--source-role-arn",
    dest="--dest-profile/--dest-role-arn",
    single="--profile/--role-arn",
    transport="--transport",
    transport_value=lambda value: f"--transport {value}",
)


def transport_from_args(args: argparse.Namespace) -> str:
    """The transport, by the core's rule (relay.transport_for_principals); bad combinations name their flag."""
    single = "--profile" if args.profile else "--role-arn" if args.role_arn else None
    return transport_for_principals(
        args.transport, source=_side(args, "source"), dest=_side(args, "dest"), single=single, names=_FLAGS
    )


class _ProgressBar:
    """A rich progress bar: objects done, bytes copied and their rate. The total is unknown while listing."""

    def __init__(self) -> None:
        # rich is imported here, not at the top: most runs (--json, a pipe, --quiet) draw no bar,
        # and rich costs a tenth of a one-object copy's start-up (docs/benchmarks.md, "Start-up").
        from rich.console import Console
        from rich.filesize import decimal
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

        self._size = decimal
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[objects]}"),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("copying", total=None, objects="0 objects")

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, report: CopyReport) -> None:
        done = report.copied + report.skipped + report.failed
        self._progress.update(
            self._task,
            completed=report.bytes_copied,
            objects=f"{done}/{report.listed} objects, {self._size(report.bytes_copied)}, {report.failed} failed",
        )


@contextlib.contextmanager
def _stop_on_signals(engine: TransferEngine) -> Iterator[None]:
    """SIGINT and SIGTERM cancel the engine instead of killing the process mid-copy.

    The handler raises nothing: an exception landing between two bytecodes of the engine is what
    used to lose a finished copy and hang the drain. It only sets an event and wakes the main
    thread (``TransferEngine.cancel`` is signal-safe); a second signal cuts the drain short.
    """

    def handler(signum: int, frame: object) -> None:
        engine.cancel(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _exit_code(report: CopyReport) -> int:
    """128 + the signal number for an interrupted run (130 SIGINT, 143 SIGTERM), as shells do."""
    if report.interrupted in ("SIGINT", "SIGTERM"):
        return 128 + int(signal.Signals[report.interrupted])
    return EXIT_OK if report.ok else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    single = _Principal(args.profile, args.role_arn, args.external_id)
    try:
        spec = spec_from_args(args)
        source_principal = _side(args, "source") or single
        dest_principal = _side(args, "dest") or single
        for principal in {source_principal, dest_principal}:
            boto3.Session(profile_name=principal.profile)  # a missing profile is a usage error
    except (InvalidInputError, ProfileNotFound) as exc:
        return fail_usage(str(exc), args.json)
    session = dest_principal.session(args.region)
    source_session = source_principal.session(args.region) if spec.transport == "relay" else session
    # The buckets' regions come from S3 (not from configuration) unless given as flags; the
    # destination key must be in the destination bucket's region, checked again with them. Each
    # side asks with its own principal (HeadBucket answers the region even when it refuses).
    region = session.region_name or "us-east-1"
    try:
        spec = spec.with_regions(
            bucket_region(
                source_session.client("s3", region_name=source_session.region_name or region),
                spec.source.bucket,
                spec.source_account_id,
            )
            or session.region_name,
            bucket_region(
                session.client("s3", region_name=region), spec.destination.bucket, spec.dest_account_id
            )
            or session.region_name,
        )
    except InvalidInputError as exc:
        return fail_usage(str(exc), args.json)
    if spec.transport == "relay":
        clients = TransferClients.for_relay(
            source_session,
            session,
            concurrency=spec.concurrency,
            source_region=spec.source_region or session.region_name,
            dest_region=spec.dest_region or session.region_name,
        )
    else:
        clients = TransferClients.from_session(
            session,
            concurrency=spec.concurrency,
            source_region=spec.source_region or session.region_name,
            dest_region=spec.dest_region or session.region_name,
        )
    show_progress = not args.quiet and (sys.stderr.isatty() if args.progress is None else args.progress)
    bar = _ProgressBar() if show_progress else None
    # Who the principal is only decorates failure messages: STS is asked on the first one, not
    # before every run (GetCallerIdentity is a round trip of its own at start-up).
    engine = TransferEngine(
        spec,
        clients,
        principal_lookup=functools.cache(lambda: caller_arn(session)),
        source_principal_lookup=functools.cache(lambda: caller_arn(source_session)),
        progress=bar,
        report_target=args.report,
    )
    try:
        with _stop_on_signals(engine):
            log = engine.open_report()  # a report that cannot be written stops the run before any copy
            with bar or contextlib.nullcontext():
                report = engine.run(log)
    except InvalidInputError as exc:
        return fail_usage(str(exc), args.json)
    if not args.quiet:
        sys.stderr.write(report.summary_line() + "\n")
    if not report.ok:
        sys.stderr.write(report.failure_summary() + "\n")
    empty = nothing_transferred(spec, report)
    if empty:
        sys.stderr.write(f"s3xacct: {'error' if empty[1] else 'warning'}: {empty[0]}\n")
    if args.json:
        print_json({**report.to_dict(), **({"no_transfer": empty[0]} if empty else {})})
    code = _exit_code(report)
    if code == EXIT_OK and empty and empty[1]:
        code = EXIT_FAILED
    if report.interrupted_copies:
        # Copies abandoned after the drain bound still hold worker threads, which the interpreter
        # would wait for at exit. The report is written and every upload aborted: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
