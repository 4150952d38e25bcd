#!/usr/bin/env bash
# Run a command beside a throwaway PostgreSQL cluster, then stop and delete the cluster.
#
#   scripts/pgtest.sh run CMD [ARGS...]
#
# The cluster lives in a fresh temporary directory, listens on 127.0.0.1 on a free
# port, and requires a password (so the tests can try a wrong one). CMD sees its URL
# in SAFEGUARD_TEST_PG_URL. initdb refuses to run as root, so as root the cluster
# runs as the unprivileged `postgres` user. When the server binaries are missing and
# we are root, they are installed from the distribution's packages. Exit status is
# CMD's. If no server can be had, CMD still runs without SAFEGUARD_TEST_PG_URL (and
# the tests that need it fail when SAFEGUARD_REQUIRE_POSTGRES=1, else skip).
set -euo pipefail

[ "${1:-}" = run ] && shift || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }

find_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

install_server() {
    [ "$(id -u)" = 0 ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    echo "pgtest: installing the PostgreSQL server packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

bindir=$(find_bindir) || { install_server && bindir=$(find_bindir); } || bindir=""
if [ -z "$bindir" ]; then
    echo "pgtest: no PostgreSQL server binaries; running without a cluster" >&2
    exec "$@"
fi

as_owner=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    as_owner=(runuser -u postgres --)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/safeguard-pgtest.XXXXXX")
chmod 755 "$tmp"
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" > "$tmp/pwfile"
[ ${#as_owner[@]} -gt 0 ] && chown -R postgres "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"${as_owner[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres --pwfile="$tmp/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log" >&2; exit 1; }
rm -f "$tmp/pwfile"
"${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -w -t 60 -l "$tmp/server.log" \
    -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" start >/dev/null \
    || { cat "$tmp/server.log" >&2; exit 1; }

echo "pgtest: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
export SAFEGUARD_TEST_PG_URL="postgresql://postgres:$password@127.0.0.1:$port/postgres"
export SAFEGUARD_TEST_PG_BINDIR="$bindir"
set +e
"$@"
status=$?
set -e
exit $status
