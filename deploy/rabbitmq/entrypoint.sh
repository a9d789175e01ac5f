#!/usr/bin/env bash
# Entrypoint of each RabbitMQ node of docker-compose.yml: installs the cluster's shared Erlang
# cookie from the compose secret, then hands over to the image's own entrypoint.
#
# The cookie must be identical on every node and readable by its owner only, or nodes and
# rabbitmq-diagnostics cannot talk to each other; a compose file secret is a bind mount with the
# host file's owner and mode, so it is copied into the node's data directory here.
set -Eeuo pipefail

source_file="${RABBITMQ_ERLANG_COOKIE_FILE:-/run/secrets/rabbitmq_erlang_cookie}"
cookie="${RABBITMQ_DATA_DIR:-/var/lib/rabbitmq}/.erlang.cookie"

if [ ! -s "$source_file" ]; then
	echo >&2 "rabbitmq: no Erlang cookie in $source_file (make deploy/secrets/erlang.cookie, e.g. openssl rand -hex 32)"
	exit 1
fi

if [ "$(id -u)" = 0 ]; then
	umask 077
	tr -d '[:space:]' < "$source_file" > "$cookie"
	chown rabbitmq:rabbitmq "$cookie"
	chmod 400 "$cookie"
fi

exec docker-entrypoint.sh "$@"
