#!/usr/bin/env bash
# Property-based test of the admin API against its own OpenAPI document: schemathesis (PyPI,
# pinned, installed into target/schemathesis-venv on first use) generates requests for every
# operation of /api/openapi.json and checks that none answers 5xx and that every answer's status,
# content type and body match the document. Runs against a fresh gateway-admin on a temporary
# SQLite database with a little data (a standard group with keys, an aggregate over it).
# SCHEMATHESIS_EXAMPLES bounds the examples per operation (default 25).
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
${CARGO:-cargo} build --quiet -p gateway-admin

work=$(mktemp -d)
admin_pid=""
cleanup() {
    [[ -n $admin_pid ]] && kill "$admin_pid" 2>/dev/null && wait "$admin_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
base="http://127.0.0.1:$port"
auth_key="schemathesis-auth-key-0123456789"
(
    cd "$work"
    AUTH_KEY=$auth_key DATABASE_DSN="$work/gw.db" ADMIN_LISTEN="127.0.0.1:$port" HOST=127.0.0.1 \
        PORT="$(free_port)" LOG_LEVEL=warn exec "$OLDPWD/target/debug/gateway-admin"
) >"$work/admin.log" 2>&1 &
admin_pid=$!
for _ in $(seq 1 100); do
    curl -sf "$base/health" >/dev/null && break
    sleep 0.1
done
curl -sf "$base/health" >/dev/null || { cat "$work/admin.log"; exit 1; }

api() {
    curl -sf -H "Authorization: Bearer $auth_key" -H 'Content-Type: application/json' \
        -X "$1" "$base$2" -d "$3" >/dev/null
}
api POST /api/groups '{"name":"g1","channel_type":"openai","upstreams":[{"url":"http://127.0.0.1:9","weight":1}],"test_model":"m","proxy_keys":"sk-proxy-1"}'
api POST /api/keys/add-multiple '{"group_id":1,"keys_text":"sk-a\nsk-b"}'
api POST /api/groups '{"name":"agg","group_type":"aggregate","channel_type":"openai"}'
api POST /api/groups/2/sub-groups '{"sub_groups":[{"group_id":1,"weight":10}]}'

# Generated `?key=` values would be wrong admin keys (the query key is read first, as GPT-Load
# does) and lock the client out; authenticate with the Bearer header only.
# Path and query values that name the data above, so the operations on one group, aggregate or
# proxy key reach their handlers' logic instead of a 404 (bodies are still generated in full).
cat >"$work/schemathesis.toml" <<'TOML'
[generation]
with-security-parameters = false

[[operations]]
include-path-regex = "^/api/groups/\\{id\\}/sub-groups"
parameters = { "path.id" = 2, "path.sub" = 1 }

[[operations]]
include-path = ["/api/integration/info", "/proxy/{group}/api/integration/info"]
parameters = { "path.group" = "g1", "query.key" = "sk-proxy-1" }
TOML
run() {
    "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/api/openapi.json" \
        --url "$base" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --workers 1 --seed 1 --no-color "$@"
}
echo "schemathesis $version: every operation but login (Bearer AUTH_KEY)"
run -H "Authorization: Bearer $auth_key" --exclude-path /api/auth/login
# Login alone: its wrong keys lock the address out, which the other operations must not meet.
echo "schemathesis $version: login"
run --include-path /api/auth/login
