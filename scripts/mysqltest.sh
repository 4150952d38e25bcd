#!/usr/bin/env bash
# Run a command beside a throwaway MariaDB (or MySQL) server, then stop it and delete it.
#
#   scripts/mysqltest.sh run CMD [ARGS...]
#
# The server's data directory lives in a fresh temporary directory; it listens on
# 127.0.0.1 on a free port (and on a socket of its own there), and runs as the
# unprivileged `mysql` user when we are root (never as root). A password-protected
# user that may create databases is made for the tests; CMD sees its URL in
# SAFEGUARD_TEST_MYSQL_URL (mysql+pymysql://...). When the server is missing and we
# are root, Debian's mariadb-server and mariadb-client packages are installed. Exit
# status is CMD's. If no server can be had, CMD still runs without the URL (and the
# tests that need it fail when SAFEGUARD_REQUIRE_MYSQL=1, else skip).
set -euo pipefail

[ "${1:-}" = run ] && shift || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }

find_server() {
    local name
    for name in mariadbd mysqld; do
        for d in /usr/sbin /usr/local/sbin /usr/libexec; do
            [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
        done
        command -v "$name" 2>/dev/null && return 0
    done
    return 1
}

find_tool() {
    local name
    for name in "$@"; do command -v "$name" 2>/dev/null && return 0; done
    return 1
}

install_server() {
    [ "$(id -u)" = 0 ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    echo "mysqltest: installing the MariaDB server packages" >&2
    # policy-rc.d: the package must not start (or leave running) a system-wide server.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null
    local status=$?
    [ -n "$made_policy" ] && rm -f "$policy"
    return $status
}

server=$(find_server) || { install_server && server=$(find_server); } || server=""
install_db=$(find_tool mariadb-install-db mysql_install_db) || install_db=""
client=$(find_tool mariadb mysql) || client=""
if [ -z "$server" ] || [ -z "$install_db" ] || [ -z "$client" ]; then
    echo "mysqltest: no MariaDB/MySQL server; running without one" >&2
    exec "$@"
fi

as_owner=()
user_opt=()
if [ "$(id -u)" = 0 ]; then
    id mysql >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin mysql
    as_owner=(runuser -u mysql --)
    user_opt=(--user=mysql)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/safeguard-mysqltest.XXXXXX")
chmod 755 "$tmp"
[ ${#as_owner[@]} -gt 0 ] && chown mysql "$tmp"
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
socket="$tmp/mysqld.sock"
pid=""

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"${as_owner[@]}" "$install_db" --no-defaults --datadir="$tmp/data" "${user_opt[@]}" \
    --auth-root-authentication-method=normal --skip-test-db >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; exit 1; }
# --no-defaults: nothing from /etc/mysql (the system server's socket, port, datadir).
"${as_owner[@]}" "$server" --no-defaults --datadir="$tmp/data" --socket="$socket" \
    --port="$port" --bind-address=127.0.0.1 --pid-file="$tmp/mysqld.pid" \
    --log-error="$tmp/server.log" --innodb-flush-log-at-trx-commit=2 --skip-log-bin \
    --innodb-buffer-pool-size=64M --max-connections=200 --skip-name-resolve \
    >"$tmp/server.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    "$client" --no-defaults --protocol=socket --socket="$socket" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.2
done
"$client" --no-defaults --protocol=socket --socket="$socket" -uroot <<SQL >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
CREATE USER 'safeguard'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER 'safeguard'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'safeguard'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'safeguard'@'localhost' WITH GRANT OPTION;
SQL

echo "mysqltest: $("$server" --version | sed 's/^.*Ver //') on 127.0.0.1:$port" >&2
export SAFEGUARD_TEST_MYSQL_URL="mysql+pymysql://safeguard:$password@127.0.0.1:$port/mysql"
set +e
"$@"
status=$?
set -e
exit $status
