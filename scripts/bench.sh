#!/usr/bin/env bash
# Side-by-side load benchmark (`make bench`; see benches/README.md for how to read the output).
#
# One mock upstream (bench-upstream, a tiny hyper server answering a fixed chat.completion) is
# loaded with wrk through three targets:
#   direct   wrk -> mock                                  (the ceiling of this machine)
#   nginx    wrk -> nginx (1 worker, upstream keepalive)  -> mock   (the reference reverse proxy)
#   gateway  wrk -> gateway-proxy (1 thread, group of 10 keys, fresh SQLite) -> mock
# and, for the failover benchmark (`make bench-failover`):
#   gateway-4    the gateway with a group of 4 healthy keys
#   gateway-429  the gateway with a group of 4 keys of which one always answers 429
#                (OpenAI's rate_limit_exceeded with Retry-After: 1)
# and, for the request-logging benchmark (`make bench-logging`; `gateway` logs every request):
#   gateway-nolog  the gateway with a group of 10 keys and enable_request_logging off
#   gateway-limited  the gateway with a group of 10 keys under group and key rate limits (request
#                and token limits far above the load: the counting costs, nothing is refused)
# Each target is run RUNS times, interleaved (direct, nginx, gateway, direct, ...) so that drift of
# the machine hits every target alike; the report shows medians of requests/s, p50 and p99 latency
# and, for nginx and the gateway, the proxy's CPU time per request (utime+stime from /proc).
# wrk and the mock are pinned to CPU 0, the proxy under test to CPU 1 (when taskset and 2 CPUs exist).
#
# Environment (all optional):
#   RUNS=3            measured runs per target
#   DURATION=10s      length of each measured run (wrk -d)
#   WARMUP=2s         unmeasured run before the first measured one of each target ("0" = none)
#   CONNECTIONS=64    wrk connections (-c)
#   WRK_THREADS=1     wrk threads (-t)
#   TARGETS="direct nginx gateway"
#   MOCK_THREADS=1    worker threads of the mock
#   PIN=0             do not pin processes to CPUs
#   SKIP_BUILD=1      do not run `cargo build --workspace --release` first
#   RESULTS=benches/results/latest.md   where the markdown report is written
#   BIN_DIR=target/release             where the binaries are taken from
#   BENCH_DATABASE_DSN=                the gateway's database (default: a fresh SQLite file); give
#                                      an empty PostgreSQL/MySQL database to measure those
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-1}
TARGETS=${TARGETS:-direct nginx gateway}
MOCK_THREADS=${MOCK_THREADS:-1}
RESULTS=${RESULTS:-benches/results/latest.md}
BIN=${BIN_DIR:-$ROOT/target/release}

AUTH_KEY_VALUE=bench-auth-key-0123456789abcdef
PROXY_KEY=bench-proxy-key
GROUP=bench

HARNESS_NAME=bench
# shellcheck source=scripts/load-harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/load-harness.sh"

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer (got '$CONNECTIONS')"
for t in $TARGETS; do
    case $t in direct | nginx | gateway | gateway-4 | gateway-429 | gateway-nolog | gateway-limited) ;; *) die "unknown target '$t' (TARGETS takes direct, nginx, gateway, gateway-4, gateway-429, gateway-nolog, gateway-limited)" ;; esac
done
need=(wrk curl)
[[ " $TARGETS " == *" nginx "* ]] && need+=(nginx)
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] ||
        die "$tool is missing: apt-get install wrk nginx-light curl (or run 'make bench-deps')"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

choose_pinning "wrk + mock"
build_release
[[ -x $BIN/bench-upstream ]] || die "$BIN/bench-upstream not found (build with cargo build --workspace --release)"
wants_gateway() { [[ " $TARGETS " == *" gateway"* ]]; }
if wants_gateway; then
    for b in gateway-admin gateway-proxy; do
        [[ -x $BIN/$b ]] || die "$BIN/$b not found (build with cargo build --workspace --release)"
    done
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
chmod 755 "$TMP" # nginx workers may run as another user
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM




