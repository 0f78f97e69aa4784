"""``s3xacct copy SRC_URI DST_URI``: a server-side cross-account copy or sync."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

import boto3
from botocore.exceptions import ProfileNotFound
from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_credential_args,
    checked,
    fail_usage,
    print_json,
)
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.engine import ListingFailedError, TransferEngine
from airflow_provider_s3xacct.transfer.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.locations import validate_region
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.session import build_session, caller_arn
from airflow_provider_s3xacct.transfer.spec import CopySpec


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "copy", help="copy or sync objects between buckets, server side", description=__doc__
    )
    parser.add_argument("src_uri", metavar="SRC_URI")
    parser.add_argument("dst_uri", metavar="DST_URI")
    parser.add_argument("--mode", choices=["copy", "sync"], default="copy")
    parser.add_argument(
        "--sse-kms-key-id", metavar="ARN", help="encrypt destination objects with this KMS key ARN"
    )
    parser.add_argument("--bucket-key", action="store_true", default=None, help="enable S3 Bucket Keys")
    parser.add_argument(
        "--delete", action="store_true", help="sync: delete destination keys absent from the source"
    )
    parser.add_argument(
        "--max-delete", type=int, help="allow at most N deletions (default: 10%% of the destination)"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--multipart-threshold", type=int, metavar="BYTES", default=None)
    parser.add_argument("--part-size", type=int, metavar="BYTES", default=None)
    parser.add_argument("--no-tags", action="store_true", help="do not copy object tags")
    parser.add_argument("--acl", choices=["bucket-owner-full-control"])
    parser.add_argument("--include", action="append", default=[], metavar="GLOB")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    parser.add_argument("--compare", choices=["size-mtime", "etag"], default="size-mtime")
    parser.add_argument(
        "--transport",
        choices=["crt", "botocore"],
        default="crt",
        help="HTTP client for copies below the multipart threshold (default: the AWS CRT)",
    )
    parser.add_argument("--source-account-id", help="expected owner of the source bucket")
    parser.add_argument("--dest-account-id", help="expected owner of the destination bucket")
    parser.add_argument(
        "--source-region",
        type=checked(validate_region, "--source-region"),
        help="region of the source bucket (default: --region)",
    )
    parser.add_argument(
        "--dest-region",
        type=checked(validate_region, "--dest-region"),
        help="region of the destination bucket (default: --region)",
    )
    parser.add_argument("--report", metavar="PATH_OR_S3_URI", help="write a JSON-lines line per object")
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
    parser.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace, region: str | None) -> CopySpec:
    optional = {
        "multipart_threshold": args.multipart_threshold,
        "part_size": args.part_size,
        "max_delete": args.max_delete,
        "bucket_key_enabled": args.bucket_key,
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
            copy_tags=not args.no_tags,
            acl=args.acl,
            include=args.include,
            exclude=args.exclude,
            compare=args.compare,
            transport=args.transport,
            source_account_id=args.source_account_id,
            dest_account_id=args.dest_account_id,
            source_region=args.source_region or region,
            dest_region=args.dest_region or region,
            **{name: value for name, value in optional.items() if value is not None},
        )
    for warning in caught:
        sys.stderr.write(f"s3xacct: warning: {warning.message}\n")
    return spec


class _ProgressBar:
    """A rich progress bar: objects done, bytes copied and their rate. The total is unknown while listing."""

    def __init__(self) -> None:
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
            objects=f"{done}/{report.listed} objects, {decimal(report.bytes_copied)}, {report.failed} failed",
        )


def run(args: argparse.Namespace) -> int:
    try:
        # The configured region (flag, env or profile; no AWS call) stands for the buckets' region
        # unless --source-region / --dest-region say otherwise.
        region = args.region or boto3.Session(profile_name=args.profile).region_name
        spec = spec_from_args(args, region)
    except (InvalidInputError, ProfileNotFound) as exc:
        return fail_usage(str(exc), args.json)
    session = build_session(args.profile, args.role_arn, args.region, args.external_id)
    clients = TransferClients.from_session(
        session,
        concurrency=spec.concurrency,
        source_region=spec.source_region or session.region_name,
        dest_region=spec.dest_region or session.region_name,
    )
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    bar = _ProgressBar() if show_progress else None
    engine = TransferEngine(
        spec, clients, principal_arn=caller_arn(session), progress=bar, report_target=args.report
    )
    try:
        if bar:
            with bar:
                report = engine.run()
        else:
            report = engine.run()
    except ListingFailedError as exc:
        sys.stderr.write(f"s3xacct: {exc}\n")
        if args.json:
            print_json({"error": str(exc), "diagnosis": str(exc.diagnosis)})
        return EXIT_FAILED
    sys.stderr.write(report.summary_line() + "\n")
    if not report.ok:
        sys.stderr.write(report.failure_summary() + "\n")
    if args.json:
        print_json(report.to_dict())
    return EXIT_OK if report.ok else EXIT_FAILED
