#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for the cluster tests: nodes towns-a, towns-b
# and towns-c @localhost, each with its own AMQP port (5681-5683), management port
# (15681-15683), distribution port (25681-25683) and data directory under $TOWNS_CLUSTER_DIR
# (default /var/lib/rabbitmq/towns-cluster). It never touches the machine's own node
# (rabbit@localhost, port 5672). No containers: Debian's rabbitmq-server, run as the rabbitmq
# user with the machine's Erlang cookie.
#
#   scripts/rabbit_cluster.sh up             start the three nodes and cluster them (idempotent)
#   scripts/rabbit_cluster.sh down           stop them and delete their data
#   scripts/rabbit_cluster.sh start NODE     start one node again (a, b or c); it rejoins
#   scripts/rabbit_cluster.sh stop NODE      stop one node in an orderly way
#   scripts/rabbit_cluster.sh kill NODE      kill -9 one node's Erlang VM
#   scripts/rabbit_cluster.sh status         the cluster as node a sees it
#   scripts/rabbit_cluster.sh urls           TOWNS_AMQP_URL for the three nodes (guest)
set -euo pipefail
SELF=$(readlink -f "$0")
cd /  # the rabbitmq user's tools need a working directory they can read

BASE=${TOWNS_CLUSTER_DIR:-/var/lib/rabbitmq/towns-cluster}
NODES=(a b c)
BIN=/usr/lib/rabbitmq/bin

index() { case "$1" in a) echo 0 ;; b) echo 1 ;; c) echo 2 ;; *) echo "unknown node: $1 (a, b or c)" >&2; exit 2 ;; esac; }
name() { echo "towns-$1@localhost"; }
amqp_port() { echo $((5681 + $(index "$1"))); }
api_port() { echo $((15681 + $(index "$1"))); }
dist_port() { echo $((25681 + $(index "$1"))); }

as_rabbitmq() {
  # The node runs as the rabbitmq user, with its cookie, like the machine's own node.
  if [ "$(id -un)" = rabbitmq ]; then env "$@"; else runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq "$@"; fi
}

ctl() { # ctl NODE ARGS...: rabbitmqctl against one of our nodes
  local node=$1; shift
  as_rabbitmq "$BIN/rabbitmqctl" -n "$(name "$node")" "$@"
}

prepare() {
  local node=$1 dir="$BASE/$1"
  mkdir -p "$dir/mnesia" "$dir/log"
  cat > "$dir/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$(amqp_port "$node")
management.tcp.port = $(api_port "$node")
management.tcp.ip = 127.0.0.1
cluster_partition_handling = pause_minority
log.file.level = info
EOF
  echo '[rabbitmq_management].' > "$dir/enabled_plugins"
  : > "$dir/rabbitmq-env.conf"  # not the machine's: that one names rabbit@localhost
  chown -R rabbitmq:rabbitmq "$BASE"
}

start() {
  local node=$1 dir="$BASE/$1"
  if ctl "$node" -q status >/dev/null 2>&1; then return 0; fi
  prepare "$node"
  as_rabbitmq RABBITMQ_NODENAME="$(name "$node")" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_DIST_PORT="$(dist_port "$node")" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$BIN/rabbitmq-server" -detached
  # -detached returns before the Erlang node answers: wait for it, then for RabbitMQ in it
  for _ in $(seq 120); do ctl "$node" -q ping >/dev/null 2>&1 && break; sleep 0.5; done
  if ! ctl "$node" -q await_startup --timeout 180; then
    tail -n 40 "$dir"/log/*.log >&2 || true
    return 1
  fi
}

joined() { ctl a -q cluster_status --formatter json 2>/dev/null | grep -q "\"$(name "$1")\""; }

up() {
  for node in "${NODES[@]}"; do start "$node" & done
  wait
  for node in b c; do
    if ! joined "$node"; then
      ctl "$node" -q stop_app
      ctl "$node" -q reset
      ctl "$node" -q join_cluster "$(name a)"
      ctl "$node" -q start_app
      ctl "$node" -q await_startup --timeout 180
    fi
  done
  # the publisher in the tests sends as each principal: guest may set any user_id
  ctl a -q set_user_tags guest administrator impersonator
  for node in "${NODES[@]}"; do joined "$node" || { echo "towns-$node did not join" >&2; exit 1; }; done
  echo "cluster up: $(urls)"
}

stop() { ctl "$1" -q stop >/dev/null 2>&1 || true; }

beam_pid() { ctl "$1" -q eval 'os:getpid().' 2>/dev/null | tr -dc '0-9'; }

kill_node() { # kill_node NODE [quiet]: kill -9 the node's VM; without quiet, it must be running
  local pid
  pid=$(beam_pid "$1" || true)
  if [ -z "$pid" ]; then
    [ "${2:-}" = quiet ] && return 0
    echo "towns-$1 is not running: nothing to kill" >&2; return 1
  fi
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "towns-$1 (pid $pid) did not die" >&2; return 1
}

down() {
  for node in "${NODES[@]}"; do stop "$node" & done
  wait
  for node in "${NODES[@]}"; do kill_node "$node" quiet; done
  rm -rf "$BASE"
}

urls() {
  local out=()
  for node in "${NODES[@]}"; do out+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$node")/%2F"); done
  (IFS=,; echo "${out[*]}")
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  start) start "${2:?start NODE}" ;;
  stop) stop "${2:?stop NODE}" ;;
  kill) kill_node "${2:?kill NODE}" ;;
  status) ctl a cluster_status ;;
  urls) urls ;;
  *) sed -n '2,17p' "$SELF" >&2; exit 2 ;;
esac