# Sum of utime+stime, in clock ticks, of a process and its direct children (nginx's workers).
# /proc/PID/stat of a process covers all of its threads; fields 14 and 15 are utime and stime,
# counted after the ")" closing the command name, which may itself contain spaces.
cpu_ticks() {
    local total=0 pid stat rest f
    for pid in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Request script: a POST of a ~1 KiB chat request, as a client of the gateway would send.

filler="The quick brown fox jumps over the lazy dog while the benchmark measures proxy overhead. "
content=""
while ((${#content} < 850)); do content+=$filler; done
body="{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},{\"role\":\"user\",\"content\":\"${content% }\"}],\"temperature\":0.2,\"max_tokens\":64,\"stream\":false}"
cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $PROXY_KEY"
EOF

# ---------------------------------------------------------------------------------------------
# Mock upstream.

LIMITED_KEY=sk-bench-rate-limited
"${PIN_CLIENT[@]}" "$BIN/bench-upstream" --port 0 --threads "$MOCK_THREADS" --limited-key "$LIMITED_KEY" --retry-after 1 >"$TMP/mock.out" 2>&1 &
PIDS+=($!)
wait_until 10 grep -q '^listening on ' "$TMP/mock.out" || die "bench-upstream did not start: $(cat "$TMP/mock.out")"
MOCK_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/mock.out")
MOCK_URL=http://127.0.0.1:$MOCK_PORT
log "mock upstream on $MOCK_URL"
MOCK_RESPONSE_BYTES=$(curl -s -o /dev/null -w '%{size_download}' -X POST "$MOCK_URL/v1/chat/completions")

declare -A URL PROXY_PID
URL[direct]=$MOCK_URL/v1/chat/completions

# ---------------------------------------------------------------------------------------------
# nginx: a plain reverse proxy with upstream keep-alive, one worker, no access log.

if [[ " $TARGETS " == *" nginx "* ]]; then
    NGINX_PORT=$(free_port)
    mkdir -p "$TMP/nginx"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    # wrk keeps its connections for the whole run; nginx would otherwise close them every 1000
    # requests (the gateway does not), which would measure reconnects instead of proxying.
    keepalive_requests 1000000;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    "${PIN_PROXY[@]}" "$NGINX" -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
    PROXY_PID[nginx]=$!
    PIDS+=("${PROXY_PID[nginx]}")
    wait_until 10 port_open "$NGINX_PORT" || die "nginx did not start: $(cat "$TMP/nginx/error.log" 2>/dev/null)"
    URL[nginx]=http://127.0.0.1:$NGINX_PORT/v1/chat/completions
    log "nginx on 127.0.0.1:$NGINX_PORT (pid ${PROXY_PID[nginx]})"
fi

# ---------------------------------------------------------------------------------------------
# Gateway: admin + proxy on a fresh SQLite, then a group of 10 keys created through the admin API.



if wants_gateway; then
    GW_PORT=$(free_port)
    ADMIN_PORT=$(free_port)
    [[ $ADMIN_PORT != "$GW_PORT" ]] || ADMIN_PORT=$(free_port)
    ADMIN=http://127.0.0.1:$ADMIN_PORT
    mkdir -p "$TMP/gateway"
    # Run in the temporary folder so neither config/gateway.toml nor a .env of the checkout applies.
    gw_env=(env -u GATEWAY_CONFIG -u REDIS_DSN -u ENCRYPTION_KEY
        -u HTTP_PROXY -u HTTPS_PROXY -u NO_PROXY -u http_proxy -u https_proxy -u no_proxy
        AUTH_KEY=$AUTH_KEY_VALUE HOST=127.0.0.1 PORT=$GW_PORT ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT
        DATABASE_DSN=${BENCH_DATABASE_DSN:-$TMP/gateway/gw.db} SERVER_THREADS=1 LOG_LEVEL=warn
        MAX_CONCURRENT_REQUESTS=$((CONNECTIONS * 4 > 100 ? CONNECTIONS * 4 : 100)))
    (cd "$TMP/gateway" && exec "${gw_env[@]}" "$BIN/gateway-admin") >"$TMP/gateway/admin.log" 2>&1 &
    PIDS+=($!)
    wait_until 30 port_open "$ADMIN_PORT" || die "gateway-admin did not start: $(tail -n 20 "$TMP/gateway/admin.log")"
    (cd "$TMP/gateway" && exec "${PIN_PROXY[@]}" "${gw_env[@]}" "$BIN/gateway-proxy") >"$TMP/gateway/proxy.log" 2>&1 &
    PROXY_PID[gateway]=$!
    PIDS+=("${PROXY_PID[gateway]}")
    wait_until 30 port_open "$GW_PORT" || die "gateway-proxy did not start: $(tail -n 20 "$TMP/gateway/proxy.log")"

    auth=(-H "Authorization: Bearer $AUTH_KEY_VALUE" -H "Content-Type: application/json")
    create_group() { # name comma-separated-keys [config-json]
        local reply id config=${3:-"{}"}
        reply=$(curl -sS --max-time 10 "${auth[@]}" -X POST "$ADMIN/api/groups" \
            -d "{\"name\":\"$1\",\"channel_type\":\"openai\",\"upstreams\":[{\"url\":\"$MOCK_URL\",\"weight\":1}],\"test_model\":\"gpt-4o-mini\",\"proxy_keys\":\"$PROXY_KEY\",\"config\":$config}") ||
            die "POST /api/groups failed"
        id=$(json_id <<<"$reply") || die "POST /api/groups: unexpected reply: $reply"
        reply=$(curl -sS --max-time 30 "${auth[@]}" -X POST "$ADMIN/api/keys/add-multiple" \
            -d "{\"group_id\":$id,\"keys_text\":\"$2\"}") || die "POST /api/keys/add-multiple failed"
        json_ok <<<"$reply" || die "POST /api/keys/add-multiple: unexpected reply: $reply"
        echo "$id"
    }
    keys=$(printf 'sk-bench-%d,' $(seq 0 9))
    GROUP_ID=$(create_group "$GROUP" "${keys%,}")
    create_group bench4 "sk-bench4-0,sk-bench4-1,sk-bench4-2,sk-bench4-3" >/dev/null
    create_group bench429 "$LIMITED_KEY,sk-bench429-1,sk-bench429-2,sk-bench429-3" >/dev/null
    nolog_keys=$(printf 'sk-benchnolog-%d,' $(seq 0 9))
    create_group benchnolog "${nolog_keys%,}" '{"enable_request_logging":false}' >/dev/null
    limited_keys=$(printf 'sk-benchlimited-%d,' $(seq 0 9))
    create_group benchlimited "${limited_keys%,}" \
        '{"group_rpm_limit":1000000000,"group_tpm_limit":1000000000,"key_rpm_limit":1000000000,"key_tpm_limit":1000000000}' >/dev/null
    URL[gateway]=http://127.0.0.1:$GW_PORT/proxy/$GROUP/v1/chat/completions
    URL[gateway-4]=http://127.0.0.1:$GW_PORT/proxy/bench4/v1/chat/completions
    URL[gateway-429]=http://127.0.0.1:$GW_PORT/proxy/bench429/v1/chat/completions
    URL[gateway-nolog]=http://127.0.0.1:$GW_PORT/proxy/benchnolog/v1/chat/completions
    URL[gateway-limited]=http://127.0.0.1:$GW_PORT/proxy/benchlimited/v1/chat/completions
    PROXY_PID[gateway-limited]=${PROXY_PID[gateway]}
    PROXY_PID[gateway-nolog]=${PROXY_PID[gateway]}
    PROXY_PID[gateway-4]=${PROXY_PID[gateway]}
    PROXY_PID[gateway-429]=${PROXY_PID[gateway]}

    gateway_ready() {
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H "Authorization: Bearer $PROXY_KEY" \
            -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[]}' "${URL[gateway]}") == 200 ]]
    }
    wait_until 30 gateway_ready || die "the gateway never answered 200 on ${URL[gateway]}: $(tail -n 20 "$TMP/gateway/proxy.log")"
    log "gateway on 127.0.0.1:$GW_PORT (pid ${PROXY_PID[gateway]}), admin on $ADMIN, group '$GROUP' id $GROUP_ID with 10 keys, groups bench4 and bench429 with 4 keys each"
fi

# ---------------------------------------------------------------------------------------------
# Runs.

# Converts a wrk latency ("317.00us", "1.05ms", "2.00s", "1.00m") to microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000;
        else if (u == "m") f = 60000000; else if (u == "h") f = 3600000000; else f = -1
        if (f < 0) print "nan"; else printf "%.1f\n", n * f
    }'
}

# Median of the numbers on stdin, printed with printf format $1 ("-" when there are none).
median() {
    sort -g | awk -v fmt="$1\n" '{ a[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf fmt, m
    }'
}

