#!/usr/bin/env bash
# Installs the workflow linters (zizmor, actionlint, shellcheck: PyPI packages pinned with their
# hashes in requirements.txt) into a virtual environment for the lint test, unless they are
# already there. The test support code runs this when they are missing, and .ci/run runs it before
# the tests. Safe to run concurrently.
#
#   tests/lint/install.sh [VENV_DIR]        (default: target/lint-venv)
#
# Prints the directory holding the `zizmor`, `actionlint` and `shellcheck` executables.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/target/lint-venv}"
requirements="$here/requirements.txt"
# The marker names the pins' digest, so a changed pin reinstalls.
digest="$(sha256sum "$requirements" | cut -c1-16)"
marker="$venv/.installed-$digest"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -e "$marker" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --require-hashes --requirement "$requirements" >&2
    touch "$marker"
fi
echo "$venv/bin"
