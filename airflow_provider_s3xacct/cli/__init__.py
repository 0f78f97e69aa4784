"""The ``s3xacct`` command: the same core as the operators, no scheduler needed.

Exit codes: 0 success, 1 something failed or was denied, 2 usage or validation error,
3 (probe-kms) a terminal key state, (check) nothing differs but some objects are unverified.
A core exception reaching the top gets its code from the error table (``cli/common.py``).
"""

from __future__ import annotations

import argparse
import sys

from airflow_provider_s3xacct.cli import (
    check_command,
    copy_command,
    kms_command,
    permissions_command,
    uploads_command,
)
from airflow_provider_s3xacct.cli.common import (
    CliParser,
    UsageError,
    check_credential_args,
    fail_usage,
    fail_with,
    wants_json,
)
from airflow_provider_s3xacct.transfer.errors import InvalidInputError


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="s3xacct", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    copy_command.register(commands)
    check_command.register(commands)
    kms_command.register(commands)
    permissions_command.register(commands)
    uploads_command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        check_credential_args(args)
    except UsageError as exc:
        sys.stderr.write(exc.usage)
        return fail_usage(str(exc), wants_json(argv))
    except InvalidInputError as exc:
        return fail_usage(str(exc), wants_json(argv))
    try:
        return int(args.handler(args))
    except Exception as exc:  # a core exception reaching the top: the error table's exit code
        code = fail_with(exc, wants_json(argv))
        if code is None:
            raise
        return code
