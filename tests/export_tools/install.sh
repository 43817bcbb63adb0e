#!/usr/bin/env bash
# Installs the readers that check gtform's exports (PyPI: pycocotools, globox, motmetrics, pinned
# in requirements.txt and constraints.txt) into a virtual environment, unless it is already
# there. tests/it/export_tools.rs runs this; .ci/run runs it before the tests. Safe to run
# concurrently.
#
#   tests/export_tools/install.sh [VENV_DIR]        (default: target/export-tools-venv)
#
# Prints the path of the environment's python.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/target/export-tools-venv}"
requirements="$here/requirements.txt"
constraints="$here/constraints.txt"
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
echo "$venv/bin/python"
