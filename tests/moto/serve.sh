#!/bin/sh
# Runs the moto S3 server on 127.0.0.1:PORT until the process that started this script exits
# (the test binary), so that no server outlives the tests, whatever way they end.
#
#   tests/moto/serve.sh MOTO_SERVER PORT
set -eu
parent=$PPID
"$1" -H 127.0.0.1 -p "$2" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
    sleep 1
done
