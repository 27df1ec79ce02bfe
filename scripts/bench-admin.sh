#!/usr/bin/env bash
# Admin API at scale (`make bench-admin`): on a fresh database of each backend, the real
# gateway-admin imports KEYS keys into one group (async task), lists page 1 and page 5,000 of it,
# exports it, and clears INVALID invalid keys of another group, while a client sends 100
# requests/s through gateway-proxy to a third group (see benches/src/bin/admin_scale.rs).
#
# Environment (all optional):
#   KEYS=1000000  INVALID=100000
#   BACKENDS="sqlite postgres mysql"   postgres needs TEST_POSTGRES_DSN, mysql TEST_MYSQL_DSN
#                                      (defaults: this machine's servers, databases created and dropped)
#   SKIP_BUILD=1                       do not run `cargo build --workspace --release` first
#   RESULTS=benches/results/admin-scale.md
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
KEYS=${KEYS:-1000000}
INVALID=${INVALID:-100000}
BACKENDS=${BACKENDS:-sqlite postgres mysql}
RESULTS=${RESULTS:-benches/results/admin-scale.md}
export TEST_POSTGRES_DSN=${TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/test}
export TEST_MYSQL_DSN=${TEST_MYSQL_DSN:-mysql://root@127.0.0.1:3306/test}

if [[ -z ${SKIP_BUILD:-} ]]; then
    echo "bench-admin: building (cargo build --workspace --release)" >&2
    cargo build --workspace --release
fi

rows=""
for backend in $BACKENDS; do
    echo "bench-admin: $backend, $KEYS keys" >&2
    rows+="$(target/release/admin-scale --backend "$backend" --keys "$KEYS" --invalid "$INVALID")"$'\n'
done

mkdir -p "$(dirname "$RESULTS")"
{
    echo "# Admin API at scale"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    echo "- each backend on a fresh database; release binaries; times through the HTTP API"
    echo
    echo "| backend | keys imported | import (s) | list page 1 (ms) | list page 5,000 (ms) | export all (s) | invalid keys | clear-all-invalid (s) | proxy requests served / failed meanwhile | slowest proxy answer (ms) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
} >"$RESULTS"
cat "$RESULTS"
echo "bench-admin: written to $RESULTS" >&2
