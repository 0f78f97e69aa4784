"""``s3xacct probe-kms KEY_ARN...``: can the principal use these KMS keys as a copy will?"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import validate_region
from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TERMINAL,
    add_credential_args,
    checked,
    fail_usage,
    print_json,
)
from airflow_provider_s3xacct.kms.probes import (
    KeyProbePlan,
    account_of,
    normalise_operations,
    probe_all,
    validate_plans,
)
from airflow_provider_s3xacct.transfer.session import build_session, caller_arn


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "probe-kms", help="check the principal can use KMS keys", description=__doc__
    )
    parser.add_argument("key_arns", nargs="+", metavar="KEY_ARN")
    parser.add_argument(
        "--operations",
        default="decrypt,generate-data-key",
        help="comma-separated: decrypt, generate-data-key (default: both)",
    )
    parser.add_argument(
        "--sample-object",
        action="append",
        default=[],
        metavar="S3_URI",
        help="an object encrypted under the key, for the decrypt probe (one per key, in order)",
    )
    parser.add_argument(
        "--bucket-region",
        type=checked(validate_region, "--bucket-region"),
        help="region of the bucket the keys serve",
    )
    parser.add_argument("--json", action="store_true")
    add_credential_args(parser)
    parser.set_defaults(handler=run)


def _plans(args: argparse.Namespace) -> list[KeyProbePlan]:
    operations = normalise_operations(args.operations)
    samples = list(args.sample_object)
    if samples and len(samples) not in (1, len(args.key_arns)):
        raise InvalidInputError("--sample-object", "give one sample object per key, in the order of the keys")
    if len(samples) == 1:
        samples = samples * len(args.key_arns)
    plans = [
        KeyProbePlan(arn, operations, samples[i] if samples else None, args.bucket_region)
        for i, arn in enumerate(args.key_arns)
    ]
    validate_plans(plans)
    return plans


def run(args: argparse.Namespace) -> int:
    try:
        plans = _plans(args)
    except InvalidInputError as exc:
        return fail_usage(str(exc), args.json)
    session = build_session(args.profile, args.role_arn, args.region, args.external_id)
    clients = ClientCache(lambda service, region: session.client(service, region_name=region))
    results = probe_all(plans, clients, principal_account=account_of(caller_arn(session)))
    for result in results:
        verdict = "usable" if result.ok else result.problem
        sys.stderr.write(f"{result.key_arn} [{result.state or 'state unknown'}]: {verdict}\n")
    if args.json:
        print_json(
            {
                "keys": [
                    {
                        "key_arn": r.key_arn,
                        "state": r.state,
                        "region": r.region,
                        "operations": r.operations,
                        "problem": r.problem,
                    }
                    for r in results
                ]
            }
        )
    if any(r.terminal for r in results):
        return EXIT_TERMINAL
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
