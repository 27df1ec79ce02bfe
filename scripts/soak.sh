#!/usr/bin/env bash
# Memory soak of the proxy (`make soak`; see benches/README.md, "Soak", for how to read the report).
#
# A fixed rate of chat requests for a long time, a share of them streamed, through the proxy to a
# mock provider that injects faults, while the proxy's RSS is sampled:
#   soak-load (open loop, RATE req/s, STREAMS of them "stream": true, at most CONNECTIONS keep-alive)
#     -> gateway-proxy (1 thread, fresh SQLite, group "soak" of KEYS keys, request logging LOGGING)
#     -> bench-upstream --sse --faults FAULTS (evenly: 500; 429 with Retry-After: 1; connection
#        dropped before the answer; 200 whose body is cut halfway)
# soak-load (benches/src/bin/soak_load.rs) reads VmRSS of gateway-proxy and gateway-admin every
# SAMPLE and writes the report: RSS every minute, RSS at the end of WARMUP against the end, the
# least-squares slope after WARMUP, and "RSS flat after warm-up: yes|no" (slope <= THRESHOLD).
# The proxy's /metrics (METRICS_LISTEN) are scraped at the end. soak-load and the mock are pinned
# to CPU 0, the proxy to CPU 1 (when taskset and 2 CPUs exist). Not part of `make test` or CI.
#
# Environment (all optional):
#   DURATION=30m      length of the load (500ms, 90s, 30m, 1h or plain seconds)
#   RATE=1000         requests per second, held whatever the latency
#   STREAMS=0.1       share of requests sending "stream": true (SSE read to data: [DONE])
#   FAULTS=0.05       share of upstream answers that are faults (the four kinds evenly)
#   WARMUP=2m         samples before this are left out of the slope
#   SAMPLE=10s        RSS sampling interval
#   THRESHOLD=0.2     largest slope after the warm-up still called flat, MB (MiB) per minute
#   LOGGING=on        the group's enable_request_logging: on or off
#   KEYS=100          keys in the group (at 1000 req/s with FAULTS=0.05 each key gets a 429 about
#                     every 8 s and rests 1 s; with few keys the group would mostly rest)
#   CONNECTIONS=64    keep-alive connections of soak-load (and the bound of its queue)
#   PROXY_THREADS=1   the proxy's SERVER_THREADS
#   PROXY_PORT= ADMIN_PORT= METRICS_PORT=   loopback ports (default: free ones picked at random);
#                     the run is refused when one is busy
#   PIN=0             do not pin processes to CPUs
#   SKIP_BUILD=1      do not run `cargo build --workspace --release` first
#   BIN_DIR=target/release             where the binaries are taken from
#   RESULTS=benches/results/soak.md    where the markdown report is written
#   STRICT=1          exit 1 when the verdict is not "yes"
#   KEEP_TMP=1        keep the temporary folder (logs, database)
#
# A short smoke run: DURATION=60s WARMUP=20s make soak
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-30m}
RATE=${RATE:-1000}
STREAMS=${STREAMS:-0.1}
FAULTS=${FAULTS:-0.05}
WARMUP=${WARMUP:-2m}
SAMPLE=${SAMPLE:-10s}
THRESHOLD=${THRESHOLD:-0.2}
LOGGING=${LOGGING:-on}
KEYS=${KEYS:-100}
CONNECTIONS=${CONNECTIONS:-64}
PROXY_THREADS=${PROXY_THREADS:-1}
RESULTS=${RESULTS:-benches/results/soak.md}
BIN=${BIN_DIR:-$ROOT/target/release}

AUTH_KEY_VALUE=soak-auth-key-0123456789abcdef
PROXY_KEY=soak-proxy-key
GROUP=soak

HARNESS_NAME=soak
# shellcheck source=scripts/load-harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/load-harness.sh"

duration_re='^[0-9]+(\.[0-9]+)?(ms|s|m|h)?$'
fraction_re='^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$'
number_re='^[0-9]+(\.[0-9]+)?$'
for v in DURATION WARMUP SAMPLE; do
    [[ ${!v} =~ $duration_re ]] || die "$v must be a duration like 90s, 30m, 1h (got '${!v}')"
