#!/usr/bin/env bash
# Stops the gateway started by scripts/run.sh (what `make run` runs) RUNS times in a row (default
# 20) the way a terminal, `timeout`, a container runtime or a supervisor does: SIGTERM to the whole
# process group. Every other run is started by make itself (a makefile with the `run` target's
# recipe and shell settings), which forwards the SIGTERM to run.sh, a second one; the runs between
# start run.sh alone in its own process group and send it that second SIGTERM by hand, 0 to 300 ms
# after the group's. Before each stop the proxy answers /health and serves a few requests through
# a group whose upstream is a local mock; after it, within a bounded wait: no gateway-proxy or
# gateway-admin of the run is alive, neither is run.sh, its pid file is gone, the ports are free,
# and the request logs of exactly those requests are in the database (they are written in
# batches, so only a graceful stop writes them). The first run also checks that a second run.sh
# on the same port refuses to start and leaves the first one alone.
#
# Loopback only, ports picked free for each invocation, SQLite in a fresh temporary folder; about
# 20 s, never more than BUDGET (240 s) plus one run.
#   scripts/test-run-stop.sh          BIN_DIR (default target/debug), RUNS (20),
#                                     RUN_SH (the launcher under test, default scripts/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=$(cd "${BIN_DIR:-target/debug}" && pwd)
RUNS=${RUNS:-20}
RUN_SH=$(cd "$(dirname "${RUN_SH:-scripts/run.sh}")" && pwd)/$(basename "${RUN_SH:-scripts/run.sh}")
# Seconds the whole test may take; runs not started by then count as failed.
BUDGET=${BUDGET:-240}
# Seconds a stop may take before it counts as failed (run.sh's STOP_TIMEOUT is set below it).
STOP_WAIT=25
# Delays between the group's SIGTERM and the second one to run.sh, for the runs without make.
DELAYS=(0 0 0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.3)

for bin in gateway-proxy gateway-admin; do
    [[ -x $BIN_DIR/$bin ]] || { echo "$BIN_DIR/$bin not found: build it first (cargo build --workspace)" >&2; exit 2; }
done
for tool in python3 curl make setsid; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

work=$(mktemp -d)
db=$work/gateway.db
mock_pid=
launcher_pid=
launcher_pgid=

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin_port=$(free_port)
metrics_port=$(free_port)
while [[ $admin_port == "$port" ]]; do admin_port=$(free_port); done
while [[ $metrics_port == "$port" || $metrics_port == "$admin_port" ]]; do metrics_port=$(free_port); done
run_pid_file=/tmp/gateway-run-$port.pid
base=http://127.0.0.1:$port
auth_key=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
group=runstop

# The gateway's environment: everything that matters set here, the machine's outbound proxies left
# out (the mock is on loopback).
gateway_env=(
    env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy
    -u NO_PROXY -u no_proxy -u GATEWAY_CONFIG -u MAKEFLAGS -u MFLAGS -u MAKELEVEL
    AUTH_KEY="$auth_key" DATABASE_DSN="$db" HOST=127.0.0.1 PORT="$port"
    ADMIN_LISTEN="127.0.0.1:$admin_port" METRICS_LISTEN="127.0.0.1:$metrics_port"
    REDIS_DSN= LOG_LEVEL=warn BIN_DIR="$BIN_DIR" STOP_TIMEOUT=15
)

sql() {
    if command -v sqlite3 >/dev/null; then
        sqlite3 -cmd '.timeout 5000' "$db" "$1"
    else
        python3 - "$db" "$1" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=5)
for row in con.execute(sys.argv[2]):
    print("|".join(str(v) for v in row))
PY
    fi
}

# Whether PID runs (a zombie does not: an orphan waits for init to reap it, which may be slow).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Pids of gateway processes of this test (whatever started them): those whose environment has
# this test's DATABASE_DSN.
gateway_pids() {
    local d comm
    for d in /proc/[0-9]*; do
        comm=
        { read -r comm <"$d/comm"; } 2>/dev/null || continue
        [[ $comm == gateway-proxy || $comm == gateway-admin ]] || continue
        grep -qzxF "DATABASE_DSN=$db" "$d/environ" 2>/dev/null && echo "${d#/proc/}"
    done
    return 0
}

port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
except OSError:
    sys.exit(1)
PY
}

