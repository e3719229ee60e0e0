#!/usr/bin/env bash
# HTTP search throughput of a real `dongxi serve`: builds a product set and index with the search
# benchmark (`--keep`), serves it with the release binary, and loads it with wrk (Debian's `wrk`):
# 32 connections for 15 s cycling through search/bench-queries.txt. Prints idle RSS, RSS under
# load, requests/s and latency percentiles. Usage: benches/search-http.sh [products] [RUST_LOG]
set -euo pipefail
cd "$(dirname "$0")/.."
products="${1:-100000}"
log_level="${2:-info}"
dir="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
cargo build --release --quiet
cargo bench --quiet --bench search -- --products "$products" --http --keep "$dir/data" >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/dongxi"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="sqlite://$dir/data/bench.db" DONGXI_DATA_DIR="$dir/data" DONGXI_BIND="127.0.0.1:$port" RUST_LOG="$log_level" \
  "$bin" serve --no-migrate >/dev/null 2>"$dir/serve.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.05; done
curl -sf "http://127.0.0.1:$port/api/v1/search/products?q=香菇" >/dev/null
sleep 1
echo "products: $products; logging: $log_level"
echo "idle RSS with the index loaded: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$pid/status)"
wrk -t2 -c32 -d15s --latency -s "$dir/data/queries.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
echo "RSS after load: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$pid/status)"