done
for v in STREAMS FAULTS; do
    [[ ${!v} =~ $fraction_re ]] || die "$v must be a fraction from 0 to 1 (got '${!v}')"
done
[[ $RATE =~ $number_re ]] && awk -v r="$RATE" 'BEGIN { exit !(r > 0) }' || die "RATE must be a positive number (got '$RATE')"
[[ $THRESHOLD =~ $number_re ]] || die "THRESHOLD must be a number of MB per minute (got '$THRESHOLD')"
[[ $KEYS =~ ^[1-9][0-9]*$ ]] || die "KEYS must be a positive integer (got '$KEYS')"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer (got '$CONNECTIONS')"
[[ $PROXY_THREADS =~ ^[1-9][0-9]*$ ]] || die "PROXY_THREADS must be a positive integer (got '$PROXY_THREADS')"
case $LOGGING in
    on) LOGGING_JSON=true ;;
    off) LOGGING_JSON=false ;;
    *) die "LOGGING must be on or off (got '$LOGGING')" ;;
esac

# A duration (as validated above) in milliseconds.
millis_of() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "ms") ? 1 : (u == "m") ? 60000 : (u == "h") ? 3600000 : 1000
        printf "%d\n", n * f
    }'
}
DURATION_MS=$(millis_of "$DURATION")
WARMUP_MS=$(millis_of "$WARMUP")
SAMPLE_MS=$(millis_of "$SAMPLE")
((DURATION_MS > 0)) || die "DURATION must be above 0"
((SAMPLE_MS > 0)) || die "SAMPLE must be above 0"
((WARMUP_MS < DURATION_MS)) || die "WARMUP ($WARMUP) must be shorter than DURATION ($DURATION)"
# Samples are taken every SAMPLE and at the end: the slope needs one at or after WARMUP before the end.
(((WARMUP_MS + SAMPLE_MS - 1) / SAMPLE_MS * SAMPLE_MS < DURATION_MS)) ||
    log "warning: fewer than 2 samples after the warm-up; the verdict will be 'unknown' (shorten SAMPLE or WARMUP)"

for tool in curl timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: apt-get install curl coreutils"
done

choose_pinning "soak-load + mock"
build_release
for b in bench-upstream soak-load gateway-admin gateway-proxy; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not found (build with cargo build --workspace --release)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gateway-soak.XXXXXX")
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM




# True while process $1 runs and something listens on port $2 (the process itself, unless another
# program took the port in between: then the process fails to bind and exits).
alive_and_listening() { kill -0 "$1" 2>/dev/null && port_open "$2"; }

PROXY_PORT=${PROXY_PORT:-$(free_port)}
ADMIN_PORT=${ADMIN_PORT:-$(free_port)}
METRICS_PORT=${METRICS_PORT:-$(free_port)}
for v in PROXY_PORT ADMIN_PORT METRICS_PORT; do
    [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] && ((${!v} < 65536)) || die "$v must be a port number (got '${!v}')"
    if port_open "${!v}"; then
        die "port ${!v} ($v) is busy: something already listens on 127.0.0.1:${!v}; refusing to run"
    fi
done
[[ $PROXY_PORT != "$ADMIN_PORT" && $PROXY_PORT != "$METRICS_PORT" && $ADMIN_PORT != "$METRICS_PORT" ]] ||
    die "PROXY_PORT, ADMIN_PORT and METRICS_PORT must differ ($PROXY_PORT, $ADMIN_PORT, $METRICS_PORT)"

# ---------------------------------------------------------------------------------------------
# Mock upstream: streams on "stream": true, a share FAULTS of its answers are faults.

"${PIN_CLIENT[@]}" "$BIN/bench-upstream" --port 0 --threads 1 --sse --faults "$FAULTS" --retry-after 1 >"$TMP/mock.out" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_until 10 grep -q '^listening on ' "$TMP/mock.out" || die "bench-upstream did not start: $(cat "$TMP/mock.out")"
MOCK_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/mock.out")
MOCK_URL=http://127.0.0.1:$MOCK_PORT
log "mock upstream on $MOCK_URL (pid $MOCK_PID), faults $FAULTS"

# ---------------------------------------------------------------------------------------------
# Gateway: admin + proxy on a fresh SQLite, then the group through the admin API.

