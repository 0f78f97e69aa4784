"""``s3xacct copy`` starts lean: only what a copy needs is imported, and STS is asked only on failure.

The measurements behind this are in docs/benchmarks.md ("Start-up"). Each check runs the real
command in a fresh interpreter, so nothing an earlier test imported can hide an eager import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from airflow_provider_s3xacct.cli import COMMANDS, build_parser
from tests.aws_world import World

# What `s3xacct copy` must not load: the permissions engine, the KMS probes and the other
# subcommands (their own imports), and rich unless a progress bar is drawn.
NOT_FOR_COPY = (
    "rich",
    "airflow_provider_s3xacct.permissions",
    "airflow_provider_s3xacct.kms",
    "airflow_provider_s3xacct.cli.permissions_command",
    "airflow_provider_s3xacct.cli.kms_command",
    "airflow_provider_s3xacct.cli.check_command",
    "airflow_provider_s3xacct.cli.uploads_command",
)

# Runs `s3xacct copy` through the console script's entry point, then lists the loaded modules.
_COPY_THEN_LIST_MODULES = """
import json, sys
from airflow_provider_s3xacct.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def _env(world: World) -> dict[str, str]:
    creds = world.principal.get_credentials()
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_ENDPOINT_URL": world.endpoint_url or "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _copy_in_fresh_interpreter(world: World, tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "modules.json"
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/lean/"
    subprocess.run(
        [sys.executable, "-c", _COPY_THEN_LIST_MODULES, str(out), "copy", src, dst, *args],
        env=_env(world),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return dict(json.loads(out.read_text()))


def _loaded(modules: object, prefixes: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def _stats(world: World) -> dict[str, int]:
    return dict(requests.get(f"{world.endpoint_url}/__bench__/stats", timeout=10).json())


def test_copy_loads_neither_rich_nor_the_permissions_and_kms_code(world: World, tmp_path: Path) -> None:
    world.put("data/a.csv", b"row\n")
    run = _copy_in_fresh_interpreter(world, tmp_path, "--json")
    assert run["code"] == 0 and world.dest_keys("lean/") == ["lean/a.csv"]
    assert _loaded(run["modules"], NOT_FOR_COPY) == []

    # The progress bar still works when asked for: rich is loaded then, and only then.
    bar = _copy_in_fresh_interpreter(world, tmp_path, "--progress")
    assert bar["code"] == 0 and _loaded(bar["modules"], ("rich",))


def test_a_clean_copy_asks_sts_nothing_and_a_denied_one_names_the_principal(world: World) -> None:
    world.put("data/a.csv", b"row\n", kms=world.source_key_arn)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/sts/"
    s3xacct = str(Path(sys.executable).with_name("s3xacct"))
    requests.get(f"{world.endpoint_url}/__bench__/reset", timeout=10)
    ok = subprocess.run([s3xacct, "copy", src, dst, "--json"], env=_env(world), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert _stats(world).get("sts:GetCallerIdentity", 0) == 0

    # S3's plain "Access Denied" on the copy: the diagnosis names who was denied, so STS is asked once.
    requests.get(f"{world.endpoint_url}/__bench__/reset", timeout=10)  # counts and queued faults
    requests.get(
        f"{world.endpoint_url}/__bench__/fault",
        params={
            "op": "CopyObject",
            "path": f"/{world.dest_bucket}/denied/a.csv",
            "status": 403,
            "code": "AccessDenied",
            "message": "Access Denied",
            "times": 5,
        },
        timeout=10,
    ).raise_for_status()
    denied = subprocess.run(
        [s3xacct, "copy", src, f"s3://{world.dest_bucket}/denied/", "--json"],
        env=_env(world),
        capture_output=True,
        text=True,
    )
    assert denied.returncode == 1
    diagnosis = json.loads(denied.stdout.strip().splitlines()[-1])["failures"][0]["diagnosis"]
    assert "arn:aws:sts::222222222222:assumed-role/sync-role/" in diagnosis, diagnosis
    assert _stats(world).get("sts:GetCallerIdentity", 0) == 1


def test_every_subcommand_has_its_module_in_the_table() -> None:
    """The parser built from every module knows exactly the words ``COMMANDS`` maps."""
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    assert isinstance(subparsers.choices, dict)
    assert list(subparsers.choices) == list(COMMANDS)
    for word in COMMANDS:  # and each word's own module registers it
        [only] = [a for a in build_parser(word)._actions if a.dest == "command"]
        assert isinstance(only.choices, dict) and word in only.choices
