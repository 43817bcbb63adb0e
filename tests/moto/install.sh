#!/usr/bin/env bash
# Installs the moto S3 server (PyPI `moto[server]`, pinned in requirements.txt) into a virtual
# environment for the S3 tests, unless it is already there. The test support code runs this when
# the server is missing, and .ci/run runs it before the tests. Safe to run concurrently.
#
#   tests/moto/install.sh [VENV_DIR]        (default: target/moto-venv)
#
# Prints the path of the `moto_server` executable.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/target/moto-venv}"
requirements="$here/requirements.txt"
constraints="$here/constraints.txt"
# The marker names the pins' digest, so a changed pin reinstalls.
digest="$(cat "$requirements" "$constraints" | sha256sum | cut -c1-16)"
marker="$venv/.installed-$digest"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -e "$marker" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --requirement "$requirements" --constraint "$constraints" >&2
    touch "$marker"
fi
echo "$venv/bin/moto_server"
