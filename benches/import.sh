#!/usr/bin/env bash
# Import throughput of `dongxi import products` for 10,000 and 100,000 rows (DONGXI_BENCH_IMPORT_ROWS), on SQLite and,
# when DONGXI_BENCH_PG_URL names an existing database, on PostgreSQL (a fresh schema each run).
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/dongxi"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes="${DONGXI_BENCH_IMPORT_ROWS:-10000 100000}"
for n in $sizes; do python3 benches/data/gen_products_csv.py "$n" "$work/$n.csv"; done

producer_sql="SELECT id FROM organizations WHERE name = '普安县茶源茶叶专业合作社'"
run() { # backend url
  local backend=$1 url=$2 dir producer
  dir=$(mktemp -d -p "$work")
  [ "$backend" = sqlite ] && url="sqlite://$dir/dongxi.db"
  DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" RUST_LOG=warn "$bin" seed-demo >/dev/null
  if [ "$backend" = sqlite ]; then
    producer=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$dir/dongxi.db" "$producer_sql")
  else
    producer=$(psql -qtA "$url" -c "$producer_sql")
  fi
  for n in $sizes; do
    printf '%s\t%s rows\t' "$backend" "$n"
    DATABASE_URL="$url" DONGXI_DATA_DIR="$dir" RUST_LOG=warn "$bin" import products "$work/$n.csv" --producer "$producer" 2>/dev/null
  done
}
run sqlite ""
if [ -n "${DONGXI_BENCH_PG_URL:-}" ]; then
  schema="bench_import_$$"
  psql -q "$DONGXI_BENCH_PG_URL" -c "CREATE SCHEMA $schema"
  run postgres "$DONGXI_BENCH_PG_URL?options=-csearch_path%3D$schema"
  psql -q "$DONGXI_BENCH_PG_URL" -c "DROP SCHEMA $schema CASCADE"
fi
