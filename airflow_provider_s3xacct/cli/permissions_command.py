"""``s3xacct plan|verify|apply --config FILE``: the policies of both accounts, proven and explained."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import validate_role_arn
from airflow_provider_s3xacct.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TERMINAL,
    add_credential_args,
    checked,
    fail_usage,
    fail_with,
    print_json,
)
from airflow_provider_s3xacct.permissions.apply import ConcurrentChangeError, apply_changes, plan_changes
from airflow_provider_s3xacct.permissions.aws_checks import run_aws_checks
from airflow_provider_s3xacct.permissions.documents import AccountAdmins, load_policy_dir, write_policy_dir
from airflow_provider_s3xacct.permissions.guardrails import (
    BOUNDARY_FILE,
    SESSION_POLICY_FILE,
    Guardrails,
    SessionPolicy,
    load_guardrails_dir,
)
from airflow_provider_s3xacct.permissions.plan import cross_account_grants, plan_policies
from airflow_provider_s3xacct.permissions.probe import live_probes
from airflow_provider_s3xacct.permissions.spec import RELAY_PRINCIPAL_FIELDS, SIDES, Side, TransferSpec
from airflow_provider_s3xacct.permissions.verify import (
    NotChecked,
    VerifyReport,
    verify_deployed,
    verify_policies,
)
from airflow_provider_s3xacct.transfer.session import build_session


def _admin_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("admin credentials of each account (default: the standard chain)")
    for side in ("source", "dest"):
        group.add_argument(f"--{side}-admin-profile")
        group.add_argument(
            f"--{side}-admin-role-arn", type=checked(validate_role_arn, f"--{side}-admin-role-arn")
        )


def register(commands: Any) -> None:
    plan = commands.add_parser("plan", help="write the least-privilege policies for a transfer")
    plan.add_argument("--config", required=True)
    plan.add_argument("--out", metavar="DIR", help="write the offline file layout here")
    plan.add_argument(
        "--no-cross-account-grants",
        action="store_true",
        help="no bucket or key policy may name a principal of another account: plan fails naming "
        "each grant it would need, and recommends a relay copy when the spec is server-side",
    )
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(handler=run_plan)

    verify = commands.add_parser("verify", help="check the deployed (or given) policies allow the transfer")
    verify.add_argument("--config", required=True)
    verify.add_argument(
        "--policies-dir", metavar="DIR", help="review these files offline instead of reading AWS"
    )
    verify.add_argument("--probe", action="store_true", help="also probe live as the sync principal")
    verify.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="IAM Access Analyzer ValidatePolicy on each document, beside our lint "
        "(default: on when reading AWS, off with --policies-dir)",
    )
    verify.add_argument(
        "--simulate",
        action="store_true",
        help="ask the IAM policy simulator (SimulatePrincipalPolicy) about each request and report "
        "where it disagrees with verify (reads AWS; not with --policies-dir)",
    )
    verify.add_argument("--json", action="store_true")
    _admin_args(verify)
    add_credential_args(verify)
    verify.set_defaults(handler=run_verify)

    apply = commands.add_parser("apply", help="merge our statements into both accounts' documents")
    apply.add_argument("--config", required=True)
    apply.add_argument("--dry-run", action="store_true", help="show a diff per document, write nothing")
    apply.add_argument("--backup-dir", metavar="DIR", help="save each document's previous version here")
    apply.add_argument("--json", action="store_true")
    _admin_args(apply)
    apply.set_defaults(handler=run_apply)


def _admins(args: argparse.Namespace, spec: TransferSpec) -> AccountAdmins:
    source = build_session(args.source_admin_profile, args.source_admin_role_arn, spec.source.region)
    dest = build_session(args.dest_admin_profile, args.dest_admin_role_arn, spec.destination.region)
    return AccountAdmins.from_sessions(spec, source, dest)


def run_plan(args: argparse.Namespace) -> int:
    try:
        spec = TransferSpec.from_file(args.config)
    except (InvalidInputError, OSError) as exc:
        return fail_usage(str(exc), args.json)
    policy_plan = plan_policies(spec)
    if args.no_cross_account_grants and (grants := cross_account_grants(spec, policy_plan)):
        return _refuse_grants(spec, grants, args.json)
    files = policy_plan.files(spec)
    if spec.options.multipart:
        # kill -9 or a lost abort can leave an upload behind; only S3 itself removes it reliably.
        sys.stderr.write(
            f"recommended: a lifecycle rule with AbortIncompleteMultipartUpload (e.g. DaysAfterInitiation 2) "
            f"on s3://{spec.destination.bucket}, so an upload an interrupted run could not abort is removed "
            "(README, 'Interruption, faults and cleanup')\n"
        )
    if args.out:
        try:
            written = write_policy_dir(files, args.out)
        except InvalidInputError as exc:
            return fail_usage(str(exc), args.json)
        for path in written:
            sys.stderr.write(f"wrote {path}\n")
    if args.json:
        print_json(files)
    elif not args.out:
        sys.stdout.write(json.dumps(files, indent=2) + "\n")
    return EXIT_OK


def _refuse_grants(spec: TransferSpec, grants: list[str], as_json: bool) -> int:
    """--no-cross-account-grants and the plan needs some: say which, and what topology needs none."""
    if spec.relay:
        wrong = [
            f"{RELAY_PRINCIPAL_FIELDS[side]} is in account {spec.acting(side).principal_account}, "
            f"not the {side} account {getattr(spec, side).account_id}"
            for side in SIDES
            if spec.acting(side).principal_account != getattr(spec, side).account_id
        ]
        reason = (
            "a relay copy needs no cross-account grant only when each principal lives in its side's "
            f"account: {'; '.join(wrong) or 'a key of another account is used'}"
        )
        recommendation = None
    else:
        reason = (
            "a server-side copy needs one principal allowed to read the source and write the "
            "destination, so the account that is not the principal's must grant it; a relay copy reads "
            "with a principal of the source account and writes with one of the destination account, "
            "and no document then names a foreign principal"
        )
        recommendation = {
            "transport": "relay",
            "reason": reason,
            "set": [
                f"{RELAY_PRINCIPAL_FIELDS['source']}: a role or user of account {spec.source.account_id}",
                f"{RELAY_PRINCIPAL_FIELDS['destination']}: a role or user of account "
                f"{spec.destination.account_id}",
                "and remove principal_arn",
            ],
        }
    sys.stderr.write("s3xacct: --no-cross-account-grants, but this plan needs:\n")
    sys.stderr.writelines(f"  {g}\n" for g in grants)
    if recommendation:
        sys.stderr.write(f"recommended: a relay copy ({'; '.join(recommendation['set'])}): {reason}\n")
    else:
        sys.stderr.write(f"s3xacct: {reason}\n")
    if as_json:
        print_json(
            {
                "error": "the plan needs cross-account grants and --no-cross-account-grants forbids them",
                "cross_account_grants": grants,
                "reason": reason,
                "recommendation": recommendation,
            }
        )
    return EXIT_FAILED


# verify's exit codes: 0 every request allowed, 1 at least one denied, 3 none denied but at least
# one undetermined (verify cannot know; the report names why), 2 bad input (fail_usage).
EXIT_UNDETERMINED = EXIT_TERMINAL


def verdict_exit_code(report: VerifyReport) -> int:
    return {"allowed": EXIT_OK, "denied": EXIT_FAILED, "undetermined": EXIT_UNDETERMINED}[report.verdict]


def _print_report(report: VerifyReport, as_json: bool) -> int:
    sys.stderr.write(report.summary() + "\n")
    if as_json:
        print_json(report.to_dict())
    return verdict_exit_code(report)


def _session_policy(args: argparse.Namespace, spec: TransferSpec) -> SessionPolicy:
    """How the copy's role session is created, as far as this command knows."""
    if spec.relay:
        return SessionPolicy.unknown("a relay copy's two role sessions are created outside this command")
    if args.role_arn:
        return SessionPolicy(True)  # build_session assumes --role-arn without a session policy
    return SessionPolicy.unknown(
        "the copy's credentials come from outside s3xacct; give --role-arn as the copy does, "
        "or session-policy.json with --policies-dir"
    )


