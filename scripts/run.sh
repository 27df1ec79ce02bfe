#!/usr/bin/env bash
# Starts the two gateway processes from target/release in the foreground (used by `make run`):
#   gateway-admin  - management API + UI on ADMIN_LISTEN (default 127.0.0.1:3002)
#   gateway-proxy  - the public port, HOST:PORT (default 0.0.0.0:3001)
# Both read the same configuration: config/gateway.toml (or --config / GATEWAY_CONFIG), then .env,
# then the environment. Extra arguments are passed to both binaries (e.g. --config PATH).
#
# Ctrl-C or SIGTERM stops both gracefully and waits for them (SIGKILL after STOP_TIMEOUT), however
# many of these signals arrive and whenever: make, a terminal or a supervisor signals the whole
# process group, and make sends this script a second SIGTERM of its own. If either process exits on
# its own, the other is stopped too and the script exits non-zero. It refuses to start (exit 1)
# while another run.sh of the same PORT is running or something already listens on the public or
# admin address, rather than leaving the old processes to answer.
#
# SIGHUP (`make upgrade`, scripts/upgrade.sh) upgrades the proxy without dropping a request: a new
# gateway-proxy from BIN_DIR starts with --upgrade and takes over the listening sockets, then the
# old one gets SIGQUIT, finishes what it is serving and exits. This script's pid is written to
# /tmp/gateway-run-PORT.pid for that.
#
#   scripts/run.sh [--preflight] [ARGS...]
#     --preflight  only check that AUTH_KEY is available, then exit (make run does this first,
#                  so a missing key is reported before a long release build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN_DIR=${BIN_DIR:-target/release}
# Seconds to wait for a graceful stop before SIGKILL (the proxy drains for up to
# SERVER_GRACEFUL_SHUTDOWN_TIMEOUT, 10s by default).
STOP_TIMEOUT=${STOP_TIMEOUT:-30}

preflight=0
if [[ ${1:-} == --preflight ]]; then
    preflight=1
    shift
fi

