"""A distributed Airflow on one machine: CeleryExecutor, PostgreSQL, Redis, several named workers.

The topology of ``docker-compose.yaml`` (PostgreSQL metadata DB, Redis broker, scheduler,
dag-processor, api-server with the execution API, Celery workers), started from Debian's
packages on loopback instead of containers, with the moto accounts of the local stack behind
``demo.counting_server`` (requests counted per copied key). The CeleryExecutor test runs it;
every process is stopped on exit, also when the body fails.

Worker names: every worker here runs on the same host, so ``[core] hostname_callable`` points at
``worker_hostname`` and each worker gets its own name: the task instances then show which worker
ran them, as distinct machines would.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from demo import processes, stack
from demo.airflow_env import REPO, airflow_env, airflow_not_ready, api_session, apply_permissions

WORKER_NAME_ENV = "S3XACCT_WORKER_NAME"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


def worker_hostname() -> str:
    """The worker's name when the stack gave it one, else the machine's (``hostname_callable``)."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/system-deps.sh")
    return Path(found[-1]).parent


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres(home: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields the SQLAlchemy URL."""
    bin_dir = _postgres_bin()
    # Its own directory outside ``home``: as root, the cluster runs as `postgres`, which may not
    # enter the caller's private temporary folders (pytest's are mode 0700).
    data = Path(tempfile.mkdtemp(prefix="s3xacct-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "-A", "trust", "--no-sync"]
    done = subprocess.run(_as_postgres(initdb), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
    port = stack.free_port()
    with (home / "postgres.log").open("wb") as log:
        proc = processes.start(
            _as_postgres(
                [
                    str(bin_dir / "postgres"),
                    *("-D", str(data), "-p", str(port), "-k", str(data)),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300"),
                ]
            ),
            output=log,
        )
    try:
        address = ["-h", "127.0.0.1", "-p", str(port)]

        def not_ready() -> str | None:
            check = subprocess.run([str(bin_dir / "pg_isready"), *address], capture_output=True, text=True)
            return check.stdout.strip() or "not accepting connections" if check.returncode else None

        processes.wait_until("PostgreSQL", not_ready, {"postgres": proc}, 60)
        subprocess.run(
            [str(bin_dir / "createdb"), *address, "-U", "airflow", "airflow"], check=True, capture_output=True
        )
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        processes.stop(proc)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def redis(home: Path) -> Iterator[str]:
    """A Redis server on a free loopback port, nothing persisted; yields the broker URL."""
    port = stack.free_port()
    with (home / "redis.log").open("wb") as log:
        proc = processes.start(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            output=log,
        )
    try:
        processes.wait_until(
            "Redis",
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(),
            {"redis": proc},
            30,
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        processes.stop(proc)


@dataclass
class CeleryStack:
    url: str
    home: Path
    accounts: stack.DemoAccounts
    env: dict[str, str]
    components: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _api: requests.Session | None = field(default=None, repr=False)

    def api(self) -> requests.Session:
        """A REST API session with a token for the admin user (one token, reused by every poll)."""
        if self._api is None:
            self._api = api_session(self.url, self.home)
        return self._api

    def counts(self, what: str = "stats") -> dict[str, int]:
        """The counting server's S3 request counts (``stats``, ``copies`` or ``reset``)."""
        response = requests.get(f"{self.accounts.endpoint_url}/__bench__/{what}", timeout=10)
        return dict(response.json())

    def set_s3_delay(self, seconds: float) -> None:
        requests.get(f"{self.accounts.endpoint_url}/__bench__/delay?seconds={seconds}", timeout=10)

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker and every process it forked, as a machine that dies would."""
        processes.stop(self.components[name], grace=0)


def _component(
    stack_: CeleryStack, name: str, args: list[str], extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**stack_.env, **(extra_env or {})}
    with (stack_.home / f"{name}.log").open("wb") as log:
        proc = processes.start([str(Path(sys.executable).with_name("airflow")), *args], env, log)
    stack_.components[name] = proc
    return proc


def _not_ready(ui: CeleryStack, workers: tuple[str, ...]) -> str | None:
    problem = airflow_not_ready(
        ui.url, ui.home, ("metadatabase", "scheduler", "dag_processor"), "s3xacct_sharded_sync"
    )
    if problem:
        return problem
    # Every worker answers a Celery ping through the broker: it consumes tasks.
    ping = subprocess.run(
        [
            str(Path(sys.executable).with_name("celery")),
            "--app",
            CELERY_APP,
            "inspect",
            "ping",
            "--timeout",
            "3",
        ],
        env=ui.env,
        capture_output=True,
        text=True,
    )
    silent = [w for w in workers if not re.search(rf"{re.escape(w)}@\S+: OK", ping.stdout)]
    return f"no Celery ping answer from {', '.join(silent)}" if silent else None


@contextlib.contextmanager
def celery_stack(
    home: Path,
    workers: tuple[str, ...] = ("worker-1", "worker-2"),
    *,
    objects: int = 300,
    worker_concurrency: int = 2,
    heartbeat_timeout: int = 20,
    retry_delay: int = 3,
) -> Iterator[CeleryStack]:
    """Everything up and the sharded DAG parsed; ``heartbeat_timeout`` (seconds) is how soon a dead
    worker's task instances are failed and retried, after ``retry_delay`` seconds."""
    home.mkdir(parents=True, exist_ok=True)
    with (
        postgres(home) as database,
        redis(home) as broker,
        stack.moto_server(counting=True) as endpoint,
    ):
        accounts = stack.seed(endpoint, objects=objects)
        api_port = stack.free_port()
        env = airflow_env(accounts, home)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database.replace("+psycopg2", ""),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "demo.celery_stack.worker_hostname",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__API_AUTH__JWT_SECRET": "s3xacct-local-celery-stack-" + "x" * 40,
                "AIRFLOW__API__SECRET_KEY": "s3xacct-local-celery-stack",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(heartbeat_timeout),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "S3XACCT_RETRY_DELAY_SECONDS": str(retry_delay),
                # worker_hostname lives in this repository's demo package.
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            }
        )
        apply_permissions(accounts, env, home)
        ui = CeleryStack(f"http://127.0.0.1:{api_port}", home, accounts, env)
        try:
            subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                env=env,
                check=True,
                capture_output=True,
            )
            _component(ui, "api-server", ["api-server"])
            _component(ui, "scheduler", ["scheduler"])
            _component(ui, "dag-processor", ["dag-processor"])
            for name in workers:
                _component(
                    ui,
                    name,
                    ["celery", "worker", "--celery-hostname", f"{name}@%h"],
                    {
                        WORKER_NAME_ENV: name,
                        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(stack.free_port()),
                    },
                )
            processes.wait_until("the Celery stack", lambda: _not_ready(ui, workers), ui.components, 300)
            yield ui
        finally:
            for proc in reversed(ui.components.values()):  # workers first
                processes.stop(proc)
