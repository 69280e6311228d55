#!/usr/bin/env bash
# Make sure PostgreSQL and Redis are reachable at the URLs PriceAlert is configured with.
# Reachable: nothing to do. Not reachable but the server programs are installed: start
# project-local ones under .local/ (git-ignored). Neither: print the command that installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

DB_URL="${PRICEALERT_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/pricealert}"
REDIS_URL="${PRICEALERT_REDIS_URL:-redis://127.0.0.1:6379/0}"
LOCAL="$PWD/.local"

# host and port out of scheme://[user@]host:port/...
hostport() { local rest="${1#*://}"; rest="${rest#*@}"; echo "${rest%%/*}"; }
PG_HP=$(hostport "$DB_URL"); PG_HOST="${PG_HP%:*}"; PG_PORT="${PG_HP##*:}"
RD_HP=$(hostport "$REDIS_URL"); RD_HOST="${RD_HP%:*}"; RD_PORT="${RD_HP##*:}"

pg_up() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }
redis_up() {
  { exec 4<>"/dev/tcp/$RD_HOST/$RD_PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&4; local reply; read -r -t 2 reply <&4 || true; exec 4>&-
  [[ "$reply" == +PONG* ]]
}
wait_for() { for _ in $(seq 1 50); do "$1" && return 0; sleep 0.2; done; return 1; }

if pg_up; then
  echo "postgres: reachable at $PG_HOST:$PG_PORT"
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]]; then
    echo "postgres: not reachable; starting a project-local server in .local/pg on port $PG_PORT"
    mkdir -p "$LOCAL/pg"
    as_pg=()
    if [[ $EUID -eq 0 ]]; then chown -R postgres "$LOCAL/pg"; as_pg=(runuser -u postgres --); fi
    [[ -f "$LOCAL/pg/data/PG_VERSION" ]] || "${as_pg[@]}" "$PG_BIN/initdb" -D "$LOCAL/pg/data" -U postgres --auth=trust >/dev/null
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$LOCAL/pg/data" -l "$LOCAL/pg/server.log" \
      -o "-p $PG_PORT -c listen_addresses=$PG_HOST -k $LOCAL/pg" start >/dev/null
    wait_for pg_up || { echo "postgres did not start; see .local/pg/server.log" >&2; exit 1; }
  else
    echo "postgres: not reachable at $PG_HOST:$PG_PORT and not installed." >&2
    echo "  install it:  sudo apt-get install -y postgresql   (or set PRICEALERT_DATABASE_URL)" >&2
    exit 1
  fi
fi

if redis_up; then
  echo "redis: reachable at $RD_HOST:$RD_PORT"
elif command -v redis-server >/dev/null; then
  echo "redis: not reachable; starting a project-local server in .local/redis on port $RD_PORT"
  mkdir -p "$LOCAL/redis"
  redis-server --daemonize yes --bind "$RD_HOST" --port "$RD_PORT" --save "" --appendonly no \
    --dir "$LOCAL/redis" --logfile "$LOCAL/redis/server.log" --pidfile "$LOCAL/redis/redis.pid"
  wait_for redis_up || { echo "redis did not start; see .local/redis/server.log" >&2; exit 1; }
else
  echo "redis: not reachable at $RD_HOST:$RD_PORT and not installed." >&2
  echo "  install it:  sudo apt-get install -y redis-server   (or set PRICEALERT_REDIS_URL)" >&2
  exit 1
fi
