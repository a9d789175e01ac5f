#!/usr/bin/env bash
# Entrypoint of the PostgreSQL standby. On an empty data directory it first copies the primary
# with pg_basebackup -R, which writes standby.signal and, into postgresql.auto.conf,
# primary_conninfo (PRIMARY_CONNINFO with the password: its application_name is the name the
# primary's synchronous_standby_names waits for) and primary_slot_name. Then, and on every later
# start, it hands over to the image's entrypoint, which finds the data directory made and starts
# the server: a hot standby streaming from the primary, or, once promoted, a primary.
#
# To make the standby anew (its slot lost, or after a failover to turn the old primary into the
# new standby), stop it, empty its volume and start it again.
set -Eeuo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 700 "$PGDATA"
	exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ -z "$(ls -A "$PGDATA")" ]; then
	: "${PRIMARY_CONNINFO:?PRIMARY_CONNINFO: how the standby connects to the primary}"
	: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD: password of the replication role}"
	: "${REPLICATION_SLOT:?REPLICATION_SLOT: the slot the primary keeps for this standby}"
	application_name=$(sed -n 's/.*application_name=\([^ ]*\).*/\1/p' <<<"$PRIMARY_CONNINFO")
	if [ -z "$application_name" ]; then
		echo >&2 "standby: PRIMARY_CONNINFO names no application_name; the primary's synchronous_standby_names waits for one"
		exit 1
	fi

	echo "standby: waiting for the primary ($PRIMARY_CONNINFO)"
	until pg_isready --quiet --dbname="$PRIMARY_CONNINFO"; do sleep 2; done

	echo "standby: copying the primary into $PGDATA"
	# On failure pg_basebackup empties the directory again, so the next start tries anew.
	PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup \
		--dbname="$PRIMARY_CONNINFO" --pgdata="$PGDATA" \
		--write-recovery-conf --slot="$REPLICATION_SLOT" \
		--wal-method=stream --checkpoint=fast --no-password

	if ! grep -q "^primary_conninfo = .*application_name=$application_name" "$PGDATA/postgresql.auto.conf"; then
		echo >&2 "standby: postgresql.auto.conf has no primary_conninfo with application_name=$application_name"
		exit 1
	fi
elif [ ! -s "$PGDATA/PG_VERSION" ]; then
	echo >&2 "standby: $PGDATA is neither empty nor a data directory; empty it to copy the primary anew"
	exit 1
fi

exec docker-entrypoint.sh "$@"
