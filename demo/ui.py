"""``make ui``: the same local stack with ``airflow standalone``, to open the UI and trigger DAGs.

Open http://127.0.0.1:8080 (the login and password are printed by ``airflow standalone`` and kept
in .demo/ui/simple_auth_manager_passwords.json.generated). Ctrl-C stops Airflow and the moto server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from demo import stack
from demo.airflow_env import DEMO_HOME, airflow_env, apply_permissions


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything the same way Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    home = DEMO_HOME / "ui"
    home.mkdir(parents=True, exist_ok=True)
    with stack.moto_server() as endpoint:
        accounts = stack.seed(endpoint)
        env = airflow_env(accounts, home)
        env["AIRFLOW__API__PORT"] = env.get("S3XACCT_UI_PORT", "8080")
        apply_permissions(accounts, env, DEMO_HOME)
        print(f"moto server on {endpoint}; two demo accounts seeded and permissions applied")
        print("starting airflow standalone (Ctrl-C to stop)")
        proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
