"""``make ui``: the same local stack with ``airflow standalone``, to open the UI and trigger DAGs.

Open http://127.0.0.1:8080 (the login and password are printed by ``airflow standalone`` and kept
in .demo/ui/simple_auth_manager_passwords.json.generated). Ctrl-C stops Airflow and the moto server.

``ui_stack`` is also what the browser test starts, so the test sees what a person sees.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from demo import processes, stack
from demo.airflow_env import (
    DEMO_HOME,
    admin_login,
    airflow_env,
    airflow_not_ready,
    api_session,
    apply_permissions,
)

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


@dataclass
class UiStack:
    url: str
    home: Path
    accounts: stack.DemoAccounts
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    _api: requests.Session | None = field(default=None, repr=False)

    def login(self) -> tuple[str, str]:
        """The admin user and the password ``airflow standalone`` generated for it."""
        return admin_login(self.home)

    def api(self) -> requests.Session:
        """A REST API session with a token for the admin user (one token, reused by every poll)."""
        if self._api is None:
            self._api = api_session(self.url, self.home)
        return self._api


@contextlib.contextmanager
def ui_stack(
    home: Path, port: int | None = None, *, output: IO[bytes] | None = None, ready_timeout: float = 300
) -> Iterator[UiStack]:
    """The moto server with both demo accounts, permissions applied, and ``airflow standalone``.

    Every listening port is on loopback and free (the API on ``port`` when given); everything
    started here is stopped on exit, also when the body fails.
    """
    home.mkdir(parents=True, exist_ok=True)
    with stack.moto_server() as endpoint:
        accounts = stack.seed(endpoint)
        env = airflow_env(accounts, home)
        api_port = port or stack.free_port()
        env.update(
            {
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(stack.free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(stack.free_port()),
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            }
        )
        apply_permissions(accounts, env, home)
        process = processes.start([str(Path(sys.executable).with_name("airflow")), "standalone"], env, output)
        ui = UiStack(f"http://127.0.0.1:{api_port}", home, accounts, env, process)
        try:
            processes.wait_until(
                "airflow standalone",
                lambda: airflow_not_ready(ui.url, home, COMPONENTS, "s3xacct_manual_copy"),
                {"airflow standalone": process},
                ready_timeout,
            )
            yield ui
        finally:
            processes.stop(process)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything the same way Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    port = int(os.environ.get("S3XACCT_UI_PORT", "8080"))
    print("starting the moto server, seeding two demo accounts, applying permissions, airflow standalone")
    with ui_stack(DEMO_HOME / "ui", port) as ui:
        user, password = ui.login()
        print(f"\nAirflow is ready: {ui.url}  (user {user!r}, password {password!r})")
        print(f"disabled destination key, to see a failing run: {ui.accounts.retired_key_arn}")
        print("Ctrl-C stops Airflow and the moto server")
        try:
            return ui.process.wait()
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