mkdir -p "$TMP/gateway"
ADMIN=http://127.0.0.1:$ADMIN_PORT
# Run in the temporary folder so neither config/gateway.toml nor a .env of the checkout applies.
gw_env=(env -u GATEWAY_CONFIG -u REDIS_DSN -u ENCRYPTION_KEY
    -u HTTP_PROXY -u HTTPS_PROXY -u NO_PROXY -u http_proxy -u https_proxy -u no_proxy
    AUTH_KEY=$AUTH_KEY_VALUE HOST=127.0.0.1 PORT=$PROXY_PORT ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT
    METRICS_LISTEN=127.0.0.1:$METRICS_PORT DATABASE_DSN=$TMP/gateway/gw.db
    SERVER_THREADS=$PROXY_THREADS LOG_LEVEL=warn
    MAX_CONCURRENT_REQUESTS=$((CONNECTIONS * 4 > 100 ? CONNECTIONS * 4 : 100)))
(cd "$TMP/gateway" && exec "${gw_env[@]}" "$BIN/gateway-admin") >"$TMP/gateway/admin.log" 2>&1 &
ADMIN_PID=$!
PIDS+=("$ADMIN_PID")
wait_until 30 alive_and_listening "$ADMIN_PID" "$ADMIN_PORT" || die "gateway-admin did not start: $(tail -n 20 "$TMP/gateway/admin.log")"
(cd "$TMP/gateway" && exec "${PIN_PROXY[@]}" "${gw_env[@]}" "$BIN/gateway-proxy") >"$TMP/gateway/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_until 30 alive_and_listening "$PROXY_PID" "$PROXY_PORT" || die "gateway-proxy did not start: $(tail -n 20 "$TMP/gateway/proxy.log")"
[[ $(cat "/proc/$PROXY_PID/comm" 2>/dev/null) == gateway-proxy ]] ||
    die "pid $PROXY_PID is not gateway-proxy; its RSS would be the wrong one"


auth=(-H "Authorization: Bearer $AUTH_KEY_VALUE" -H "Content-Type: application/json")
reply=$(curl -sS --max-time 10 "${auth[@]}" -X POST "$ADMIN/api/groups" \
    -d "{\"name\":\"$GROUP\",\"channel_type\":\"openai\",\"upstreams\":[{\"url\":\"$MOCK_URL\",\"weight\":1}],\"test_model\":\"gpt-4o-mini\",\"proxy_keys\":\"$PROXY_KEY\",\"config\":{\"enable_request_logging\":$LOGGING_JSON}}") ||
    die "POST /api/groups failed"
GROUP_ID=$(json_id <<<"$reply") || die "POST /api/groups: unexpected reply: $reply"
keys=$(printf 'sk-soak-%d,' $(seq 0 $((KEYS - 1))))
reply=$(curl -sS --max-time 60 "${auth[@]}" -X POST "$ADMIN/api/keys/add-multiple" \
    -d "{\"group_id\":$GROUP_ID,\"keys_text\":\"${keys%,}\"}") || die "POST /api/keys/add-multiple failed"
json_ok <<<"$reply" || die "POST /api/keys/add-multiple: unexpected reply: $reply"

GW_URL=http://127.0.0.1:$PROXY_PORT
gateway_ready() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H "Authorization: Bearer $PROXY_KEY" \
        -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[]}' \
        "$GW_URL/proxy/$GROUP/v1/chat/completions") == 200 ]]
}
wait_until 30 gateway_ready || die "the gateway never answered 200 on $GW_URL/proxy/$GROUP/v1/chat/completions: $(tail -n 20 "$TMP/gateway/proxy.log")"
metrics() { curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }
metrics >/dev/null || log "warning: the proxy's metrics do not answer on 127.0.0.1:$METRICS_PORT/metrics"
log "gateway on $GW_URL (pid $PROXY_PID), admin on $ADMIN (pid $ADMIN_PID), metrics on 127.0.0.1:$METRICS_PORT; group '$GROUP' id $GROUP_ID with $KEYS keys, request logging $LOGGING"