declare -A RPS P50 P99 CPU ERRS
run_wrk() { # target duration output-file
    "${PIN_CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$2" -s "$TMP/post.lua" --latency "${URL[$1]}" >"$3" 2>&1
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $WARMUP != 0 ]]; then
    for t in $TARGETS; do
        log "warm-up $t ($WARMUP)"
        run_wrk "$t" "$WARMUP" "$TMP/warmup-$t.txt" || die "wrk failed on $t: $(cat "$TMP/warmup-$t.txt")"
    done
fi

for ((run = 1; run <= RUNS; run++)); do
    for t in $TARGETS; do
        out=$TMP/run-$t-$run.txt
        pid=${PROXY_PID[$t]:-}
        [[ -n $pid ]] && before=$(cpu_ticks "$pid")
        run_wrk "$t" "$DURATION" "$out" || die "wrk failed on $t: $(cat "$out")"
        [[ -n $pid ]] && after=$(cpu_ticks "$pid")

        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
        total=$(awk '/ requests in / { print $1 }' "$out")
        p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
        p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
        non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
        sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
        errs=$((${non2xx:-0} + ${sockerr:-0}))
        [[ -n $rps && -n $total ]] || die "could not parse wrk output: $(cat "$out")"

        RPS[$t]+="$rps "
        P50[$t]+="$p50 "
        P99[$t]+="$p99 "
        ERRS[$t]+="$errs "
        line="run $run/$RUNS $t: $rps req/s, p50 ${p50}us, p99 ${p99}us"
        if [[ -n $pid ]]; then
            cpu_us=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$total" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
            CPU[$t]+="$cpu_us "
            line+=", proxy CPU ${cpu_us}us/req"
        fi
        ((errs == 0)) || line+=", $errs errors/non-2xx"
        log "$line"
    done
