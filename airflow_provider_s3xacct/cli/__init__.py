"""The ``s3xacct`` command: the same core as the operators, no scheduler needed.

Exit codes: 0 success, 1 something failed or was denied, 2 usage or validation error,
3 (probe-kms) a terminal key state, (check) nothing differs but some objects are unverified.
"""

from __future__ import annotations

import argparse

from airflow_provider_s3xacct.cli import check_command, copy_command, kms_command, permissions_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3xacct", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    copy_command.register(commands)
    check_command.register(commands)
    kms_command.register(commands)
    permissions_command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
