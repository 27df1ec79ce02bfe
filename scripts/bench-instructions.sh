#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: repeatable on a noisy machine
# where wall-clock benchmarks are not (same binary, same load → same count). Use it to compare two
# builds of gateway-proxy; `make bench` is the one that compares against nginx.
#
# Starts bench-upstream, gateway-admin (fresh SQLite) and gateway-proxy under callgrind, creates a
# 10-key group, warms up, zeroes the counters, sends DURATION of load with wrk (CONNECTIONS), and
# prints user-space instructions per request. The callgrind profile is kept in the printed folder
# (`callgrind_annotate --inclusive=yes <folder>/callgrind.out.1` shows where they go).
#
#   SKIP_BUILD=1  DURATION=10s  CONNECTIONS=8  scripts/bench-instructions.sh
#   GROUP_CONFIG='{"enable_request_logging":false}'   the group's config overrides (default none)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN_DIR:-$PWD/target/release}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
for tool in valgrind callgrind_control wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench-instructions: $tool is required" >&2; exit 2; }
done
[[ -n ${SKIP_BUILD:-} ]] || cargo build --workspace --release

TMP=$(mktemp -d /tmp/gateway-instructions.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }

MOCK_PORT=$(free_port)
export AUTH_KEY=instr-auth-key-a1b2c3d4e5f6 PORT=$(free_port) ADMIN_LISTEN=127.0.0.1:$(free_port)
export DATABASE_DSN=$TMP/gw.db SERVER_THREADS=1 LOG_LEVEL=warn MAX_CONCURRENT_REQUESTS=10000
cd "$TMP"
"$BIN/bench-upstream" --port "$MOCK_PORT" >mock.out 2>&1 &
PIDS+=($!)
"$BIN/gateway-admin" >admin.log 2>&1 &
PIDS+=($!)
wait_http "http://$ADMIN_LISTEN/health"
api() { curl -sf "http://$ADMIN_LISTEN$1" -H "Authorization: Bearer $AUTH_KEY" -H 'Content-Type: application/json' -d "$2"; }
group_id=$(api /api/groups "{\"name\":\"instr\",\"channel_type\":\"openai\",\"test_model\":\"m\",\"proxy_keys\":\"instr-proxy-key\",\"upstreams\":[{\"url\":\"http://127.0.0.1:$MOCK_PORT\",\"weight\":1}]${GROUP_CONFIG:+,\"config\":$GROUP_CONFIG}}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
api /api/keys/add-multiple "{\"group_id\":$group_id,\"keys_text\":\"sk-0 sk-1 sk-2 sk-3 sk-4 sk-5 sk-6 sk-7 sk-8 sk-9\"}" >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" "$BIN/gateway-proxy" >proxy.log 2>&1 &
PROXY=$!
PIDS+=($PROXY)
URL=http://127.0.0.1:$PORT/proxy/instr/v1/chat/completions
for _ in $(seq 1 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer instr-proxy-key' -d '{}' "$URL") == 200 ]] && break
    sleep 0.2
done
cat >post.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"The quick brown fox jumps over the lazy dog while the benchmark measures proxy overhead."}],"stream":false}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer instr-proxy-key"
LUA
wrk -t1 -c"$CONNECTIONS" -d3s -s post.lua "$URL" >warmup.out
callgrind_control -z "$PROXY" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s post.lua "$URL" >load.out
callgrind_control -d "$PROXY" >/dev/null
requests=$(grep -oP '^\s+\K[0-9]+(?= requests in)' load.out)
instructions=$(cat callgrind.out* | grep -oP '^summary: \K[0-9]+' | sort -n | tail -1)
echo "gateway-proxy: $requests requests, $instructions instructions, $((instructions / requests)) per request"
echo "profile kept in $TMP"
