"""Helpers shared by the ``s3xacct`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TERMINAL = 0, 1, 2, 3


def add_credential_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "credentials (default: the standard AWS chain, AWS_ENDPOINT_URL honoured)"
    )
    group.add_argument("--profile", help="AWS profile of the sync principal")
    group.add_argument("--role-arn", help="assume this role first (the sync principal)")
    group.add_argument("--external-id", help="ExternalId for --role-arn")
    group.add_argument("--region", help="region of the sync principal's clients")


def print_json(payload: dict[str, Any]) -> None:
    """Print one JSON object as the last line of stdout (the machine-readable contract)."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def fail_usage(message: str, as_json: bool) -> int:
    sys.stderr.write(f"s3xacct: error: {message}\n")
    if as_json:
        print_json({"error": message})
    return EXIT_USAGE
