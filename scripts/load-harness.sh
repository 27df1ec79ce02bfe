# Shell functions the load scripts share (scripts/bench.sh, scripts/soak.sh); sourced, not run.
# Set HARNESS_NAME (the prefix of messages) before sourcing. The caller keeps the pids it starts
# in the array PIDS and its scratch folder in TMP, and installs `trap cleanup EXIT`.

die() {
    echo "$HARNESS_NAME: $*" >&2
    exit 1
}
log() { echo "$HARNESS_NAME: $*" >&2; }

# Stops every process in PIDS (TERM, then KILL after 5 s) and removes TMP (kept with KEEP_TMP).
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${KEEP_TMP:-} ]]; then log "logs kept in $TMP"; else rm -rf "$TMP"; fi
}

# True when something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on now (another program may still take it before we bind it).
free_port() {
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 30000))
        if ! port_open "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# Polls CMD... once every 0.1 s for up to $1 seconds.
wait_until() {
    local seconds=$1
    shift
    for _ in $(seq $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# True when the admin API's answer on stdin has "code": 0.
json_ok() {
    if command -v jq >/dev/null 2>&1; then jq -e '.code == 0' >/dev/null; else grep -Eq '"code"[[:space:]]*:[[:space:]]*0[,}]'; fi
}

# The `data.id` of the admin API's answer on stdin.
json_id() {
    if command -v jq >/dev/null 2>&1; then
        jq -er '.data.id'
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json, sys; print(int(json.load(sys.stdin)["data"]["id"]))' 2>/dev/null
    else
        tr -d ' \n' | sed -n 's/.*"data":{\(.*,\)\{0,1\}"id":\([0-9][0-9]*\).*/\2/p' | head -n1 | grep .
    fi
}

# CPU pinning: the load generator and the mock ($1 names them) on CPU 0, the proxy under test on
# CPU 1. Sets PIN_CLIENT and PIN_PROXY (command prefixes) and PINNING (for the report); PIN=0 or
# fewer than 2 CPUs turn it off.
choose_pinning() {
    if [[ ${PIN:-1} != 0 ]] && command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
        PIN_CLIENT=(taskset -c 0)
        PIN_PROXY=(taskset -c 1)
        PINNING="$1 on CPU 0, proxy on CPU 1"
    else
        PIN_CLIENT=()
        PIN_PROXY=()
        PINNING="none (PIN=0, taskset missing or fewer than 2 CPUs)"
    fi
}

# The release build, unless SKIP_BUILD is set.
build_release() {
    if [[ -z ${SKIP_BUILD:-} ]]; then
        log "building (cargo build --workspace --release)"
        cargo build --workspace --release
    fi
}
