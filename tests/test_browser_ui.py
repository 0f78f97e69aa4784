"""The manual DAG as a person uses it: the real Airflow UI in headless Chromium, against the local stack.

The stack is ``demo.ui.ui_stack`` (what ``make ui`` starts): a moto server with the two demo
accounts, permissions applied by ``s3xacct apply``, and ``airflow standalone`` (api-server,
scheduler, dag-processor, triggerer, SQLite) on free loopback ports. Screenshots go to
``artifacts/browser/``. Chromium is Debian's (``scripts/system-deps.sh`` installs it); Playwright
only drives it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from demo import stack
from demo.airflow_env import REPO
from demo.ui import UiStack, ui_stack

pytestmark = pytest.mark.e2e

DAG = "s3xacct_manual_copy"
CHROMIUM = os.environ.get("S3XACCT_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# sandbox refuses; the rest is what headless Chromium needs as root in a container.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "artifacts" / "browser"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (Debian's chromium package)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    home = tmp_path_factory.mktemp("airflow-ui")
    with (ARTIFACTS / "airflow-standalone.log").open("wb") as log, ui_stack(home, output=log) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(ui: UiStack, browser: Any) -> Iterator[Any]:
    """A signed-in page on the manual DAG, logged in through the login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    user, password = ui.login()
    page.goto(f"{ui.url}/dags/{DAG}")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{DAG}**")
    try:
        yield page
    finally:
        context.close()


def open_form(page: Any) -> Any:
    page.get_by_role("button", name="Trigger Dag").click()
    page.wait_for_selector("#element_source_uri")
    return page.get_by_role("dialog")


def fill_form(page: Any, *, source: str, dest: str, key: str, mode: str, dry_run: bool) -> None:
    page.fill("#element_source_uri", source)
    page.fill("#element_dest_uri", dest)
    page.fill("#element_kms_key_arn", key)
    page.get_by_role("combobox", name="Mode").click()
    page.get_by_role("option", name=mode, exact=True).click()
    dry = page.locator("input[name=element_dry_run]")
    if dry.is_checked() != dry_run:
        dry.locator("xpath=..").click()  # the switch's visible root; the checkbox itself is hidden
    assert dry.is_checked() == dry_run


def trigger_from_form(page: Any, ui: UiStack, *, dest: str, key: str, mode: str, shot: str = "") -> str:
    """Fill the form (the demo source, dry run off), press Trigger; the id of the run it started."""
    dialog = open_form(page)
    fill_form(
        page, source=f"s3://{stack.SOURCE_BUCKET}/exports/", dest=dest, key=key, mode=mode, dry_run=False
    )
    if shot:
        dialog.screenshot(path=str(ARTIFACTS / shot))
    return submit(page, ui, dialog)


def s3_of(accounts: stack.DemoAccounts, account: str) -> Any:
    return stack.session(accounts.endpoint_url, account).client("s3", endpoint_url=accounts.endpoint_url)


def runs(ui: UiStack) -> list[dict[str, Any]]:
    response = ui.api().get(f"{ui.url}/api/v2/dags/{DAG}/dagRuns", params={"order_by": "-run_after"})
    response.raise_for_status()
    return list(response.json()["dag_runs"])


def submit(page: Any, ui: UiStack, dialog: Any) -> str:
    """Press the form's Trigger and return the id of the run it started."""
    before = {r["dag_run_id"] for r in runs(ui)}
    dialog.get_by_role("button", name="Trigger").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [r["dag_run_id"] for r in runs(ui) if r["dag_run_id"] not in before]
        if new:
            return str(new[0])
        time.sleep(0.5)
    raise AssertionError("pressing Trigger started no run")


def follow(ui: UiStack, run_id: str, on_state: Any = None, timeout: float = 300) -> tuple[str, list[dict]]:
    """Poll the run until it ends; return its state and every distinct task-state snapshot seen."""
    api = ui.api()
    base = f"{ui.url}/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {t["task_id"]: t["state"] for t in api.get(f"{base}/taskInstances").json()["task_instances"]}
        if not seen or seen[-1] != states:
            seen.append(states)
            if on_state is not None:
                on_state(states)
        state = api.get(base).json()["state"]
        if state in ("success", "failed"):
            return state, seen
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s; task states seen: {seen}")


