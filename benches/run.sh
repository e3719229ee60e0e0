#!/usr/bin/env bash
# Every benchmark in one run: start-up and memory, import, search (in-process, PostgreSQL ILIKE
# and pg_trgm in the same run, HTTP with wrk), orders (HTTP with wrk against pgbench running the
# same transaction), reports over the ledger (against plain GROUP BY), group purchases, mail and
# a settlement run (100,000 payables of 10,000 producers in the full run), and the soak (mixed
# traffic at a fixed rate, memory every minute, ledger verify at the end).
# The data generators are seeded, so two runs measure the same data.
#
#   benches/run.sh --quick      small data and a 5-minute soak, about 10 minutes once built (CI
#                               runs this)
#   benches/run.sh              the full sizes (100,000 and 1,000,000 products, 10,000,000
#                               ledger entries, 10,000 agencies in one group purchase) and a
#                               one-hour soak: about two and a half hours on 2 cores (the plain
#                               GROUP BY that the reports are compared with runs twice a query:
#                               1-3 s each at 10,000,000 entries, 90 queries)
#   --write                     put the figures into BENCHMARKS.md (the full run does by default)
#
# Meilisearch: DONGXI_BENCH_MEILI_URL names a running server (built locally, outside the project);
# the full run's 100,000-product search then measures it beside the embedded engine.
# PostgreSQL: DONGXI_BENCH_PG_URL names an existing database (fresh schemas inside it; default
# postgres://postgres@127.0.0.1:5432/postgres). Needs wrk and pgbench (apt-get install wrk
# postgresql-client). Output: benches/out/<step>.txt and benches/out/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
export DONGXI_BENCH_PG_URL="${DONGXI_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# The mail bench also sends through a real SMTP server when there is one (CI's aiosmtpd).
smtp="${DONGXI_BENCH_SMTP_URL:-${DONGXI_TEST_SMTP_URL:-}}"
if [ -n "$smtp" ]; then export DONGXI_BENCH_SMTP_URL="$smtp"; fi

quick=0
write=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --write) write=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $arg (try --help)"; exit 2 ;;
  esac
done
[ -n "$write" ] || { [ "$quick" = 1 ] && write=0 || write=1; }

for tool in wrk pgbench psql curl python3; do
  command -v "$tool" >/dev/null || { echo "benches/run.sh needs $tool (apt-get install wrk postgresql-client curl python3)"; exit 1; }
done
psql -qtA "$DONGXI_BENCH_PG_URL" -c "SELECT 1" >/dev/null || { echo "PostgreSQL is not answering at $DONGXI_BENCH_PG_URL"; exit 1; }

out=benches/out
mkdir -p "$out"
started=$SECONDS
echo "==> building (release)"
cargo build --release --quiet --bins --benches

if [ "$quick" = 1 ]; then
  mode="quick"
  steps=(
    "startup|benches/startup.sh 1"
    "import|env DONGXI_BENCH_IMPORT_ROWS=2000 benches/import.sh"
    "search|cargo bench --quiet --bench search -- --products 10000 --pg-sample 30"
    "search-http|benches/search-http.sh 10000 warn"
    "orders|benches/orders.sh 5 32"
    "reports|cargo bench --quiet --bench reports -- --entries 100000 --runs 5"
    "group-buys|cargo bench --quiet --bench group_buys -- --pledgers 100 --clients 8"
    "mail|cargo bench --quiet --bench mail -- --orders 50"
    "settlement|cargo bench --quiet --bench settlement -- --payables 10000 --producers 1000"
    "sheet|cargo bench --quiet --bench sheet -- --lines 2000 --runs 5"
    "soak|benches/soak.sh 5 200 2"
  )
else
  mode="full"
  steps=(
    "startup|benches/startup.sh 3"
    "import|benches/import.sh"
    "search-100k|cargo bench --quiet --bench search -- --products 100000 --http ${DONGXI_BENCH_MEILI_URL:+--meili $DONGXI_BENCH_MEILI_URL}"
    "search-1m|cargo bench --quiet --bench search -- --products 1000000 --pg-sample 60"
    "orders|benches/orders.sh 20 32"
    "orders-pinned|ORDERS_PIN=1 benches/orders.sh 20 32"
    "reports|cargo bench --quiet --bench reports -- --entries 10000000 --runs 20 --plain-runs 2"
    "group-buys|cargo bench --quiet --bench group_buys"
    "mail|cargo bench --quiet --bench mail"
    "settlement|cargo bench --quiet --bench settlement"
    "sheet|cargo bench --quiet --bench sheet -- --lines 2000 --runs 10"
    "soak|benches/soak.sh 60 200 10"
  )
fi

commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches migrations Cargo.toml Cargo.lock || echo "+changes")
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(psql -qtA "$DONGXI_BENCH_PG_URL" -c 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /'), $(rustc --version | cut -d' ' -f1-2)"
report="$out/report.md"
{
  echo "## Benchmark run ($mode) — $(date -u +%Y-%m-%d), commit $commit"
  echo
  echo "Command: \`benches/run.sh $*\`. Machine: $machine. Each comparison below (ILIKE and"
  echo "pg_trgm, pgbench, plain GROUP BY) was measured in the same run as the figure it compares."
  echo
} >"$report"

failed=()
for step in "${steps[@]}"; do
  name=${step%%|*}
  command=${step#*|}
  echo "==> $name: $command ($((SECONDS - started))s)"
  t0=$SECONDS
  if bash -c "$command" >"$out/$name.txt" 2>"$out/$name.err"; then status="ok"; else status="FAILED"; failed+=("$name"); fi
  # Progress bars and build chatter stay out of the report; the figures stay in.
  grep -v -E '^\s*(Compiling|Finished|Running|warning:)' "$out/$name.txt" | sed 's/\r//' >"$out/$name.clean" || true
  {
    echo "### $name ($status, $((SECONDS - t0)) s)"
    echo
    echo "\`$command\`"
    echo
    echo '```'
    cat "$out/$name.clean"
    [ "$status" = ok ] || tail -20 "$out/$name.err"
    echo '```'
    echo
  } >>"$report"
  rm -f "$out/$name.clean"
  echo "    $status in $((SECONDS - t0))s"
done
echo "Total: $((SECONDS - started)) s." >>"$report"

if [ "$write" = 1 ]; then
  # The run's section replaces the previous one between the markers.
  python3 - "$report" <<'PY'
import re, sys
report = open(sys.argv[1], encoding="utf-8").read()
path = "BENCHMARKS.md"
text = open(path, encoding="utf-8").read()
begin, end = "<!-- benches/run.sh: begin -->", "<!-- benches/run.sh: end -->"
block = f"{begin}\n{report}\n{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(path, "w", encoding="utf-8").write(text)
PY
  echo "==> BENCHMARKS.md updated from $report"
fi
echo "==> report: $report ($((SECONDS - started)) s)"
if [ "${#failed[@]}" -gt 0 ]; then echo "failed: ${failed[*]} (see $out/<step>.err)"; exit 1; fi
