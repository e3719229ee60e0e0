#!/usr/bin/env bash
# Orders per second through HTTP: a real `dongxi serve` (release) loaded by wrk with 32 (or the
# given number of) connections, each request a 3-line order over 10,000 products (benches/data/orders.lua). On
# SQLite always; on PostgreSQL when DONGXI_BENCH_PG_URL names an existing database (a fresh
# schema each run), followed in the same run by pgbench with as many clients running the same
# transaction as raw SQL (benches/data/orders-pgbench.sql), and their ratio.
# With ORDERS_PIN=1 (needs two cores and the right to move PostgreSQL's processes, e.g. root),
# PostgreSQL runs on core 0 and the server, wrk and pgbench on core 1 (taskset), so the server
# and the database never take each other's core; on SQLite the server has core 1 and wrk core 0.
# PostgreSQL's affinity is put back when the script ends.
# Usage: benches/orders.sh [seconds] [connections]
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
cd "$(dirname "$0")/.."
secs="${1:-20}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/dongxi"
work=$(mktemp -d)
pid=""
schema=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$DONGXI_BENCH_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

pin=${ORDERS_PIN:-}
pg_pin() { # cpu list: every PostgreSQL process (new backends inherit the postmaster's)
  local p
  for p in $(pgrep -x postgres); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done
}
if [ -n "$pin" ]; then
  [ "$(nproc)" -ge 2 ] || { echo "ORDERS_PIN needs two cores"; exit 1; }
  command -v taskset >/dev/null || { echo "ORDERS_PIN needs taskset (util-linux)"; exit 1; }
  all_cpus="0-$(($(nproc) - 1))"
  trap 'pg_pin "$all_cpus"; cleanup' EXIT
fi
cpu_ticks() { awk '/^cpu[0-9]/ {print $1, $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
busy() { # before after: each core's busy share between two cpu_ticks readings
  join <(echo "$1") <(echo "$2") | awk '{printf "%s %.0f%% busy; ", $1, 100*($4-$2)/($5-$3)}'
}

sql() { # backend url file
  if [ "$1" = sqlite ]; then
    python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read()); c.commit()' "${2#sqlite://}" "$3"
  else
    psql -q "$2" -f "$3" >/dev/null
  fi
}

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }

run() { # backend url
  local backend=$1 url=$2 dir port token
  dir=$(mktemp -d -p "$work")
  [ "$backend" = sqlite ] && url="sqlite://$dir/dongxi.db"
  DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" RUST_LOG=warn "$bin" seed-demo >/dev/null
  sql "$backend" "$url" benches/data/bench-products.sql
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # Command prefixes that pin the server and the load generators (empty when not pinned);
  # taskset execs what it runs, so $! stays the server's pid.
  local on_server=() on_load=()
  if [ -n "$pin" ]; then
    on_server=(taskset -c 1)
    if [ "$backend" = postgres ]; then on_load=(taskset -c 1); pg_pin 0; else on_load=(taskset -c 0); pg_pin "$all_cpus"; fi
  fi
  DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" DONGXI_BIND="127.0.0.1:$port" RUST_LOG=warn \
    "${on_server[@]}" "$bin" serve --no-migrate >/dev/null 2>"$dir/serve.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
  token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"canteen.hz@demo.dongxi.cn","password":"dongxi-demo-2021"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  ORDERS_TOKEN="$token" "${on_load[@]}" wrk -t2 -c32 -d3s -s benches/data/orders.lua "http://127.0.0.1:$port" >/dev/null
  local before; before=$(cpu_ticks)
  ORDERS_TOKEN="$token" "${on_load[@]}" wrk -t2 -c"$conns" -d"${secs}s" --latency -s benches/data/orders.lua "http://127.0.0.1:$port" >"$dir/wrk.txt"
  grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors" "$dir/wrk.txt" | sed "s/^/$backend http: /"
  echo "$backend http: cores during the load: $(busy "$before" "$(cpu_ticks)")"
  echo "$backend http: RSS under load $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$pid/status)"
  [ -n "${ORDERS_SMAPS:-}" ] && grep -E "^(Rss|Anonymous|Pss_File|Pss_Anon)" /proc/$pid/smaps_rollup | sed "s/^/$backend smaps: /"
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  if [ "$backend" = postgres ]; then
    local hash buyer buyer_path buyer_region user
    hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
    read -r buyer buyer_path buyer_region user < <(psql -qtA -F' ' "$url" -c "SELECT o.id, o.path, o.region_code, u.id FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.email = 'canteen.hz@demo.dongxi.cn'")
    sed -e "s|@HASH@|$hash|; s|@BUYER@|$buyer|g; s|@BUYER_PATH@|$buyer_path|; s|@BUYER_REGION@|$buyer_region|; s|@USER@|$user|g" \
      benches/data/orders-pgbench.sql >"$dir/pgbench.sql"
    local pg_conn=${url%%\?*}
    before=$(cpu_ticks)
    (cd "$dir" && PGOPTIONS="$PGOPTIONS -c search_path=${url##*%3D}" "${on_load[@]}" pgbench -n -c "$conns" -j 2 -T "$secs" -r --log --log-prefix=pgb \
      -f "$dir/pgbench.sql" "$pg_conn" >"$dir/pgbench.txt" 2>&1) || { cat "$dir/pgbench.txt"; exit 1; }
    grep -E "^tps|latency average|failed" "$dir/pgbench.txt" | sed 's/^/postgres pgbench: /'
    echo "postgres pgbench: cores during the run: $(busy "$before" "$(cpu_ticks)")"
    # Per-transaction latencies (µs, third column) from pgbench's log: the same percentiles as wrk's.
    cat "$dir"/pgb.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "postgres pgbench: latency p50 %.2fms p90 %.2fms p99 %.2fms\n", a[int(NR*0.5)]/1000, a[int(NR*0.9)]/1000, a[int(NR*0.99)]/1000}'
    local ours theirs
    ours=$(rps "$dir/wrk.txt"); theirs=$(awk '/^tps/ {print $3}' "$dir/pgbench.txt")
    python3 -c "import sys; print(f'postgres: HTTP orders/s over pgbench tps, same run: {float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$ours" "$theirs"
  fi
}

echo "orders benchmark: $conns connections, ${secs}s, 3-line orders over 10,000 products; $(nproc) cores${pin:+, pinned: PostgreSQL on core 0, server and load on core 1 (SQLite: server 1, wrk 0)}; commit $(git rev-parse --short HEAD)"
run sqlite ""
if [ -n "${DONGXI_BENCH_PG_URL:-}" ]; then
  schema="bench_orders_$$"
  psql -q "$DONGXI_BENCH_PG_URL" -c "CREATE SCHEMA $schema"
  run postgres "$DONGXI_BENCH_PG_URL?options=-csearch_path%3D$schema"
fi
