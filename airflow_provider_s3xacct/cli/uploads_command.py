"""``s3xacct cleanup-uploads DST_URI --older-than DURATION``: abort stale multipart uploads."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location, validate_account_id
from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_credential_args,
    fail_usage,
    fail_with,
    print_json,
)
from airflow_provider_s3xacct.transfer.session import build_session
from airflow_provider_s3xacct.transfer.uploads import cleanup_uploads, parse_duration


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "cleanup-uploads",
        help="abort incomplete multipart uploads under a prefix older than a duration",
        description=__doc__,
    )
    parser.add_argument("dst_uri", metavar="DST_URI")
    parser.add_argument(
        "--older-than",
        required=True,
        metavar="DURATION",
        help="only uploads initiated longer ago than this (90m, 24h, 7d): newer ones may be running",
    )
    parser.add_argument("--dest-account-id", help="expected owner of the bucket")
    parser.add_argument("--dry-run", action="store_true", help="list what would be aborted; abort nothing")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object (last line)")
    add_credential_args(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        location = S3Location.parse(args.dst_uri, "DST_URI")
        older_than = parse_duration(args.older_than, "--older-than")
        owner = validate_account_id(args.dest_account_id, "--dest-account-id")
    except InvalidInputError as exc:
        return fail_usage(str(exc), args.json)
    session = build_session(args.profile, args.role_arn, args.region, args.external_id)
    client = session.client("s3")
    try:
        result = cleanup_uploads(
            client, location.bucket, location.prefix, older_than, expected_owner=owner, dry_run=args.dry_run
        )
    except (ClientError, BotoCoreError) as exc:
        return fail_with(exc, args.json, f"listing the multipart uploads of {location.uri}") or EXIT_FAILED
    verb = "would abort" if args.dry_run else "aborted"
    done = result.found if args.dry_run else result.aborted
    sys.stderr.write(
        f"{verb} {done} of {result.found} multipart uploads under {location.uri} older than "
        f"{args.older_than}; kept {result.kept_recent} newer ones\n"
    )
    for failure in result.failures:
        sys.stderr.write(f"  could not abort {failure.upload_id} ({failure.key}): {failure.error}\n")
    if args.json:
        print_json(result.to_dict())
    return EXIT_FAILED if result.failures else EXIT_OK
