#!/usr/bin/env bash
# Upgrades the gateway-proxy started by scripts/run.sh (make run) on PORT without dropping a
# request: run.sh starts the new binary from BIN_DIR with --upgrade, which takes over the
# listening sockets, and sends SIGQUIT to the old process, which finishes its requests and streams
# (up to SERVER_GRACEFUL_SHUTDOWN_TIMEOUT), writes its logs and exits.
#
#   make release && make upgrade          # or: PORT=3001 scripts/upgrade.sh
set -euo pipefail

port=${PORT:-3001}
pid_file=/tmp/gateway-run-$port.pid
if [[ ! -f $pid_file ]] || ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "no gateway started by scripts/run.sh on port $port ($pid_file); set PORT if it uses another" >&2
    exit 1
fi
kill -HUP "$(cat "$pid_file")"
echo "upgrade requested (run.sh pid $(cat "$pid_file")); it logs the hand-over"
