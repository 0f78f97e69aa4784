"""The installed package is the provider, not the demo: no demo accounts, no environment read at import.

The example DAGs' settings (connection ids, schedule, the demo Asset) live in dags/s3xacct_settings.py,
which the DAG folder's .airflowignore keeps from being parsed as a DAG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_s3xacct"
# The local stack's accounts and buckets (demo/stack.py): demo facts, not provider facts.
DEMO_FACTS = ("111111111111", "222222222222", "vendor-exports", "analytics-landing")

# Imports every module of the package with os.environ replaced by a mapping that records the
# reads made from the package's own files (Airflow and other libraries read theirs; not ours).
_IMPORT_ALL = """
import importlib, json, os, pkgutil, sys

class Recording(dict):
    reads = []
    def _note(self, key):
        caller = sys._getframe(2).f_code.co_filename
        if "airflow_provider_s3xacct" in caller:
            Recording.reads.append(f"{caller}: {key}")
    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)
    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

os.environ = Recording(os.environ)
import airflow_provider_s3xacct as package
modules = []
for info in pkgutil.walk_packages(package.__path__, "airflow_provider_s3xacct."):
    if info.name.endswith(".__main__"):  # runs the CLI: `python -m`, not an import
        continue
    importlib.import_module(info.name)
    modules.append(info.name)
print(json.dumps({"modules": modules, "reads": Recording.reads}))
"""


def test_importing_every_module_reads_no_environment(tmp_path: Path) -> None:
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "PYTHONPATH": str(PACKAGE.parent),
    }
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL], env=clean, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert "airflow_provider_s3xacct.task_groups" in found["modules"]  # every module was imported
    assert "airflow_provider_s3xacct.example_settings" not in found["modules"]
    assert found["reads"] == []


def test_the_package_carries_no_demo_accounts_or_buckets() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {fact}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for fact in DEMO_FACTS
        if fact in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