# Stops what a failed run left behind (gracefully first, so its request logs are written), so
# that the next run starts from a clean state.
clean_up_run() {
    local pids pid i
    [[ -n $launcher_pgid ]] && kill -TERM -- "-$launcher_pgid" 2>/dev/null || true
    mapfile -t pids < <(gateway_pids)
    ((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        [[ -z $(gateway_pids) ]] && ! { [[ -n $launcher_pid ]] && kill -0 "$launcher_pid" 2>/dev/null; } && break
        sleep 0.1
    done
    mapfile -t pids < <(gateway_pids)
    ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null || true
    [[ -n $launcher_pgid ]] && kill -KILL -- "-$launcher_pgid" 2>/dev/null || true
    if [[ -n $launcher_pid ]]; then
        wait "$launcher_pid" 2>/dev/null || true
    fi
    launcher_pid=
    launcher_pgid=
    # A pid file whose run.sh is gone (the failure being tested) would only confuse the next run.
    if [[ -f $run_pid_file ]] && ! alive "$(cat "$run_pid_file" 2>/dev/null)"; then
        rm -f "$run_pid_file"
    fi
}

finish() {
    local rc=$?
    clean_up_run
    if [[ -n $mock_pid ]]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap finish EXIT

# The mock upstream: OpenAI-like answers on POST /v1/chat/completions.
cat >"$work/mock.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.dumps({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY
python3 "$work/mock.py" "$work/mock.port.tmp" >"$work/mock.log" 2>&1 &
mock_pid=$!
for ((i = 0; i < 100; i++)); do
    [[ -s $work/mock.port.tmp ]] && break
    sleep 0.05
done
mock_port=$(cat "$work/mock.port.tmp" 2>/dev/null || true)
[[ -n $mock_port ]] || { echo "the mock upstream did not start:" >&2; cat "$work/mock.log" >&2; exit 1; }

# `make run` reduced to its last step: the same shell settings as the Makefile, then run.sh.
cat >"$work/run.mk" <<EOF
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
run:
	$RUN_SH
EOF

api() {
    curl -sS --noproxy '*' --max-time 10 -H "Authorization: Bearer $auth_key" \
        -H 'Content-Type: application/json' -X "$1" "$base$2" -d "$3"
}

# Waits until the proxy's /health answers 200 (false if the launcher exits or 30 s pass).
wait_healthy() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ $(curl -s --noproxy '*' --max-time 1 -o /dev/null -w '%{http_code}' "$base/health") == 200 ]] && return 0
        kill -0 "$launcher_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Creates the group once (the database outlives the runs) and waits until the proxy routes to it.
setup_group() {
    local id revision routed i
    id=$(api POST /api/groups '{"name":"'$group'","channel_type":"openai","test_model":"gpt-4o-mini","upstreams":[{"url":"http://127.0.0.1:'"$mock_port"'","weight":1}]}' |
        sed -n 's/.*"data":{"id":\([0-9]*\).*/\1/p')
    [[ -n $id ]] || return 1
    api POST /api/keys/add-multiple '{"group_id":'"$id"',"keys_text":"sk-mock-1"}' | grep -q '"added_count":1' || return 1
    revision=$(sql 'SELECT revision FROM config_revision WHERE id = 1')
    for ((i = 0; i < 100; i++)); do
        routed=$(curl -s --noproxy '*' --max-time 1 "$base/health" | sed -n 's/.*"routing_revision":\([0-9]*\).*/\1/p')
        ((${routed:-0} >= revision)) && return 0
        sleep 0.1
    done
    return 1
}

proxied_request() {
    [[ $(curl -s --noproxy '*' --max-time 10 -o "$work/response" -w '%{http_code}' \
        -H "Authorization: Bearer $auth_key" -H 'Content-Type: application/json' \
        -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
        "$base/proxy/$group/v1/chat/completions") == 200 ]]
}

# A second run.sh on the same port must refuse (non-zero, quickly) and leave the pid file alone.
check_refusal() {
    local out=$work/second.log rc=0 i
    "${gateway_env[@]}" "$RUN_SH" >"$out" 2>&1 </dev/null &
    local second=$!
    for ((i = 0; i < 100; i++)); do
        kill -0 "$second" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$second" 2>/dev/null; then
        kill -TERM "$second" 2>/dev/null || true
        wait "$second" 2>/dev/null || true
        echo "a second run.sh on port $port did not refuse to start (still running after 10 s)"
        return 1
    fi
    wait "$second" || rc=$?
    if ((rc == 0)); then
        echo "a second run.sh on port $port exited 0 instead of refusing"
        return 1
    fi
    if [[ $(cat "$run_pid_file" 2>/dev/null) != "$run_sh_pid" ]]; then
        echo "a second run.sh on port $port changed or removed the first one's pid file ($(tail -n 2 "$out" | tr '\n' ' '))"
        return 1
    fi
    [[ $(curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "$base/health") == 200 ]] ||
        { echo "the first gateway stopped answering after a second run.sh was refused"; return 1; }
    return 0
}

passed=0
failed=0
for ((run = 1; run <= RUNS; run++)); do
    if ((SECONDS > BUDGET)); then
        echo "run $run..$RUNS: not started, the test's ${BUDGET}s are spent"
        failed=$((failed + RUNS - run + 1))
        break
    fi
    log=$work/run-$run.log
    problems=()
    requests=$((1 + run % 3))
    if ((run % 2 == 0)); then
        how="make run, SIGTERM to make's process group (make forwards a second one)"
        "${gateway_env[@]}" setsid make -s --no-print-directory -f "$work/run.mk" run >"$log" 2>&1 </dev/null &
    else
        delay=${DELAYS[(run / 2) % ${#DELAYS[@]}]}
        how="run.sh, SIGTERM to its process group, a second to run.sh ${delay}s later"
        "${gateway_env[@]}" setsid "$RUN_SH" >"$log" 2>&1 </dev/null &
    fi
    launcher_pid=$!
    launcher_pgid=$launcher_pid

    run_sh_pid=
    if ! wait_healthy; then
        problems+=("the proxy did not answer /health within 30 s")
    elif [[ $run == 1 ]] && ! setup_group; then
        problems+=("could not create the group through the admin API")
    elif ! run_sh_pid=$(cat "$run_pid_file" 2>/dev/null) || [[ -z $run_sh_pid ]]; then
        problems+=("run.sh wrote no pid file $run_pid_file")
        run_sh_pid=
    fi
    if [[ -n $run_sh_pid ]]; then
        before=$(sql 'SELECT COUNT(*) FROM request_logs')
        made=0
        for ((r = 0; r < requests; r++)); do
            if ! proxied_request; then
                problems+=("a proxied request failed: $(head -c 300 "$work/response")")
                break
            fi
            made=$((made + 1))
        done
        if [[ $run == 1 ]] && ! why=$(check_refusal); then
            problems+=("$why")
            # Put the first one's pid file back, so that only the stop decides what follows.
            echo "$run_sh_pid" >"$run_pid_file"
        fi
    fi
    mapfile -t children < <(sed -n 's/^gateway-\(admin\|proxy\)  pid \([0-9]*\) .*/\2/p' "$log")

    if [[ -n $run_sh_pid ]]; then
        stop_start=${EPOCHREALTIME/[.,]/}
        kill -TERM -- "-$launcher_pgid" 2>/dev/null || true
        if ((run % 2 == 1)); then
            [[ $delay == 0 ]] || sleep "$delay"
            kill -TERM "$run_sh_pid" 2>/dev/null || true
        fi
        # run.sh (and make) must be gone within STOP_WAIT seconds; then whatever they signalled
        # gets 5 s more to finish (nobody else will stop it).
        for ((i = 0; i < STOP_WAIT * 10; i++)); do
            kill -0 "$launcher_pid" 2>/dev/null || alive "$run_sh_pid" || break
            sleep 0.1
        done
        stop_ms=$(((${EPOCHREALTIME/[.,]/} - stop_start) / 1000))
        for ((i = 0; i < 50; i++)); do
            left=0
            for pid in "${children[@]}" $(gateway_pids); do
                alive "$pid" && left=1
            done
            ((left)) || break
            sleep 0.1
        done
        if kill -0 "$launcher_pid" 2>/dev/null; then
            problems+=("the launcher (pid $launcher_pid) still runs after ${STOP_WAIT}s")
        else
            wait "$launcher_pid" 2>/dev/null || true
        fi
        [[ $run_sh_pid != "$launcher_pid" ]] && alive "$run_sh_pid" &&
            problems+=("run.sh (pid $run_sh_pid) still runs after ${STOP_WAIT}s")
        declare -A seen=()
        for pid in "${children[@]}" $(gateway_pids); do
            [[ -n ${seen[$pid]:-} ]] && continue
            seen[$pid]=1
            if alive "$pid"; then
                problems+=("$(cat "/proc/$pid/comm" 2>/dev/null || echo process) pid $pid still runs (parent pid $(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null))")
            fi
        done
        unset seen
        [[ -e $run_pid_file ]] && problems+=("the pid file $run_pid_file is left behind")
        port_free "$port" || problems+=("port $port is still in use")
        port_free "$admin_port" || problems+=("admin port $admin_port is still in use")
        after=$(sql 'SELECT COUNT(*) FROM request_logs')
        ((after == before + made)) ||
            problems+=("request_logs went from $before to $after rows, expected +$made")
    fi

    if ((${#problems[@]} == 0)); then
        passed=$((passed + 1))
        echo "run $run: ok ($how; requests logged: $made; stopped in ${stop_ms} ms)"
    else
        failed=$((failed + 1))
        echo "run $run: FAILED ($how)"
        printf '    %s\n' "${problems[@]}"
        sed 's/^/    | /' "$log" | tail -n 15
    fi
    clean_up_run
done

echo "took ${SECONDS}s"
echo "run-stop: $passed passed, $failed failed"
exit $((failed == 0 ? 0 : 1))
