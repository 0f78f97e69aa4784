"""Bad input to the ``s3xacct`` CLI: a clear error naming the field, exit 2, a JSON line under
``--json``, no traceback, and not one request sent.

Every client is pointed (``AWS_ENDPOINT_URL``) at a socket that records each connection, so "no
request" is observed where a request would arrive, for every service (STS, IAM, S3, KMS).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.cli import main
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.test_permissions import DST, DST_KEY, SRC_KEY, spec


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every AWS client's endpoint: a socket that keeps the first bytes of each connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(200))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    yield seen
    stop.set()
    thread.join()
    server.close()


def spec_data(**source: Any) -> dict[str, Any]:
    """test_permissions' spec as a config mapping, with ``source`` fields replaced."""
    data = spec().model_dump(mode="json")
    data["source"].update(source)
    return data


def write_config(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """Exit code, the last stdout line as JSON, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out.splitlines()[-1]), err


def expect_usage_error(
    capsys: pytest.CaptureFixture[str], endpoint: list[bytes], *argv: str, names: tuple[str, ...]
) -> str:
    code, line, err = run(capsys, *argv)
    assert code == 2, err
    assert all(name in line["error"] for name in names), line["error"]
    assert endpoint == [], "a request was sent before the input was validated"
    return str(line["error"])


def test_the_endpoint_sees_requests(
    capsys: pytest.CaptureFixture[str], endpoint: list[bytes], tmp_path: Path
) -> None:
    """Control: valid input does reach the endpoint, so an empty list below means something."""
    config = write_config(tmp_path / "t.yaml", spec_data())
    code = main(["verify", "--config", config, "--json"])
    capsys.readouterr()
    assert code == 1 and endpoint


@pytest.mark.parametrize(
    ("file", "content", "names"),
    [
        (
            "dest-bucket-policy.json",
            [{"Version": "2012-10-17", "Statement": []}],
            ("dest-bucket-policy.json",),
        ),
        ("source-bucket-policy.json", "allow everything", ("source-bucket-policy.json",)),
        ("dest-bucket-policy.json", {"Version": "2012-10-17", "Statement": "allow"}, ("Statement",)),
        (
            "identity.json",
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": 5, "Resource": "*"}]},
            ("identity.json", "Statement[0].Action"),
        ),
        (
            "dest-bucket-policy.json",
            {
                "Version": "2012-10-17",
                "Statement": {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": None,
                },
            },
            ("dest-bucket-policy.json", "Statement.Condition"),
        ),
        (
            "source-key-policies.json",
            {SRC_KEY: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": 7}]}},
            ("source-key-policies.json", "Statement[0].Principal"),
        ),
    ],
)
def test_verify_policies_dir_with_malformed_documents(
    capsys: pytest.CaptureFixture[str],
    endpoint: list[bytes],
    tmp_path: Path,
    file: str,
    content: Any,
    names: tuple[str, ...],
) -> None:
    config = write_config(tmp_path / "t.yaml", spec_data())
    assert main(["plan", "--config", config, "--out", str(tmp_path / "p")]) == 0
    (tmp_path / "p" / file).write_text(json.dumps(content))
    capsys.readouterr()
    expect_usage_error(
        capsys,
        endpoint,
        "verify",
        "--config",
        config,
        "--policies-dir",
        str(tmp_path / "p"),
        "--json",
        names=names,
    )


def test_plan_out_and_backup_dir_under_a_file(
    capsys: pytest.CaptureFixture[str], endpoint: list[bytes], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "t.yaml", spec_data())
    (tmp_path / "a-file").write_text("")
    expect_usage_error(
        capsys,
        endpoint,
        "plan",
        "--config",
        config,
        "--out",
        str(tmp_path / "a-file" / "p"),
        "--json",
        names=("--out",),
    )
    expect_usage_error(
        capsys,
        endpoint,
        *("apply", "--config", config, "--backup-dir", str(tmp_path / "a-file" / "bk"), "--json"),
        names=("a-file",),
    )


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ({"region": "us-east-7", "kms_key_arns": []}, ("source.region", "us-east-7")),
        ({"kms_key_arns": ["arn:aws:kms:eu-fake-1:111111111111:key/k"]}, ("eu-fake-1", "not a region")),
        ({"prefix": "data/*"}, ("source.prefix", "'*'")),
        ({"prefix": "logs/${aws:username}/"}, ("source.prefix", "'${'")),
        ({"prefix": "a?c/"}, ("source.prefix", "'?'")),
    ],
)
def test_spec_values_that_would_fail_later_or_widen_the_policies(
    capsys: pytest.CaptureFixture[str],
    endpoint: list[bytes],
    tmp_path: Path,
    source: dict[str, Any],
    names: tuple[str, ...],
) -> None:
    config = write_config(tmp_path / "t.yaml", spec_data(**source))
    for command in ("plan", "verify", "apply"):
        expect_usage_error(capsys, endpoint, command, "--config", config, "--json", names=names)


def test_options_take_only_real_booleans(
    capsys: pytest.CaptureFixture[str], endpoint: list[bytes], tmp_path: Path
) -> None:
    data = spec_data()
    data["options"] = {"mode": "sync", "delete": "yes"}
    config = write_config(tmp_path / "t.yaml", data)
    expect_usage_error(
        capsys, endpoint, "apply", "--config", config, "--json", names=("options.delete", "'yes'")
    )
    (tmp_path / "yaml-yes.yaml").write_text(
        yaml.safe_dump(spec_data()) + "options: {mode: sync, delete: yes}\n"
    )
    code, files, _ = run(capsys, "plan", "--config", str(tmp_path / "yaml-yes.yaml"), "--json")
    assert code == 0 and "s3:DeleteObject" in json.dumps(
        files["identity.json"]
    )  # YAML's own yes is a boolean


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (
            ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--role-arn", "not-an-arn"],
            ("--role-arn", "not-an-arn"),
        ),
        (
            [
                "copy",
                "s3://src-bucket/a",
                "s3://dst-bucket/b",
                "--role-arn",
                f"arn:aws:iam::{DST}:user/sync_user",
            ],
            ("--role-arn",),
        ),
        (
            ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--external-id", "abc123"],
            ("--external-id", "--role-arn"),
        ),
        (
            ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--region", "us-east-7"],
            ("--region", "us-east-7"),
        ),
        (
            ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--dest-region", "mars-north-1"],
            ("--dest-region",),
        ),
        (
            ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--list-concurrency", "0"],
            ("list_concurrency",),
        ),
        (["probe-kms", DST_KEY, "--role-arn", "arn:aws:iam::1:role/x"], ("--role-arn",)),
        (["check", "s3://src-bucket/a", "s3://dst-bucket/b", "--region", "eu-west-9"], ("--region",)),
        (["check", "s3://src-bucket/a", "s3://dst-bucket/b", "--external-id", "abc123"], ("--external-id",)),
        (["probe-kms", DST_KEY, "--bucket-region", "us-east-7"], ("--bucket-region",)),
        (["verify", "--config", "CONFIG", "--source-admin-role-arn", "admin"], ("--source-admin-role-arn",)),
        (["apply", "--config", "CONFIG", "--dest-admin-role-arn", "admin"], ("--dest-admin-role-arn",)),
        (["apply", "--config", "CONFIG", "--dest-admin-profile", "no-such-profile"], ("no-such-profile",)),
        (["verify", "--config", "CONFIG", "--source-admin-profile", "no-such-profile"], ("no-such-profile",)),
        (
            ["probe-kms", DST_KEY, "--operations", "generate-data-key", "--profile", "no-such-profile"],
            ("no-such-profile",),
        ),
    ],
)
def test_credential_flags(
    capsys: pytest.CaptureFixture[str],
    endpoint: list[bytes],
    tmp_path: Path,
    argv: list[str],
    names: tuple[str, ...],
) -> None:
    config = write_config(tmp_path / "t.yaml", spec_data())
    argv = [config if a == "CONFIG" else a for a in argv]
    expect_usage_error(capsys, endpoint, *argv, "--json", names=names)


@pytest.mark.parametrize(
    "argv",
    [
        ["copy", "s3://src-bucket/a"],  # a missing positional
        ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--mode", "mirror"],  # a bad choice
        ["copy", "s3://src-bucket/a", "s3://dst-bucket/b", "--concurrency", "many"],  # a bad int
        ["probe-kms"],
        ["check", "s3://src-bucket/a"],
        ["check", "s3://src-bucket/a", "s3://dst-bucket/b", "--sample", "several"],  # a bad int
        ["plan"],
        ["verify", "--config", "t.yaml", "--no-such-flag"],
        ["apply"],
        ["no-such-command"],
    ],
)
def test_argparse_errors_print_a_json_line(
    capsys: pytest.CaptureFixture[str], endpoint: list[bytes], argv: list[str]
) -> None:
    code, line, err = run(capsys, *argv, "--json")
    assert code == 2 and line["error"] and "usage:" in err
    assert endpoint == []


def test_without_json_argparse_errors_stay_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "the following arguments are required: --config" in err


@pytest.mark.parametrize("key", [123, 1.5, ["arn:aws:kms:us-east-1:222222222222:key/k"], {"arn": "x"}])
def test_copy_spec_refuses_a_non_string_kms_key_id(key: Any) -> None:
    with pytest.raises(InvalidInputError) as raised:
        CopySpec.create(source="s3://src-bucket/a", destination="s3://dst-bucket/b", dest_kms_key_id=key)
    assert raised.value.field == "dest_kms_key_id"