def _relay_unsupported(args: argparse.Namespace) -> str | None:
    """The verify options that do not know a relay copy's two principals yet, as an error."""
    if args.simulate or args.probe or args.validate:
        return (
            "--simulate, --probe and --validate work on one principal and do not support a relay "
            "copy (source_principal_arn/dest_principal_arn) yet; drop them"
        )
    for name in (BOUNDARY_FILE, SESSION_POLICY_FILE):
        if args.policies_dir and (Path(args.policies_dir) / name).exists():
            return (
                f"--policies-dir: {name} describes one principal, but a relay copy has two; "
                "per-principal guardrail files are not supported yet: remove it"
            )
    return None


def _offline_guardrails(directory: str, spec: TransferSpec) -> Guardrails | dict[Side, Guardrails]:
    if spec.relay:
        return {side: load_guardrails_dir(directory, spec.acting(side)) for side in SIDES}
    return load_guardrails_dir(directory, spec)


def run_verify(args: argparse.Namespace) -> int:
    if args.simulate and args.policies_dir:
        return fail_usage(
            "--simulate: the simulator reads the principal's deployed policies, so it cannot be "
            "compared with files from --policies-dir; drop one of the two options",
            args.json,
        )
    try:
        spec = TransferSpec.from_file(args.config)
        if spec.relay and (problem := _relay_unsupported(args)):
            return fail_usage(problem, args.json)
        validate = args.validate if args.validate is not None else not (args.policies_dir or spec.relay)
        admins = _admins(args, spec) if (validate or args.simulate or not args.policies_dir) else None
        if args.policies_dir or admins is None:
            policies = load_policy_dir(args.policies_dir, relay=spec.relay)
            report = verify_policies(spec, policies, guardrails=_offline_guardrails(args.policies_dir, spec))
        else:
            policies = admins.read_all()
            report = verify_deployed(spec, admins, _session_policy(args, spec), policies)
    except (InvalidInputError, OSError, ProfileNotFound) as exc:
        return fail_usage(str(exc), args.json)
    except (ClientError, BotoCoreError) as exc:
        return fail_with(exc, args.json, "reading the deployed policies") or EXIT_FAILED
    if admins is not None and (validate or args.simulate):
        report.aws = run_aws_checks(spec, policies, admins.client, validate, args.simulate)
    if spec.relay and not args.policies_dir:  # what reading AWS checks for one principal by default
        report.not_checked.append(
            NotChecked("IAM Access Analyzer ValidatePolicy", "not run for a relay copy's two principals yet")
        )
    if args.probe:
        session = build_session(args.profile, args.role_arn, args.region, args.external_id)
        report.probes = live_probes(spec, ClientCache(lambda s, r: session.client(s, region_name=r)))
    return _print_report(report, args.json)


