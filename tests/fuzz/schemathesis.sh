#!/usr/bin/env bash
# schemathesis against a demo server for a bounded time: every operation of /api/openapi.json,
# fuzzed as a platform admin and as an agency admin; fails on any 5xx, any response that does
# not match its documented schema or content type, and on the server's log holding a token or
# a password it was sent.
#   tests/fuzz/schemathesis.sh [SECONDS per caller, default 90]
# Needs the `dongxi` binary (DONGXI_BIN, default $CARGO_TARGET_DIR/debug/dongxi) and schemathesis
# (SCHEMATHESIS, default the one on PATH). Reports go to ${DONGXI_ARTIFACT_DIR:-/tmp}/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-90}
bin=${DONGXI_BIN:-${CARGO_TARGET_DIR:-target}/debug/dongxi}
st=${SCHEMATHESIS:-schemathesis}
out="${DONGXI_ARTIFACT_DIR:-/tmp}/schemathesis"
mkdir -p "$out"
[ -x "$bin" ] || { echo "no dongxi binary at $bin (cargo build first)"; exit 1; }

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$out/server.log"
DONGXI_DATA_DIR="$data" DONGXI_BIND="127.0.0.1:$port" RUST_LOG=info,dongxi=debug \
  "$bin" serve --demo >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do curl -sf -o /dev/null "$base/readyz" && break; sleep 0.2; done
curl -sf -o /dev/null "$base/readyz" || { tail -50 "$log"; exit 1; }

password=dongxi-demo-2021
token_of() {
  curl -sf "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$password\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

status=0
tokens=()
for who in admin@demo.dongxi.cn school.hz@demo.dongxi.cn; do
  token=$(token_of "$who")
  tokens+=("$token")
  echo "== schemathesis as $who for ${seconds}s"
  "$st" run "$base/api/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance \
    -H "Authorization: Bearer $token" \
    --max-time "$seconds" --workers 2 --request-timeout 10 \
    --suppress-health-check all \
    --report junit --report-dir "$out/${who%%@*}" || status=1
done

kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
echo "== the server's log ($(wc -l <"$log") lines) holds no token or password"
for secret in "${tokens[@]}" "$password"; do
  if grep -qF "$secret" "$log"; then
    echo "the log holds a secret: ${secret:0:6}…"
    status=1
  fi
done
requests=$(grep -c '"handled"\|handled' "$log" || true)
echo "requests handled: $requests; 5xx in the log: $(grep -cE 'status=5[0-9]{2}' "$log" || true)"
exit $status
