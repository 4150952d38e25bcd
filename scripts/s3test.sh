#!/usr/bin/env bash
# Run a command beside a throwaway S3-compatible server (moto's standalone server), then
# stop it and delete its files.
#
#   scripts/s3test.sh run CMD [ARGS...]
#
# The server is its own process, listening on 127.0.0.1 on a free port, speaking the S3
# API over real HTTP; it keeps its buckets in memory. CMD sees its address in
# SAFEGUARD_TEST_S3_ENDPOINT (the tests give their own processes throwaway credentials;
# none are exported here). moto comes with the project's `dev` extra: the venv's
# Python is used when there is one. Exit status is CMD's. If no server can be had, CMD
# still runs without SAFEGUARD_TEST_S3_ENDPOINT (and the tests that need it fail when
# SAFEGUARD_REQUIRE_S3=1, else skip).
set -euo pipefail

[ "${1:-}" = run ] && shift || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }

here=$(cd "$(dirname "$0")/.." && pwd)
python=""
for candidate in "$here/.venv/bin/python" python3; do
    if "$candidate" -c 'import moto.server' >/dev/null 2>&1; then python=$candidate; break; fi
done
if [ -z "$python" ]; then
    echo "s3test: moto[server] is not installed (make install); running without an S3 server" >&2
    exec "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/safeguard-s3test.XXXXXX")
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m moto.server -H 127.0.0.1 -p "$port" >"$tmp/server.log" 2>&1 &
server=$!

cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
    if "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "s3test: the server did not start; running without it" >&2; server=""; break; }
    sleep 0.1
done

if [ -n "$server" ]; then
    echo "s3test: moto S3 server on 127.0.0.1:$port" >&2
    export SAFEGUARD_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
fi
set +e
"$@"
status=$?
set -e
exit $status
