#!/usr/bin/env bash
# Cold start to ready (migrations and the national region list applied on an empty database)
# and idle RSS of `dongxi serve`, on SQLite and, when DONGXI_BENCH_PG_URL names an existing
# database, on PostgreSQL (a fresh schema each run). Usage: benches/startup.sh [runs]
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
cd "$(dirname "$0")/.."
runs="${1:-5}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/dongxi"

ms() { date +%s%N | awk '{printf "%d", $1/1000000}'; }

measure() { # backend database_url data_dir
  local backend=$1 url=$2 dir=$3 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local t0; t0=$(ms)
  DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" DONGXI_BIND="127.0.0.1:$port" RUST_LOG=warn "$bin" serve >/dev/null 2>&1 &
  local pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.005; done
  local t1; t1=$(ms)
  sleep 2
  local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  printf '%s\t%d ms\t%d kB\n' "$backend" $((t1 - t0)) "$rss"
}

printf 'backend\tcold start to ready\tidle RSS\n'
for _ in $(seq "$runs"); do
  dir=$(mktemp -d)
  measure sqlite "sqlite://$dir/dongxi.db" "$dir"
  rm -rf "$dir"
done
if [ -n "${DONGXI_BENCH_PG_URL:-}" ]; then
  for i in $(seq "$runs"); do
    schema="bench_start_$$_$i"
    psql -q "$DONGXI_BENCH_PG_URL" -c "CREATE SCHEMA $schema"
    dir=$(mktemp -d)
    measure postgres "$DONGXI_BENCH_PG_URL?options=-csearch_path%3D$schema" "$dir"
    psql -q "$DONGXI_BENCH_PG_URL" -c "DROP SCHEMA $schema CASCADE"
    rm -rf "$dir"
  done
fi