def test_a_malformed_source_uri_is_refused_by_the_form_and_starts_no_run(page: Any, ui: UiStack) -> None:
    before = runs(ui)
    dialog = open_form(page)
    page.fill("#element_source_uri", "vendor-exports/exports")  # no s3:// scheme
    dialog.get_by_role("button", name="Trigger").click()
    error = dialog.get_by_text("Invalid input for param source_uri")
    error.wait_for()
    page.screenshot(path=str(ARTIFACTS / "form-rejects-malformed-source.png"))
    assert "does not match" in dialog.inner_text()
    assert runs(ui) == before


def test_a_copy_triggered_from_the_form_waits_on_the_triggerer_and_copies_everything(
    page: Any, ui: UiStack
) -> None:
    accounts = ui.accounts
    run_id = trigger_from_form(
        page,
        ui,
        dest=f"s3://{stack.DEST_BUCKET}/from-the-ui/",
        key=accounts.dest_key_arn,
        mode="copy",
        shot="trigger-form.png",
    )

    graph_shot: list[bool] = []

    def snapshot_while_deferred(states: dict[str, Any]) -> None:
        if states.get("kms_access") == "deferred" and not graph_shot:
            page.goto(f"{ui.url}/dags/{DAG}/runs/{quote(run_id, safe='')}")
            page.get_by_role("button", name="Show Graph (Press g)").click()
            page.locator(".react-flow__node").filter(has_text="kms_access").wait_for()
            page.wait_for_timeout(500)  # the graph's layout settles after its nodes appear
            page.screenshot(path=str(ARTIFACTS / "running-graph.png"))
            graph_shot.append(True)

    state, seen = follow(ui, run_id, on_state=snapshot_while_deferred)
    assert state == "success", seen
    # The sensor's wait ran on the triggerer: the task instance was seen deferred, then resumed.
    assert any(s.get("kms_access") == "deferred" for s in seen), seen
    assert graph_shot

    page.goto(f"{ui.url}/dags/{DAG}/runs/{quote(run_id, safe='')}")
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "finished-run.png"))

    # The destination, read through boto3 as the destination account: every object at its size; a
    # spread sample byte for byte, encrypted under the key chosen in the form.
    source, dest = s3_of(accounts, stack.SOURCE_ACCOUNT), s3_of(accounts, stack.DEST_ACCOUNT)

    def sizes(client: Any, bucket: str, prefix: str) -> dict[str, int]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"][len(prefix) :]: o["Size"] for p in pages for o in p.get("Contents", [])}

    want = sizes(source, stack.SOURCE_BUCKET, "exports/")
    assert len(want) == accounts.total_objects
    assert sizes(dest, stack.DEST_BUCKET, "from-the-ui/") == want
    for rel in sorted(want)[:: max(1, len(want) // 10)]:
        head = dest.head_object(Bucket=stack.DEST_BUCKET, Key=f"from-the-ui/{rel}")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == accounts.dest_key_arn
        body = dest.get_object(Bucket=stack.DEST_BUCKET, Key=f"from-the-ui/{rel}")["Body"].read()
        assert body == source.get_object(Bucket=stack.SOURCE_BUCKET, Key=f"exports/{rel}")["Body"].read()


def test_a_key_the_principal_may_not_use_fails_the_run_with_the_diagnosis_in_the_task_log(
    page: Any, ui: UiStack
) -> None:
    accounts = ui.accounts
    run_id = trigger_from_form(
        page, ui, dest=f"s3://{stack.DEST_BUCKET}/never/", key=accounts.retired_key_arn, mode="sync"
    )
    state, seen = follow(ui, run_id)
    assert state == "failed"
    assert seen[-1] == {"kms_access": "failed", "copy": "upstream_failed"}, seen

    # What a person reads: the sensor's log in the UI names the key and the fix.
    page.goto(f"{ui.url}/dags/{DAG}/runs/{quote(run_id, safe='')}/tasks/kms_access")
    page.get_by_text("KMS access cannot be obtained by waiting").first.wait_for(timeout=60_000)
    log = page.get_by_text(f"{accounts.retired_key_arn}: the key is disabled").first
    log.wait_for()
    content = page.content()
    assert "enable it" in content and f"in account {stack.DEST_ACCOUNT}" in content
    page.screenshot(path=str(ARTIFACTS / "failed-run-diagnosis.png"))

    dest = s3_of(accounts, stack.DEST_ACCOUNT)
    assert dest.list_objects_v2(Bucket=stack.DEST_BUCKET, Prefix="never/")["KeyCount"] == 0
