#!/usr/bin/env bash
# A PostgreSQL primary and a streaming standby on loopback, for the failover tests and the cost
# of synchronous replication (tests/cluster, bench/sync_commit.py). Debian's cluster tools, run
# as root; trust authentication on 127.0.0.1 only. It never touches any other cluster.
#
#   scripts/pg_pair.sh up [--async|--single]  the primary towns_primary on 5442 and the standby
#                                             towns_standby on 5443 (pg_basebackup -R), made if
#                                             missing, started if stopped. By default the primary
#                                             commits only once the standby has the commit too
#                                             (synchronous_standby_names naming it,
#                                             synchronous_commit = on); --async streams without
#                                             waiting for the standby; --single stops the standby
#                                             and the primary runs alone. Run it again to switch.
#   scripts/pg_pair.sh down                   stops and drops both clusters (pg_dropcluster --stop)
#   scripts/pg_pair.sh kill-primary           kill -9 of the primary's postmaster and its children
#                                             at once, as when its machine dies
#   scripts/pg_pair.sh stop-primary           a fast shutdown of the primary (an outage)
#   scripts/pg_pair.sh start-primary          starts it again
#   scripts/pg_pair.sh promote                the standby becomes a primary (pg_ctlcluster promote)
#   scripts/pg_pair.sh status                 both clusters, their roles and the replication
#
# The URL a service uses for the pair (libpq tries the hosts in turn, keeping the writable one):
#   postgresql://postgres@127.0.0.1:5442,127.0.0.1:5443/towns?target_session_attrs=read-write
# After a promote the old primary must not be started again as it is: `down`, then `up`.
set -euo pipefail

VERSION=${PG_PAIR_VERSION:-$(ls /etc/postgresql | sort -V | tail -n 1)}
PRIMARY=towns_primary
STANDBY=towns_standby
PRIMARY_PORT=${PG_PAIR_PRIMARY_PORT:-5442}
STANDBY_PORT=${PG_PAIR_STANDBY_PORT:-5443}
DATABASE=${PG_PAIR_DATABASE:-towns}
BIN=/usr/lib/postgresql/$VERSION/bin

say() { echo "pg_pair: $*" >&2; }
die() { say "$*"; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }
exists() { [ -f "/etc/postgresql/$VERSION/$1/postgresql.conf" ]; }
running() { exists "$1" && pg_ctlcluster "$VERSION" "$1" status >/dev/null 2>&1; }
datadir() { echo "/var/lib/postgresql/$VERSION/$1"; }
sql() { # sql PORT QUERY: one value, unaligned
    as_postgres "$BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtqc "$2"
}
in_recovery() { [ "$(sql "$1" 'SELECT pg_is_in_recovery()' 2>/dev/null)" = "t" ]; }

wait_ready() { # wait_ready PORT
    for _ in $(seq 1 120); do
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$1" && return 0
        sleep 0.5
    done
    die "the server on port $1 did not come up"
}

configure() { # configure CLUSTER PORT: loopback, trust, replication allowed, no other change
    local conf="/etc/postgresql/$VERSION/$1"
    cat >"$conf/pg_hba.conf" <<EOF
# scripts/pg_pair.sh: trust on loopback, replication included
local   all          all                  trust
host    all          all   127.0.0.1/32   trust
host    replication  all   127.0.0.1/32   trust
EOF
    cat >"$conf/conf.d/towns_pair.conf" <<EOF
# scripts/pg_pair.sh
listen_addresses = '127.0.0.1'
port = $2
wal_level = replica
max_wal_senders = 10
wal_keep_size = '1GB'
hot_standby = on
EOF
    chown postgres:postgres "$conf/pg_hba.conf" "$conf/conf.d/towns_pair.conf"
}

replication_mode() { # replication_mode sync|async|single: what the primary waits for
    local names="" file="/etc/postgresql/$VERSION/$PRIMARY/conf.d/towns_sync.conf"
    [ "$1" = sync ] && names=$STANDBY
    cat >"$file" <<EOF
# scripts/pg_pair.sh: $1
synchronous_commit = on
synchronous_standby_names = '$names'
EOF
    chown postgres:postgres "$file"
}

