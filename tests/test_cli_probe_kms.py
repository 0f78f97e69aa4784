"""``s3xacct probe-kms`` exit codes and JSON, as a subprocess against the moto server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.aws_world import World, credential_env


def probe_kms(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    # The key's own account probes it: moto's KMS cannot share keys across accounts.
    env = {"PATH": "/usr/bin:/bin", **credential_env(world.source, world.endpoint_url)}
    return subprocess.run(
        [str(Path(sys.executable).with_name("s3xacct")), "probe-kms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_usable_key_exits_0_with_json(world: World) -> None:
    world.put("data/a", b"1", kms=world.source_key_arn)
    result = probe_kms(
        world, world.source_key_arn, "--sample-object", f"s3://{world.source_bucket}/data/a", "--json"
    )
    assert result.returncode == 0, result.stderr
    (key,) = json.loads(result.stdout.splitlines()[-1])["keys"]
    assert key == {
        "key_arn": world.source_key_arn,
        "state": "Enabled",
        "region": "us-east-1",
        "operations": {"decrypt": True, "generate_data_key": True},
        "problem": None,
    }


def test_terminal_key_state_exits_3_and_bad_input_2(world: World) -> None:
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    kms.disable_key(KeyId=world.source_key_arn.split("/")[-1])
    result = probe_kms(world, world.source_key_arn, "--operations", "generate-data-key", "--json")
    assert result.returncode == 3
    (key,) = json.loads(result.stdout.splitlines()[-1])["keys"]
    assert key["state"] == "Disabled" and "disabled" in key["problem"]

    assert probe_kms(world, "arn:aws:kms:us-east-1:1:key/x").returncode == 2
    missing_sample = probe_kms(world, world.source_key_arn, "--operations", "decrypt")
    assert missing_sample.returncode == 2 and "sample_object" in missing_sample.stderr