done

# ---------------------------------------------------------------------------------------------
# Report.

med() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median "${2:-%.0f}"; }

{
    echo "# Gateway load benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); load average before the runs: $LOADAVG (anything well above 0 means something else competed for the CPUs)"
    echo "- load: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, POST ${#body}-byte JSON body, response $MOCK_RESPONSE_BYTES bytes; warm-up $WARMUP"
    echo "- pinning: $PINNING; mock threads: $MOCK_THREADS; nginx: 1 worker; gateway: SERVER_THREADS=1, 10 keys, every request logged to SQLite (gateway-nolog: the same with enable_request_logging off; gateway-4: 4 healthy keys; gateway-429: 4 keys, one always answering 429 with Retry-After: 1; gateway-limited: 10 keys under group and key request and token limits that never refuse)"
    echo "- medians of $RUNS run(s) per target (runs interleaved)"
    echo
    echo "| target | req/s | p50 latency (µs) | p99 latency (µs) | proxy CPU per request (µs) | errors + non-2xx (median) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in $TARGETS; do
        echo "| $t | $(med "${RPS[$t]}") | $(med "${P50[$t]}") | $(med "${P99[$t]}") | $(med "${CPU[$t]:-}" %.2f) | $(med "${ERRS[$t]}") |"
    done
    if [[ " $TARGETS " == *" nginx "* && " $TARGETS " == *" gateway "* ]]; then
        echo
        awk -v g="$(med "${RPS[gateway]}")" -v n="$(med "${RPS[nginx]}")" \
            'BEGIN { printf "gateway / nginx requests/s: **%.2f**\n", g / n }'
        awk -v g="$(med "${CPU[gateway]}" %.3f)" -v n="$(med "${CPU[nginx]}" %.3f)" \
            'BEGIN { if (n > 0) printf "\ngateway / nginx CPU per request: **%.2f**\n", g / n }'
    fi
    if [[ " $TARGETS " == *" gateway "* && " $TARGETS " == *" gateway-nolog "* ]]; then
        echo
        awk -v on="$(med "${RPS[gateway]}")" -v off="$(med "${RPS[gateway-nolog]}")" \
            'BEGIN { printf "request logging on / off, requests/s: **%.2f**\n", on / off }'
        awk -v on="$(med "${CPU[gateway]}" %.3f)" -v off="$(med "${CPU[gateway-nolog]}" %.3f)" \
            'BEGIN { if (off > 0) printf "\nrequest logging on / off, proxy CPU per request: **%.2f**\n", on / off }'
    fi
    if [[ " $TARGETS " == *" gateway "* && " $TARGETS " == *" gateway-limited "* ]]; then
        echo
        awk -v l="$(med "${RPS[gateway-limited]}")" -v g="$(med "${RPS[gateway]}")" \
            'BEGIN { printf "rate limits counting / no limits, requests/s: **%.2f**\n", l / g }'
        awk -v l="$(med "${CPU[gateway-limited]}" %.3f)" -v g="$(med "${CPU[gateway]}" %.3f)" \
            'BEGIN { if (g > 0) printf "\nrate limits counting / no limits, proxy CPU per request: **%.2f**\n", l / g }'
    fi
    if [[ " $TARGETS " == *" gateway-4 "* && " $TARGETS " == *" gateway-429 "* ]]; then
        echo
        awk -v f="$(med "${RPS[gateway-429]}")" -v h="$(med "${RPS[gateway-4]}")" \
            'BEGIN { printf "1 of 4 keys answering 429 / all 4 healthy, requests/s: **%.2f**\n", f / h }'
        awk -v f="$(med "${P99[gateway-429]}")" -v h="$(med "${P99[gateway-4]}")" \
            'BEGIN { printf "\n1 of 4 keys answering 429 / all 4 healthy, p99 latency: **%.2f**\n", f / h }'
    fi
    echo
    echo "Each run: \`RUNS=$RUNS DURATION=$DURATION CONNECTIONS=$CONNECTIONS TARGETS=\"$TARGETS\" scripts/bench.sh\`"
} >"$TMP/report.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/report.md" "$RESULTS"
cat "$TMP/report.md"
log "written to $RESULTS"
