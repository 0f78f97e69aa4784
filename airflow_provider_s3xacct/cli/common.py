"""Helpers shared by the ``s3xacct`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from airflow_provider_s3xacct.aws.errors import InvalidInputError, error_code
from airflow_provider_s3xacct.aws.locations import (
    validate_external_id,
    validate_region,
    validate_role_arn,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TERMINAL = 0, 1, 2, 3


class UsageError(Exception):
    """argparse found bad usage; ``main`` reports it (as JSON too under ``--json``), exit 2."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser (and, inherited, its subparsers) that hands usage errors to ``main``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


def wants_json(argv: list[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the arguments."""
    return any(a.startswith("--js") and "--json".startswith(a) for a in argv)


def checked(validate: Callable[[Any, str], Any], flag: str) -> Callable[[str], str]:
    """An argparse ``type`` applying the core's validation rule, so the flag is checked before any call."""

    def convert(value: str) -> str:
        try:
            validate(value, flag)
        except InvalidInputError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
        return value

    return convert


def add_credential_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "credentials (default: the standard AWS chain, AWS_ENDPOINT_URL honoured)"
    )
    group.add_argument("--profile", help="AWS profile of the sync principal")
    group.add_argument(
        "--role-arn",
        type=checked(validate_role_arn, "--role-arn"),
        help="assume this role first (the sync principal)",
    )
    group.add_argument(
        "--external-id", type=checked(validate_external_id, "--external-id"), help="ExternalId for --role-arn"
    )
    group.add_argument(
        "--region", type=checked(validate_region, "--region"), help="region of the sync principal's clients"
    )


def add_principal_args(parser: argparse.ArgumentParser) -> None:
    """The relay's two principals: who reads the source, who writes the destination."""
    group = parser.add_argument_group(
        "two principals (relay copy; README: Relay copy (two principals)); a side without its own "
        "flags uses --profile/--role-arn or the standard chain"
    )
    for side, what in (("source", "reads the source"), ("dest", "writes the destination")):
        group.add_argument(f"--{side}-profile", help=f"AWS profile of the principal that {what}")
        group.add_argument(
            f"--{side}-role-arn",
            type=checked(validate_role_arn, f"--{side}-role-arn"),
            help=f"assume this role as the principal that {what}",
        )
        group.add_argument(
            f"--{side}-external-id",
            type=checked(validate_external_id, f"--{side}-external-id"),
            help=f"ExternalId for --{side}-role-arn",
        )


def check_credential_args(args: argparse.Namespace) -> None:
    """Combinations argparse cannot express; raises :class:`InvalidInputError`."""
    if getattr(args, "external_id", None) and not getattr(args, "role_arn", None):
        raise InvalidInputError(
            "--external-id", "is only sent when assuming a role: give --role-arn too, or drop it"
        )
    for side in ("source", "dest"):
        if getattr(args, f"{side}_external_id", None) and not getattr(args, f"{side}_role_arn", None):
            raise InvalidInputError(
                f"--{side}-external-id",
                f"is only sent when assuming a role: give --{side}-role-arn too, or drop it",
            )


def print_json(payload: dict[str, Any]) -> None:
    """Print one JSON object as the last line of stdout (the machine-readable contract)."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def fail_usage(message: str, as_json: bool) -> int:
    sys.stderr.write(f"s3xacct: error: {message}\n")
    if as_json:
        print_json({"error": message})
    return EXIT_USAGE


def _kind(exc: BaseException) -> str:
    """The JSON line's ``kind``: an AWS error's code, else the exception's class.

    botocore names the class of an AWS error after the code only where the service model lists
    that error (``AccessDenied`` is a plain ``ClientError`` on botocore 1.37, MWAA's pin, and a
    modeled class on later ones); the code is the same on every version.
    """
    return error_code(exc) or type(exc).__name__


def fail_with(exc: BaseException, as_json: bool, doing: str = "") -> int | None:
    """The CLI's answer to a core exception, from the error table: bad input exits 2, any other
    failure 1, with ``s3xacct: error: ...`` on stderr and under ``--json`` one line
    ``{"error", "kind", "retryable"[, "diagnosis"]}`` (a script retries only what says retryable).
    ``doing`` names the step that failed. None for an exception without a row (a bug: the caller
    lets it propagate)."""
    # The table names every core exception class, the permissions engine's and the KMS probes'
    # among them: imported on a failure, so a clean `s3xacct copy` never loads those modules
    # (docs/benchmarks.md, "Start-up").
    from airflow_provider_s3xacct.diagnosis.failures import classify

    verdict = classify(exc)
    if verdict is None:
        return None
    message = f"{doing} failed: {verdict.message}" if doing else verdict.message
    if verdict.bad_input:
        return fail_usage(message, as_json)
    sys.stderr.write(f"s3xacct: error: {message}\n")
    if as_json:
        diagnosis = getattr(exc, "diagnosis", None)
        print_json(
            {
                "error": message,
                "kind": _kind(exc),
                "retryable": verdict.retryable,
                **({"diagnosis": str(diagnosis)} if diagnosis is not None else {}),
            }
        )
    return EXIT_FAILED