# The config file the binaries will read, to look for auth.auth_key in it.
config_file=${GATEWAY_CONFIG:-config/gateway.toml}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --config) config_file=${args[i + 1]:-} ;;
        --config=*) config_file=${args[i]#--config=} ;;
    esac
done

have_auth_key() {
    [[ -n ${AUTH_KEY:-} ]] && return 0
    [[ -f .env ]] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?AUTH_KEY[[:space:]]*=[[:space:]]*[^[:space:]#]' .env && return 0
    [[ -f $config_file ]] && grep -Eq '^[[:space:]]*auth_key[[:space:]]*=[[:space:]]*"[^"]+"' "$config_file" && return 0
    return 1
}

if ! have_auth_key; then
    cat >&2 <<'MSG'
AUTH_KEY is not set. It is the admin API key and the default proxy key; both processes refuse to
start without it. Set it in one of these ways:

    AUTH_KEY=your-secret make run
    echo "AUTH_KEY=$(openssl rand -hex 24)" >> .env      # then: make run

(or set auth.auth_key in config/gateway.toml, though the environment or .env is preferred).
MSG
    exit 2
fi
[[ $preflight == 1 ]] && exit 0

for bin in gateway-admin gateway-proxy; do
    if [[ ! -x $BIN_DIR/$bin ]]; then
        echo "$BIN_DIR/$bin not found: build it first with 'make release'" >&2
        exit 2
    fi
done

# Validate once up front: a bad value is reported once instead of by both processes, and the
# summary tells us where they will listen.
if ! summary=$("$BIN_DIR/gateway-proxy" --check-config "$@" 2>&1); then
    printf '%s\n' "$summary" >&2
    exit 2
fi
public_listen=$(sed -n 's/^public listen: //p' <<<"$summary")
admin_listen=$(sed -n 's/^admin listen: //p' <<<"$summary")
public_listen=${public_listen:-${HOST:-0.0.0.0}:${PORT:-3001}}
admin_listen=${admin_listen:-${ADMIN_LISTEN:-127.0.0.1:3002}}
port=${public_listen##*:}
# Where the new proxy of an upgrade waits for the sockets (the proxy's upgrade_sock).
upgrade_sock=/tmp/gateway-proxy-$port.sock
run_pid_file=/tmp/gateway-run-$port.pid

# Refuse to start next to a running gateway: the new processes could not take the port, and
# whoever checks the gateway would be answered by the old ones.
old_pid=$(cat "$run_pid_file" 2>/dev/null || true)
if [[ $old_pid =~ ^[0-9]+$ ]] && kill -0 "$old_pid" 2>/dev/null &&
    { [[ ! -r /proc/$old_pid/cmdline ]] || grep -q run.sh "/proc/$old_pid/cmdline"; }; then
    echo "scripts/run.sh already runs a gateway on port $port (pid $old_pid, see $run_pid_file)." >&2
    echo "Stop it first (kill $old_pid), or set PORT to start another one." >&2
    exit 1
fi

# Whether something accepts connections on HOST:PORT (a wildcard address is tried on loopback).
listening() {
    local host=${1%:*} port=${1##*:}
    host=${host#[}
    host=${host%]}
    case $host in
        0.0.0.0) host=127.0.0.1 ;;
        ::) host=::1 ;;
    esac
    { : <>"/dev/tcp/$host/$port"; } 2>/dev/null
}
for listen in "$public_listen" "$admin_listen"; do
    if listening "$listen"; then
        echo "$listen is already in use by another process (an earlier gateway still running?)." >&2
        echo "Stop it first, or set PORT / ADMIN_LISTEN to free addresses." >&2
        exit 1
    fi
done

admin_pid=
proxy_pid=
# Set once the children are being stopped: a later INT/TERM (make sends the script a second
# SIGTERM of its own) returns at once and lets the stop finish, and SIGHUP no longer upgrades.
stopping=0

# Sends SIGTERM to the given pids, waits up to STOP_TIMEOUT seconds, then SIGKILLs what is left.
stop() {
    local pids=() pid deadline
    for pid in "$@"; do
        [[ -n $pid && " ${pids[*]} " != *" $pid "* ]] && kill -0 "$pid" 2>/dev/null && pids+=("$pid")
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid did not stop within ${STOP_TIMEOUT}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

# Stops every process this script started. `jobs -p` lists them whatever moment a signal
# interrupted: a child started but not yet saved in admin_pid / proxy_pid, the new proxy of an
# upgrade under way, the old one still draining.
stop_children() {
    local children
    mapfile -t children < <(jobs -p)
    stop "$proxy_pid" "$admin_pid" "${children[@]}"
}

# Stops both on INT/TERM and exits. The trap stays set until the script exits: reset to the
# default action, a second SIGTERM would kill the script before it had signalled the children,
# leaving them running.
on_signal() {
    ((stopping)) && return 0
    stopping=1
    echo
    echo "stopping gateway-proxy and gateway-admin..."
    stop_children
    exit 0
}
# Never leave a child or the pid file behind, whatever makes this script exit. Stopping again
# does no harm, and completes a stop that an error cut short.
on_exit() {
    stopping=1
    stop_children
    if [[ $(cat "$run_pid_file" 2>/dev/null) == "$$" ]]; then
        rm -f "$run_pid_file"
    fi
}
# Starts a new proxy that takes the listening sockets over, then tells the old one to hand them
# over and drain (Pingora's graceful upgrade).
upgrade_proxy() {
    local old=$proxy_pid new i
    if ((stopping)) || [[ -z $old ]]; then
        echo "upgrade: gateway-proxy is starting or stopping; nothing upgraded" >&2
        return
    fi
    if [[ ! -x $BIN_DIR/gateway-proxy ]]; then
        echo "upgrade: $BIN_DIR/gateway-proxy not found; still running pid $old" >&2
        return
    fi
    rm -f "$upgrade_sock"
    setsid "$BIN_DIR/gateway-proxy" --upgrade "${args[@]}" &
    new=$!
    # The new process listens on the upgrade socket once it is ready for the sockets.
    for ((i = 0; i < 300; i++)); do
        [[ -S $upgrade_sock ]] && break
        if ! kill -0 "$new" 2>/dev/null; then
            echo "upgrade: the new gateway-proxy exited before taking over; still running pid $old" >&2
            return
        fi
        sleep 0.1
    done
    proxy_pid=$new
    kill -QUIT "$old" 2>/dev/null || true
    echo "gateway-proxy upgraded: pid $old hands its sockets to pid $new, drains and exits"
}

# A closed output (`make run | tee log` after Ctrl-C) makes writes fail rather than kill the
# script before it has stopped the children.
trap '' PIPE
trap on_signal INT TERM
trap upgrade_proxy HUP
trap on_exit EXIT
echo $$ >"$run_pid_file"

# Each in its own session: Ctrl-C reaches only this script, which stops them gracefully (SIGINT
# would make Pingora exit at once, without writing the buffered request logs).
setsid "$BIN_DIR/gateway-admin" "$@" &
admin_pid=$!
setsid "$BIN_DIR/gateway-proxy" "$@" &
proxy_pid=$!

cat <<EOF
gateway-admin  pid $admin_pid  admin API and UI: http://$admin_listen
gateway-proxy  pid $proxy_pid  proxy:            http://$public_listen  (e.g. http://$public_listen/proxy/<group>/v1/chat/completions)
Press Ctrl-C to stop both; 'make upgrade' (or kill -HUP $$) upgrades the proxy in place.
EOF

# Returns when the current admin or proxy exits; a signal interrupts the wait and runs its trap
# (after an upgrade both still run: wait again).
while :; do
    status=0
    wait -n "$admin_pid" "$proxy_pid" || status=$?
    if kill -0 "$admin_pid" 2>/dev/null && kill -0 "$proxy_pid" 2>/dev/null; then
        continue
    fi
    break
done
if kill -0 "$admin_pid" 2>/dev/null; then
    echo "gateway-proxy exited (status $status); stopping gateway-admin" >&2
else
    echo "gateway-admin exited (status $status); stopping gateway-proxy" >&2
fi
# on_exit stops it.
exit $((status == 0 ? 1 : status))
