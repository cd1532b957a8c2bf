#!/usr/bin/env bash
# Runs a function project's function locally on its sample events, offline: moto is the KMS,
# `cargo lambda watch` is the Lambda Runtime API, `cargo lambda invoke` sends each file in
# events/. Usage: kit/tools/run-local.sh FUNCTION, in the project directory, with its
# virtualenv (`make venv`); `make invoke` runs it.
set -euo pipefail
function_name=${1:?usage: run-local.sh FUNCTION (the package and binary name)}
tools=$(cd "$(dirname "$0")" && pwd)

# The virtualenv's python first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH="$PWD/.venv/bin:$PATH"
KMS_PORT=${KMS_PORT:-4599}
WATCH_PORT=${WATCH_PORT:-9000}
mkdir -p .local

groups=()
cleanup() {
  for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() { # PORT SECONDS WHAT
  for _ in $(seq 1 $(($2 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$3 did not open port $1 within $2 s" >&2
  return 1
}

echo "==> local KMS (moto) on 127.0.0.1:$KMS_PORT"
setsid moto_server -H 127.0.0.1 -p "$KMS_PORT" >.local/moto.log 2>&1 &
groups+=($!)
wait_port "$KMS_PORT" 30 moto_server

echo "==> a local key of each kind in src/ops/mod.rs (cargo xtask local-keys)"
# Each under its local alias (alias/local/<kind>), as events/ and tests/bad-input/ name them.
key_variables=$(cargo xtask local-keys "http://127.0.0.1:$KMS_PORT")

cat >.local/function.env <<ENV
$key_variables
AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$KMS_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_EC2_METADATA_DISABLED=true
ENV

echo "==> building the function (cargo build --bin $function_name)"
# watch builds on the first invoke, inside that invoke's deadline: build first.
cargo build --locked --bin "$function_name"

echo "==> cargo lambda watch on port $WATCH_PORT (function log in .local/watch.log)"
setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
  --env-file .local/function.env >.local/watch.log 2>&1 &
groups+=($!)
wait_port "$WATCH_PORT" 60 "cargo lambda watch"

echo
# Every sample event (each encrypt is decrypted again), then the bad-input corpus.
failures=0
python3 "$tools/send_events.py" "$function_name" "$WATCH_PORT" || failures=1

echo
echo "==> last EMF lines from the function (init-to-send latency)"
grep -F '"_aws"' .local/watch.log | tail -n 3 || true
exit "$failures"
