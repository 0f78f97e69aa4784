#!/usr/bin/env bash
# Issue 16: `s3xacct plan` and `s3xacct verify` in a fresh virtualenv of Python $1 (3.12 or 3.13)
# with setuptools >= 82 (which ships no pkg_resources), installed from this checkout as a user would
# (`pip install .`, every declared dependency). Uses uv when it is on PATH (faster resolution), pip
# otherwise. The interpreter: pythonX.Y on PATH, or pyenv's X.Y; set PY=/path/to/python to choose.
set -euo pipefail
cd "$(dirname "$0")/.."
minor=${1:?usage: check-python.sh 3.12|3.13}
venv=${VENV:-.venv-py${minor/./}}
py=${PY:-}
if [ -z "$py" ]; then
    for candidate in "python$minor" "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$minor".*/bin/"python$minor"; do
        if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$minor'.split('.')))" 2>/dev/null; then
            py=$candidate
            break
        fi
    done
fi
[ -n "$py" ] || { echo "check-python: no Python $minor interpreter (python$minor or pyenv's); set PY" >&2; exit 1; }
rm -rf "$venv"
if command -v uv >/dev/null; then
    uv venv -q -p "$py" "$venv"
    VIRTUAL_ENV=$venv uv pip install -q 'setuptools>=82' .
else
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq --upgrade pip 'setuptools>=82'
    "$venv/bin/python" -m pip install -qq .
fi
MINOR=$minor "$venv/bin/python" - <<'PY'
import importlib.metadata as md, importlib.util, os, sys
setuptools = md.version("setuptools")
assert "%d.%d" % sys.version_info[:2] == os.environ["MINOR"], sys.version
assert int(setuptools.split(".")[0]) >= 82, setuptools
assert importlib.util.find_spec("pkg_resources") is None, "setuptools still ships pkg_resources"
print(f"Python {sys.version.split()[0]}, setuptools {setuptools}, no pkg_resources")
PY
bin=$(cd "$venv/bin" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/transfer.yaml" <<'YAML'
source: {account_id: "111111111111", bucket: src-bucket, prefix: "data/", region: us-east-1,
         kms_key_arns: ["arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"]}
destination: {account_id: "222222222222", bucket: dst-bucket, region: us-east-1,
              kms_key_arn: "arn:aws:kms:us-east-1:222222222222:key/2222bbbb-2222-bbbb-2222-bbbb2222bbbb"}
principal_arn: arn:aws:iam::222222222222:user/sync_user
YAML
# Outside the checkout, so the installed package (not the source tree) is what runs.
(cd "$work" && "$bin/s3xacct" plan --config transfer.yaml --out policies)
(cd "$work" && "$bin/s3xacct" verify --config transfer.yaml --policies-dir policies --json > verify.json)
"$venv/bin/python" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["ok"] and not r["lint"], r; print("verify ok, no lint findings")' "$work/verify.json"