make_primary() {
    if ! exists "$PRIMARY"; then
        say "creating $PRIMARY on port $PRIMARY_PORT"
        pg_createcluster --start-conf=manual -p "$PRIMARY_PORT" "$VERSION" "$PRIMARY" -- \
            --auth-local=trust --auth-host=trust >/dev/null
        configure "$PRIMARY" "$PRIMARY_PORT"
    fi
    if ! running "$PRIMARY"; then
        pg_ctlcluster "$VERSION" "$PRIMARY" start
    fi
    wait_ready "$PRIMARY_PORT"
    in_recovery "$PRIMARY_PORT" && die "$PRIMARY is in recovery: run down, then up"
    if [ "$(sql "$PRIMARY_PORT" "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
        sql "$PRIMARY_PORT" "CREATE DATABASE $DATABASE" >/dev/null
    fi
}

make_standby() {
    if ! exists "$STANDBY"; then
        say "creating $STANDBY on port $STANDBY_PORT from a base backup of $PRIMARY"
        pg_createcluster --start-conf=manual -p "$STANDBY_PORT" "$VERSION" "$STANDBY" -- \
            --auth-local=trust --auth-host=trust >/dev/null
        configure "$STANDBY" "$STANDBY_PORT"
        local data
        data=$(datadir "$STANDBY")
        find "$data" -mindepth 1 -delete
        # -R writes primary_conninfo (with this application_name, which the primary's
        # synchronous_standby_names names) and standby.signal.
        as_postgres "$BIN/pg_basebackup" -D "$data" -R -X stream -c fast \
            -d "host=127.0.0.1 port=$PRIMARY_PORT user=postgres application_name=$STANDBY"
    fi
    if ! running "$STANDBY"; then
        pg_ctlcluster "$VERSION" "$STANDBY" start
    fi
    wait_ready "$STANDBY_PORT"
    in_recovery "$STANDBY_PORT" || die "$STANDBY was promoted: run down, then up"
}

wait_streaming() { # wait_streaming sync|async
    local want=$1 state=""
    for _ in $(seq 1 120); do
        state=$(sql "$PRIMARY_PORT" "SELECT state || ' ' || sync_state FROM pg_stat_replication \
                 WHERE application_name = '$STANDBY'" 2>/dev/null || true)
        [ "$state" = "streaming $want" ] && return 0
        sleep 0.5
    done
    die "the standby is not streaming ($want) to the primary: '${state}'"
}

up() {
    local mode=sync
    case "${1:-}" in
        --async) mode=async ;;
        --single) mode=single ;;
        "") ;;
        *) die "up takes --async or --single, not $1" ;;
    esac
    # a promoted standby is a primary of its own: starting the old one beside it would give two
    if exists "$STANDBY" && [ ! -f "$(datadir "$STANDBY")/standby.signal" ]; then
        die "$STANDBY was promoted: run down, then up"
    fi
    make_primary
    replication_mode "$mode"
    pg_ctlcluster "$VERSION" "$PRIMARY" reload
    if [ "$mode" = single ]; then
        if running "$STANDBY"; then pg_ctlcluster "$VERSION" "$STANDBY" stop -m fast; fi
    else
        make_standby
        wait_streaming "$mode"
    fi
    say "up ($mode): primary 127.0.0.1:$PRIMARY_PORT, standby 127.0.0.1:$STANDBY_PORT, database $DATABASE"
}

down() {
    for cluster in "$STANDBY" "$PRIMARY"; do
        if exists "$cluster"; then
            if ! pg_dropcluster --stop "$VERSION" "$cluster" 2>/dev/null; then
                # a primary killed with -9 leaves a pid file behind: stop what is left, drop again
                stop_hard "$cluster"
                pg_dropcluster "$VERSION" "$cluster"
            fi
            say "dropped $cluster"
        fi
        # pg_dropcluster leaves the files it did not make (conf.d/towns_*.conf) behind
        rm -rf "/etc/postgresql/$VERSION/${cluster:?}"
    done
}

postmaster_pid() { # the pid of CLUSTER's postmaster, if it runs
    local file
    file="$(datadir "$1")/postmaster.pid"
    [ -f "$file" ] || return 1
    local pid
    pid=$(head -n 1 "$file")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

stop_hard() {
    local pid
    if pid=$(postmaster_pid "$1"); then
        kill -9 "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
    fi
    rm -f "$(datadir "$1")/postmaster.pid"
}

kill_primary() {
    local pid
    pid=$(postmaster_pid "$PRIMARY") || die "$PRIMARY is not running"
    # the postmaster and every backend at the same instant: nothing more is sent or flushed
    kill -9 "$pid" $(pgrep -P "$pid" || true)
    say "killed $PRIMARY (postmaster $pid)"
}

promote() {
    running "$STANDBY" || die "$STANDBY is not running"
    pg_ctlcluster "$VERSION" "$STANDBY" promote
    for _ in $(seq 1 120); do
        in_recovery "$STANDBY_PORT" || { say "$STANDBY is a primary now"; return 0; }
        sleep 0.5
    done
    die "$STANDBY is still in recovery"
}

status() {
    pg_lsclusters | awk -v a="$PRIMARY" -v b="$STANDBY" 'NR == 1 || $2 == a || $2 == b'
    for pair in "$PRIMARY:$PRIMARY_PORT" "$STANDBY:$STANDBY_PORT"; do
        local name=${pair%%:*} port=${pair##*:} role
        if running "$name" && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
            role=$(in_recovery "$port" && echo standby || echo primary)
            echo "$name: $role on 127.0.0.1:$port," \
                "synchronous_standby_names '$(sql "$port" 'SHOW synchronous_standby_names')'"
            sql "$port" "SELECT '  streams to ' || application_name || ': ' || state || ', ' \
                || sync_state FROM pg_stat_replication"
        else
            echo "$name: not running"
        fi
    done
}

[ "$(id -u)" = 0 ] || die "run as root (Debian's cluster tools change /etc/postgresql)"
case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    kill-primary) kill_primary ;;
    stop-primary) pg_ctlcluster "$VERSION" "$PRIMARY" stop -m fast ;;
    start-primary) pg_ctlcluster "$VERSION" "$PRIMARY" start; wait_ready "$PRIMARY_PORT" ;;
    promote) promote ;;
    status) status ;;
    *) die "usage: $0 up [--async|--single] | down | kill-primary | stop-primary | start-primary | promote | status" ;;
esac
