"""docs/design.md's layering: the core never imports Airflow (the CLI and other tools use it alone)."""

from __future__ import annotations

import subprocess
import sys


def test_core_modules_do_not_import_airflow() -> None:
    code = (
        "import sys, pkgutil, importlib, airflow_provider_s3xacct as p\n"
        "for pkg in ('transfer', 'permissions', 'kms', 'diagnosis'):\n"
        "    mod = importlib.import_module(f'airflow_provider_s3xacct.{pkg}')\n"
        "    for info in pkgutil.iter_modules(mod.__path__):\n"
        "        importlib.import_module(f'airflow_provider_s3xacct.{pkg}.{info.name}')\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