# ---------------------------------------------------------------------------------------------
# The run. soak-load stops itself after DURATION + 10 s of grace; `timeout` is the safety net.
# It runs in the background so that Ctrl-C or a TERM reaches this script at once (the trap then
# stops it with everything else); its CSV lines go to stderr, its report to loader.md.

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
LIMIT_S=$(((DURATION_MS + 999) / 1000 + 90))
log "load: $RATE req/s for $DURATION ($STREAMS streams, upstream faults $FAULTS), warm-up $WARMUP, a sample every $SAMPLE (CSV lines below; the report at the end)"
"${PIN_CLIENT[@]}" timeout --kill-after=10 "$LIMIT_S" "$BIN/soak-load" \
    --url "$GW_URL" --group "$GROUP" --key "$PROXY_KEY" \
    --rate "$RATE" --duration "$DURATION" --streams "$STREAMS" \
    --warmup "$WARMUP" --sample "$SAMPLE" --threshold "$THRESHOLD" \
    --connections "$CONNECTIONS" --grace 10s \
    --pid "$PROXY_PID" --admin-pid "$ADMIN_PID" >"$TMP/loader.md" &
LOADER_PID=$!
PIDS+=("$LOADER_PID")
status=0
wait "$LOADER_PID" || status=$?
((status == 0)) || die "soak-load failed (exit $status); proxy log: $(tail -n 20 "$TMP/gateway/proxy.log")"
kill -0 "$PROXY_PID" 2>/dev/null || log "warning: gateway-proxy is no longer running: $(tail -n 20 "$TMP/gateway/proxy.log")"

# The proxy after the load: connections closed, request-log queue drained?
sleep 2
METRICS=$(metrics | grep -E '^(gateway_request_log_queue_depth|gateway_request_log_dropped_total|gateway_request_log_written_total|gateway_request_log_write_failures_total|gateway_client_connections|gateway_inflight_requests|gateway_streaming_responses)( |\{)' || true)
IDLE_RSS=$(awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$PROXY_PID/status" 2>/dev/null || true)
DB_SIZE=$(du -sk "$TMP/gateway" 2>/dev/null | awk '{ printf "%.1f MB", $1 / 1024 }')

# ---------------------------------------------------------------------------------------------
# Report.

{
    echo "# Proxy memory soak"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); load average before the run: $LOADAVG (anything well above 0 means something else competed for the CPUs)"
    echo "- settings: DURATION=$DURATION RATE=$RATE STREAMS=$STREAMS FAULTS=$FAULTS WARMUP=$WARMUP SAMPLE=$SAMPLE THRESHOLD=$THRESHOLD LOGGING=$LOGGING KEYS=$KEYS CONNECTIONS=$CONNECTIONS PROXY_THREADS=$PROXY_THREADS"
    echo "- gateway: release build, SERVER_THREADS=$PROXY_THREADS, LOG_LEVEL=warn, fresh SQLite, one group of $KEYS keys with enable_request_logging $LOGGING; upstream: bench-upstream --sse --faults $FAULTS (500; 429 with Retry-After: 1; connection dropped before the answer; 200 with the body cut halfway; evenly)"
    echo "- pinning: $PINNING"
    echo
    cat "$TMP/loader.md"
    echo
    echo "### The proxy after the load (2 s idle)"
    echo
    echo "- RSS: ${IDLE_RSS:-unknown (the process is gone)}; database folder (SQLite + request-log spool): ${DB_SIZE:-unknown}"
    echo
    echo '```text'
    if [[ -n $METRICS ]]; then echo "$METRICS"; else echo "(the metrics did not answer on 127.0.0.1:$METRICS_PORT/metrics)"; fi
    echo '```'
    echo
    echo "Run: \`DURATION=$DURATION RATE=$RATE STREAMS=$STREAMS FAULTS=$FAULTS WARMUP=$WARMUP LOGGING=$LOGGING scripts/soak.sh\`"
} >"$TMP/report.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/report.md" "$RESULTS"
cat "$TMP/report.md"
VERDICT=$(grep -o 'RSS flat after warm-up: [a-z]*' "$TMP/loader.md" | head -n1 || true)
log "${VERDICT:-no verdict found}; written to $RESULTS"
if [[ -n ${STRICT:-} && $VERDICT != "RSS flat after warm-up: yes" ]]; then
    exit 1
fi
