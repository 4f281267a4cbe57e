#!/usr/bin/env bash
# Sourced by test.sh and run-cluster.sh: a throw-away PostgreSQL cluster in
# a temporary directory, Debian's PostgreSQL installed when missing.
#
#   start_postgres   sets PG_URL (postgres://postgres@127.0.0.1:PORT/postgres)
#                    and PG_DIR; the cluster stops (and its files go) on exit.
#
# Settings are PostgreSQL's defaults where durability is concerned (fsync
# on, synchronous_commit on: a commit, hence an echo, is on disk), with
# more connections than the default for several relays and their tests.

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$dir" ] && command -v initdb >/dev/null; then
        dir="$(dirname "$(command -v initdb)")"
    fi
    printf '%s' "$dir"
}

ensure_postgres() {
    if [ -n "$(pg_bin)" ]; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing PostgreSQL from Debian's packages" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        # Debian starts a system cluster; the tests use their own.
        command -v pg_ctlcluster >/dev/null && pg_ctlcluster --force 15 main stop 2>/dev/null || true
    fi
    [ -n "$(pg_bin)" ]
}

# Runs a command as the cluster's owner: root may not run PostgreSQL.
as_pg_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then
        as_pg_owner "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}

start_postgres() {
    ensure_postgres || {
        echo "error: PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
        return 1
    }
    local bin port
    bin="$(pg_bin)"
    PG_DIR="$(mktemp -d /tmp/collab-pg.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    as_pg_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    as_pg_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
        "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=on -c fsync=on" \
        start >/dev/null
    PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export PG_URL PG_DIR
    trap stop_postgres EXIT
}