def run_apply(args: argparse.Namespace) -> int:
    backup = Path(args.backup_dir) if args.backup_dir else None
    try:
        spec = TransferSpec.from_file(args.config)
        if backup:  # before any AWS call: a backup that cannot be written is found now, not after
            backup.mkdir(parents=True, exist_ok=True)
    except (InvalidInputError, OSError) as exc:
        return fail_usage(str(exc), args.json)
    admins = _admins(args, spec)
    try:
        changes = plan_changes(spec, admins)
        if backup:
            (backup / "previous-policies.json").write_text(
                json.dumps({c.name: c.before for c in changes if c.changed}, indent=2) + "\n"
            )
        result = apply_changes(changes, dry_run=args.dry_run)
    except ConcurrentChangeError as exc:
        return fail_with(exc, args.json) or EXIT_FAILED
    except (ClientError, BotoCoreError) as exc:
        return fail_with(exc, args.json, "reading or writing a policy") or EXIT_FAILED
    for change in changes:
        if change.changed:
            sys.stderr.write(change.diff())
    verb = "would write" if args.dry_run else "wrote"
    sys.stderr.write(
        f"{verb} {sum(c.changed for c in changes)} document(s); "
        f"{sum(not c.changed for c in changes)} unchanged\n"
    )
    payload = result.to_dict()
    if not args.dry_run:
        report = verify_deployed(spec, admins)
        payload["verify"] = report.to_dict()
        sys.stderr.write(report.summary() + "\n")
        if args.json:
            print_json(payload)
        return verdict_exit_code(report)
    if args.json:
        print_json(payload)
    return EXIT_OK
