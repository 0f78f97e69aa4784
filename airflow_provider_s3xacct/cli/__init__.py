"""The ``s3xacct`` command: the same core as the operators, no scheduler needed.

Exit codes: 0 success, 1 something failed or was denied, 2 usage or validation error,
3 (probe-kms) a terminal key state, (check) nothing differs but some objects are unverified.
A core exception reaching the top gets its code from the error table (``cli/common.py``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.cli.common import (
    CliParser,
    UsageError,
    check_credential_args,
    fail_usage,
    fail_with,
    wants_json,
)

# Each subcommand and the module that registers and runs it, in the order ``--help`` lists them.
# Only the module of the command being run is imported: ``s3xacct copy`` starts without the
# permissions engine, the KMS probes or their dependencies (docs/benchmarks.md, "Start-up").
COMMANDS = {
    "copy": "copy_command",
    "check": "check_command",
    "probe-kms": "kms_command",
    "plan": "permissions_command",
    "verify": "permissions_command",
    "apply": "permissions_command",
    "cleanup-uploads": "uploads_command",
}


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word; every option comes after it)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command``'s module only, or of every subcommand (``--help``, a bad word)."""
    parser = CliParser(prog="s3xacct", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"airflow_provider_s3xacct.cli.{module}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_command_word(argv)).parse_args(argv)
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
