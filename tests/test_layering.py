"""docs/design.md's layering: the core never imports Airflow (the CLI and other tools use it alone),
and the core's imports run one way (docs/design.md, "Where each AWS rule lives")."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_s3xacct"
CORE = ("aws", "transfer", "permissions", "kms", "diagnosis")
# The error table of every core exception (what the CLI and the Airflow layer read): it imports
# each package's exceptions, so it stands above the packages, whichever folder holds it. Only the
# package graph leaves it out; the module graph still checks it.
ABOVE_THE_PACKAGES = frozenset({"airflow_provider_s3xacct.diagnosis.failures"})


def test_core_modules_do_not_import_airflow() -> None:
    code = (
        "import sys, pkgutil, importlib, airflow_provider_s3xacct as p\n"
        f"for pkg in {CORE!r}:\n"
        "    mod = importlib.import_module(f'airflow_provider_s3xacct.{pkg}')\n"
        "    for info in pkgutil.iter_modules(mod.__path__):\n"
        "        importlib.import_module(f'airflow_provider_s3xacct.{pkg}.{info.name}')\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports, at any depth of the file (a function-level import is
    still a dependency), except under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("airflow_provider_s3xacct.")}


def _graph(level: int) -> dict[str, set[str]]:
    """Who imports whom among the core's modules, each name cut to ``level`` dotted parts
    (2: packages such as ``airflow_provider_s3xacct.transfer``; 3: modules)."""
    graph: dict[str, set[str]] = {}
    for pkg in CORE:
        for path in (PACKAGE / pkg).rglob("*.py"):
            module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            if level == 2 and module in ABOVE_THE_PACKAGES:
                continue
            node = ".".join(module.split(".")[:level])
            targets = {".".join(name.split(".")[:level]) for name in _imports(path)}
            graph.setdefault(node, set()).update(t for t in targets if t != node and t.split(".")[1] in CORE)
    return graph


def test_core_imports_are_acyclic() -> None:
    """Packages and modules of the core import one way: aws <- diagnosis <- transfer <- kms <-
    permissions. A cycle means a rule sits on the wrong side (it belongs in a lower package)."""
    for level in (2, 3):
        try:
            tuple(TopologicalSorter(_graph(level)).static_order())
        except CycleError as exc:
            raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from exc


def test_aws_rules_import_nothing_of_the_core() -> None:
    """aws/ is the neutral bottom layer that transfer/, permissions/ and kms/ all import."""
    graph = _graph(2)
    assert graph["airflow_provider_s3xacct.aws"] == set()
    for pkg in ("transfer", "permissions", "kms"):
        assert "airflow_provider_s3xacct.aws" in graph[f"airflow_provider_s3xacct.{pkg}"]
