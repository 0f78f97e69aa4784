"""``s3xacct check SRC_URI DST_URI``: are the two prefixes complete and identical?"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import ProfileNotFound

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location, validate_account_id
from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TERMINAL,
    add_credential_args,
    fail_usage,
    fail_with,
    print_json,
)
from airflow_provider_s3xacct.transfer.check import Checker, CheckFailedError, CheckOptions
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.session import build_session

EXIT_UNVERIFIED = EXIT_TERMINAL  # 3: nothing differs, but some pairs could not be proven identical


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="compare two prefixes: missing, extra and differing objects",
        description=__doc__ + " Exit 0 identical, 1 something differs, 3 nothing differs but some "
        "objects could not be proven identical (see --sample), 2 bad input.",
    )
    parser.add_argument("src_uri", metavar="SRC_URI")
    parser.add_argument("dst_uri", metavar="DST_URI")
    parser.add_argument(
        "--metadata", action="store_true", help="also compare content headers and user metadata"
    )
    parser.add_argument("--tags", action="store_true", help="also compare object tags")
    parser.add_argument("--size-only", action="store_true", help="accept an equal size as identical")
    parser.add_argument(
        "--sample", type=int, default=0, metavar="N", help="read N objects from both sides and compare bytes"
    )
    parser.add_argument("--concurrency", type=int, default=16, metavar="1-256", help="requests in flight")
    parser.add_argument("--source-account-id", help="expected owner of the source bucket")
    parser.add_argument("--dest-account-id", help="expected owner of the destination bucket")
    parser.add_argument("--report", metavar="PATH_OR_S3_URI", help="per-object JSON lines")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    add_credential_args(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        source = S3Location.parse(args.src_uri, "SRC_URI")
        destination = S3Location.parse(args.dst_uri, "DST_URI")
        source_owner = validate_account_id(args.source_account_id, "--source-account-id")
        dest_owner = validate_account_id(args.dest_account_id, "--dest-account-id")
        options = CheckOptions(
            metadata=args.metadata,
            tags=args.tags,
            size_only=args.size_only,
            sample=args.sample,
            concurrency=args.concurrency,
        )
        session = build_session(args.profile, args.role_arn, args.region, args.external_id)
    except (InvalidInputError, ProfileNotFound) as exc:
        return fail_usage(str(exc), args.json)
    clients = TransferClients.from_session(session, concurrency=args.concurrency)
    checker = Checker(
        clients.source,
        clients.dest,
        source,
        destination,
        options,
        source_owner=source_owner,
        dest_owner=dest_owner,
    )
    try:
        report = checker.run(args.report)
    except CheckFailedError as exc:
        return fail_with(exc, args.json) or EXIT_FAILED
    sys.stderr.write(report.summary_line() + "\n")
    for difference in report.differences:
        sys.stderr.write(f"  {difference['verdict']}: {difference['key']}: {difference['reason']}\n")
    if args.json:
        print_json(report.to_dict())
    if report.different:
        return EXIT_FAILED
    return EXIT_OK if report.identical else EXIT_UNVERIFIED
