#!/usr/bin/env bash
# Debian packages the end-to-end tests run for real: Chromium (the browser test of the manual DAG's
# form), Redis and PostgreSQL (the CeleryExecutor scale-out test). Installed only when missing, so
# a machine that has them spends no time here; a machine without apt (or root) is told what to do.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "system-deps: please install ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "system-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
