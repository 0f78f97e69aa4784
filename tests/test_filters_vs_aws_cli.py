"""``--include``/``--exclude`` against the real aws CLI: same random trees, same rules, same plan.

The aws CLI (v1, in its own virtualenv .venv-peers, which ``make test`` creates) is the oracle:
``aws s3 sync --dryrun --delete`` prints what it would copy and delete; s3xacct's dry run must
name the same keys. Skipped where the aws CLI is not installed.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import World
from tests.test_engine import principal_clients

AWS = Path(os.environ.get("S3XACCT_PEERS_BIN", Path(__file__).parents[1] / ".venv-peers" / "bin")) / "aws"
SEGMENTS = ["a", "b.csv", "c.json", "dir", "d e", "x+y", "ü.csv", ".hidden", "deep", "tmp"]
PATTERNS = [
    "*",
    "*.csv",
    "dir/*",
    "*/b.csv",
    "a*",
    "*e*",
    "deep/*",
    "?.json",
    "*.json",
    "tmp*",
    "*/tmp/*",
    "[ab]*",
]
_LINE = re.compile(r"^\(dryrun\) (copy|delete): (s3://\S+?/.*?)(?: to s3://.*)?$")

pytestmark = pytest.mark.skipif(
    not AWS.exists(), reason=f"aws CLI not installed at {AWS} (make test installs it)"
)


def aws_plan(world: World, src: str, dst: str, rules: list[tuple[str, str]]) -> set[tuple[str, str]]:
    creds = world.principal.get_credentials()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    flags = [arg for kind, pattern in rules for arg in (f"--{kind}", pattern)]
    result = subprocess.run(
        [
            str(AWS),
            "--endpoint-url",
            world.endpoint_url or "",
            "s3",
            "sync",
            src,
            dst,
            "--dryrun",
            "--delete",
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    plan = set()
    for line in result.stdout.splitlines():
        match = _LINE.match(line)
        assert match, line
        action, uri = match.groups()
        root = src if action == "copy" else dst
        plan.add((action, uri[len(root) :]))
    return plan


def s3xacct_plan(
    world: World, src: str, dst: str, rules: list[tuple[str, str]], tmp: Path
) -> set[tuple[str, str]]:
    log = tmp / "plan.jsonl"
    spec = CopySpec.create(
        source=src, destination=dst, mode="sync", delete=True, max_delete=10**6, dry_run=True, filters=rules
    )
    TransferEngine(spec, principal_clients(world), report_target=str(log)).run()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return {(r["action"], r["key"]) for r in lines if r["status"] == "dry-run"}


def random_key(rng: random.Random) -> str:
    return "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 3)))


@pytest.mark.parametrize("seed", range(2))
def test_filters_plan_what_aws_s3_sync_plans(world: World, tmp_path: Any, seed: int) -> None:
    rng = random.Random(seed)
    keys = {random_key(rng) for _ in range(40)}
    for key in sorted(keys):
        world.put(f"data/{key}", b"same")
    for key in rng.sample(sorted(keys), 10):  # already there: newer and equal, so neither tool copies
        world.dst_s3.put_object(Bucket=world.dest_bucket, Key=f"x/{key}", Body=b"same")
    for _ in range(10):  # only in the destination: deleted unless a rule excludes them
        world.dst_s3.put_object(Bucket=world.dest_bucket, Key=f"x/{random_key(rng)}-old", Body=b"o")
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/x/"
    for _ in range(6):
        rules = [(rng.choice(["include", "exclude"]), rng.choice(PATTERNS)) for _ in range(rng.randint(1, 4))]
        expected = aws_plan(world, src, dst, rules)
        assert s3xacct_plan(world, src, dst, rules, tmp_path) == expected, rules
