#!/usr/bin/env bash
# The soak: a real `dongxi serve` (release) on the demo data plus 10,000 products, under mixed
# traffic at a fixed rate for a while (search 70%, orders and their payments 20%, reports 10%;
# benches/data/soak.lua). RSS sampled every minute; at the end the errors (non-2xx answers and
# socket errors: the run fails on any), the RSS growth after the warm-up, and `dongxi ledger
# verify` over what it wrote (the run fails on any drift).
# PostgreSQL when DONGXI_BENCH_PG_URL names a database (a fresh schema), SQLite otherwise.
# Usage: benches/soak.sh [minutes, default 60] [requests/s, default 200] [warm-up minutes, default 10]
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
cd "$(dirname "$0")/.."
minutes="${1:-60}"
rate="${2:-200}"
warm="${3:-10}"
conns=8
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
cargo build --release --quiet --bin dongxi
bin="${CARGO_TARGET_DIR:-target}/release/dongxi"
dir=$(mktemp -d)
pid=""
schema=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$DONGXI_BENCH_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

if [ -n "${DONGXI_BENCH_PG_URL:-}" ]; then
  backend=postgres
  schema="bench_soak_$$"
  psql -q "$DONGXI_BENCH_PG_URL" -c "CREATE SCHEMA $schema"
  url="$DONGXI_BENCH_PG_URL?options=-csearch_path%3D$schema"
else
  backend=sqlite
  url="sqlite://$dir/dongxi.db"
fi
export DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" RUST_LOG=warn
"$bin" seed-demo >/dev/null
if [ "$backend" = sqlite ]; then
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read()); c.commit()' "$dir/dongxi.db" benches/data/bench-products.sql
else
  psql -q "$url" -f benches/data/bench-products.sql >/dev/null
fi
"$bin" reindex >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DONGXI_BIND="127.0.0.1:$port" "$bin" serve --no-migrate >/dev/null 2>"$dir/serve.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
token() {
  curl -sf "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1@demo.dongxi.cn\",\"password\":\"dongxi-demo-2021\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
export SOAK_BUYER=$(token canteen.hz) SOAK_FINANCE=$(token finance) SOAK_COORDINATOR=$(token huizhou)
# Each connection waits this long between an answer and its next request.
export SOAK_DELAY_MS=$((conns * 1000 / rate)) SOAK_ERRORS="$dir/refusals.txt"
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status; }
# What the resident memory is: the heap (anonymous) or mapped files (the search index, SQLite).
parts() {
  awk '/^RssAnon|^RssFile/ {printf "%s%s %.1f", sep, ($1 == "RssAnon:" ? "heap" : "files"), $2/1024; sep=", "}' /proc/$pid/status
  curl -sf "http://127.0.0.1:$port/metrics" | awk '/^dongxi_sqlite_memory_bytes/ {printf ", of the heap SQLite %.1f", $2/1048576}'
}
echo "soak: $backend, $minutes min at ~$rate requests/s ($conns connections, ${SOAK_DELAY_MS} ms apart), commit $(git rev-parse --short HEAD)"
echo "minute 0: RSS $(rss) MB ($(parts))"
wrk -t2 -c$conns -d"$((minutes * 60))s" --timeout 10s --latency -s benches/data/soak.lua "http://127.0.0.1:$port" >"$dir/wrk.txt" 2>&1 &
wrk_pid=$!
samples=("$(rss)")
for m in $(seq 1 "$minutes"); do
  sleep 60
  samples+=("$(rss)")
  echo "minute $m: RSS ${samples[$m]} MB ($(parts))"
done
wait $wrk_pid || { echo "wrk failed:"; cat "$dir/wrk.txt"; exit 1; }
grep -E "requests in|Requests/sec|50%|99%|Non-2xx|Socket errors" "$dir/wrk.txt"
non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.txt"); non2xx=${non2xx:-0}
sockets=$(awk -F'[ ,]+' '/Socket errors/ {print $5+$7+$9+$11}' "$dir/wrk.txt"); sockets=${sockets:-0}
warm=$(( warm < minutes ? warm : minutes - 1 ))
growth=$(python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{(b-a)/a*100:.1f}')" "${samples[$warm]}" "${samples[$minutes]}")
echo "errors: $non2xx non-2xx, $sockets socket errors"
[ -s "$dir/refusals.txt" ] && { echo "the first refusals:"; sort "$dir/refusals.txt" | uniq -c | head -10; }
grep -m 10 -E "ERROR|WARN" "$dir/serve.log" | cut -c1-400 || true
echo "RSS growth from minute $warm to minute $minutes: ${samples[$warm]} → ${samples[$minutes]} MB ($growth%)"
kill -TERM "$pid"; wait "$pid" || true; pid=""
"$bin" ledger verify | tail -3
python3 -c "import sys; print('RSS growth goal (≤ 5%):', 'met' if float(sys.argv[1]) <= 5 else 'NOT met')" "$growth"
# Errors fail the run (and `ledger verify` above, by its exit status); memory is a figure to read.
if [ "$non2xx" != 0 ] || [ "$sockets" != 0 ]; then echo "soak: errors"; exit 1; fi
echo "soak: 0 errors, ledger verify clean"
