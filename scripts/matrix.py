"""``make matrix``: the fast suite and one DAG run on every supported Airflow, each in its own uv venv.

One entry per supported Airflow minor at its newest patch release, plus the constraints Amazon
MWAA pins. For each entry:

1. a constraints file for that Airflow release: ``uv pip compile apache-airflow[amazon]==X.Y.Z``
   with ``--exclude-newer`` set to the day after the release, so every provider and library is the
   newest that existed when the release (and its ``constraints-X.Y.Z`` file) was cut. The official
   constraints files live on raw.githubusercontent.com, which this project's CI cannot reach; an
   entry's extra pins (the MWAA ones) are added to the same resolution;
2. a venv with ``uv``; this project installed into it (editable) under those constraints, plus
   the ``matrix`` extra (moto server, pytest, hypothesis) — no browser, no Celery;
3. the fast suite: ``pytest -m "not e2e and not slow"`` (``make test-fast``'s selection) without
   the browser and Celery modules;
4. one end-to-end run: ``python -m demo.run`` (what ``make demo`` does: the nightly DAG twice with
   ``airflow dags test`` against a moto stack).

Results (versions installed, pass/fail, seconds per step) go to ``.matrix/results.json`` and a
Markdown table on stdout. ``python -m scripts.matrix 2.11 3.3`` runs the named entries only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".matrix"
UV = os.environ.get("UV", str(REPO / ".venv-tools" / "bin" / "uv"))
PYTHON = os.environ.get("MATRIX_PYTHON", shutil.which("python3.11") or sys.executable)
LOG_TAIL = 80  # lines of a failing entry's log printed to the console (CI keeps only the console)

FAST_SUITE = [
    "-m",
    "pytest",
    "-q",
    "-x",
    "-p",
    "no:cacheprovider",
    "-m",
    "not e2e and not slow",
    "tests",
    "--ignore=tests/test_browser_ui.py",
    "--ignore=tests/test_celery_scale_out.py",
]
REPORTED = (
    "apache-airflow",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-common-compat",
    "boto3",
    "botocore",
    "aiobotocore",
)


@dataclass(frozen=True)
class Entry:
    """One environment of the matrix: an Airflow release and the day its constraints were cut."""

    name: str
    airflow: str
    cut: str  # --exclude-newer: nothing released after this day enters the constraints
    pins: tuple[str, ...] = field(default=())
    python: str = ""  # "3.12": that minor's interpreter (``_interpreter``); "" is PYTHON


ENTRIES = (
    Entry("2.11", "2.11.2", "2026-03-15"),
    Entry("3.0", "3.0.6", "2025-08-30"),
    Entry("3.1", "3.1.8", "2026-03-12"),
    Entry("3.2", "3.2.2", "2026-05-30"),
    Entry("3.3", "3.3.2", "2026-09-18"),
    # Amazon MWAA's Airflow 2.11.0 image installs with Airflow's constraints-2.11.0 file
    # (aws/amazon-mwaa-docker-images, images/airflow/2.11.0/etc/airflow_constraints.txt); its pins
    # of the packages this project depends on, the oldest this project supports.
    Entry(
        "mwaa-2.11.0",
        "2.11.0",
        "2025-05-20",
        (
            "apache-airflow-providers-amazon==9.8.0",
            "apache-airflow-providers-common-compat==1.7.0",
            "boto3==1.37.3",
            "botocore==1.37.3",
            "aiobotocore==2.22.0",
        ),
    ),
    # Amazon MWAA's Airflow 3.0.6 image: Python 3.12 and Airflow's constraints-3.0.6/constraints-3.12.txt
    # (aws/amazon-mwaa-docker-images, images/airflow/3.0.6/etc/airflow_constraints.txt, commit
    # 495e82ae); its pins of the packages this project depends on.
    Entry(
        "mwaa-3.0.6",
        "3.0.6",
        "2025-08-30",
        (
            "apache-airflow-providers-amazon==9.12.0",
            "apache-airflow-providers-common-compat==1.7.3",
            "boto3==1.39.11",
            "botocore==1.39.11",
            "aiobotocore==2.24.1",
        ),
        python="3.12",
    ),
)


def _interpreter(minor: str) -> str:
    """The interpreter of a Python minor: ``pythonX.Y`` on PATH, else pyenv's newest X.Y.

    uv's own managed Pythons download from GitHub, which this project's machines cannot reach.
    """
    found = shutil.which(f"python{minor}")
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
        return found
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    candidates = sorted(Path(root or "/nonexistent", "versions").glob(f"{minor}.*/bin/python{minor}"))
    if not candidates:
        raise SystemExit(f"matrix: no Python {minor} (python{minor} on PATH or pyenv's) for this entry")
    return str(candidates[-1])


def _run(args: list[str], env: dict[str, str], log: Path) -> tuple[bool, float]:
    """Run ``args`` with its output appended to ``log``; (succeeded, seconds)."""
    start = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        code = subprocess.run(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    return code.returncode == 0, round(time.monotonic() - start, 1)


def _installed(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform, sys\n"
        "print(json.dumps({'python': platform.python_version(), **{n: m.version(n) for n in sys.argv[1:]}}))\n"
    )
    out = subprocess.run([str(python), "-c", code, *REPORTED], capture_output=True, text=True, check=False)
    return dict(json.loads(out.stdout)) if out.returncode == 0 else {}


def run_entry(entry: Entry, *, e2e: bool, extra: list[str], suite: bool = True) -> dict[str, object]:
    """Build the entry's venv and run its checks; a step that fails stops the entry."""
    base = WORK / entry.name
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    log = base / "log.txt"
    venv = base / "venv"
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "AIRFLOW_HOME": str(base / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    result: dict[str, object] = {
        "entry": entry.name,
        "airflow": entry.airflow,
        "cut": entry.cut,
        "with": extra,
    }
    interpreter = _interpreter(entry.python) if entry.python else PYTHON
    constraints = base / "constraints.txt"
    wanted = base / "constraints.in"
    # The aiobotocore extra is ours (the deferrable sensor's trigger); Airflow's own constraints pin
    # aiobotocore too, with a botocore it accepts.
    requirements = (
        f"apache-airflow[amazon]=={entry.airflow}",
        "apache-airflow-providers-amazon[aiobotocore]",
    )
    wanted.write_text("\n".join((*requirements, *entry.pins, *extra)) + "\n")
    steps: list[tuple[str, list[str]]] = [
        (
            "constraints",
            [
                UV,
                "pip",
                "compile",
                "-q",
                "--python",
                interpreter,
                "--exclude-newer",
                entry.cut,
                "-o",
                str(constraints),
                str(wanted),
            ],
        ),
        ("venv", [UV, "venv", "-q", "--python", interpreter, str(venv)]),
        (
            "install",
            [
                UV,
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                "-c",
                str(constraints),
                f"apache-airflow=={entry.airflow}",
                "-e",
                f"{REPO}[matrix]",
                *extra,
            ],
        ),
    ]
    if suite:
        steps.append(("fast_suite", [str(python), *FAST_SUITE]))
    if e2e:
        steps.append(("dag_run", [str(python), "-m", "demo.run"]))
    ok = True
    for name, args in steps:
        ok, seconds = _run(args, env, log)
        result[f"{name}_s"] = seconds
        if name == "install":
            result["versions"] = _installed(python)
        if not ok:
            result["failed_step"] = name
            break
    result["ok"] = ok
    return result  # the venv stays for a closer look (`make clean` removes .matrix/)


def table(results: list[dict[str, object]]) -> str:
    rows = [
        "| entry | Python | Airflow | amazon | common-compat | boto3 | result | install s | fast suite s | DAG run s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.get("versions") or {}
        assert isinstance(v, dict)
        verdict = "pass" if r["ok"] else f"FAIL ({r.get('failed_step')})"
        rows.append(
            f"| {r['entry']} | {v.get('python', '-')} | {v.get('apache-airflow', r['airflow'])} | "
            f"{v.get('apache-airflow-providers-amazon', '-')} | "
            f"{v.get('apache-airflow-providers-common-compat', '-')} | {v.get('boto3', '-')} | {verdict} | "
            f"{r.get('install_s', '-')} | {r.get('fast_suite_s', '-')} | {r.get('dag_run_s', '-')} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "entries", nargs="*", help=f"entries to run (default: all of {[e.name for e in ENTRIES]})"
    )
    parser.add_argument("--no-dag-run", action="store_true", help="skip the end-to-end DAG run")
    parser.add_argument(
        "--no-fast-suite",
        action="store_true",
        help="skip the fast suite (install and DAG run only: a quick check of a demo or DAG change)",
    )
    parser.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="REQ",
        help="an extra requirement for every venv (e.g. to try a provider release); recorded in the results",
    )
    args = parser.parse_args(argv)
    known = {e.name: e for e in ENTRIES}
    unknown = [n for n in args.entries if n not in known]
    if unknown:
        parser.error(f"unknown entries {unknown}; choose from {sorted(known)}")
    chosen = [known[n] for n in args.entries] if args.entries else list(ENTRIES)
    WORK.mkdir(exist_ok=True)
    store = WORK / "results.json"
    results = []
    for entry in chosen:
        print(f"matrix {entry.name}: Airflow {entry.airflow}, constraints as of {entry.cut} ...", flush=True)
        r = run_entry(entry, e2e=not args.no_dag_run, extra=args.extra, suite=not args.no_fast_suite)
        print(
            f"matrix {entry.name}: {'pass' if r['ok'] else 'FAIL, see ' + str(WORK / entry.name / 'log.txt')}",
            flush=True,
        )
        if not r["ok"]:
            # CI keeps only what is printed: the failing step's last lines name the failure.
            tail = (WORK / entry.name / "log.txt").read_text(errors="replace").splitlines()[-LOG_TAIL:]
            print("\n".join(f"  | {line}" for line in tail), flush=True)
        latest = json.loads(store.read_text()) if store.exists() else {}  # another run may have written
        latest[entry.name] = r
        store.write_text(json.dumps(latest, indent=2))
        results.append(r)
    print(table(results))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
