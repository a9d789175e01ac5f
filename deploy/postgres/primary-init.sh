#!/usr/bin/env bash
# Replication setup of the PostgreSQL primary: the replication role, the standby's replication
# slot, the pg_hba.conf entry that lets the role connect for replication, and the include of
# primary.conf (wal_level, max_wal_senders, synchronous_commit, synchronous_standby_names).
#
# The image's entrypoint runs it once, from /docker-entrypoint-initdb.d, when the data directory
# is first made. On a data directory made before, run it once by hand, restart the primary and
# bring up the standby:
#   docker compose exec -u postgres postgres-primary /docker-entrypoint-initdb.d/10-replication.sh
#   docker compose restart postgres-primary && docker compose up -d postgres-standby
# Running it again changes nothing.
set -Eeuo pipefail

: "${REPLICATION_USER:?REPLICATION_USER: the replication role}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD: password of the replication role}"
: "${REPLICATION_SLOT:?REPLICATION_SLOT: replication slot of the standby}"
primary_conf="${PRIMARY_CONF:-/etc/postgresql/towns-primary.conf}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
	--username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
	--set=role="$REPLICATION_USER" --set=password="$REPLICATION_PASSWORD" \
	--set=slot="$REPLICATION_SLOT" <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH REPLICATION LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT pg_create_physical_replication_slot(:'slot')
 WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = :'slot') \g /dev/null
SQL

hba="host replication $REPLICATION_USER all scram-sha-256"
grep -qxF "$hba" "$PGDATA/pg_hba.conf" || printf '%s\n' "$hba" >> "$PGDATA/pg_hba.conf"

include="include_if_exists '$primary_conf'"
grep -qxF "$include" "$PGDATA/postgresql.conf" || printf '%s\n' "$include" >> "$PGDATA/postgresql.conf"
