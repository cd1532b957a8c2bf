#!/usr/bin/env bash
# Runs a function project's function locally on its sample events, offline: moto is the KMS,
# `cargo lambda watch` is the Lambda Runtime API, `cargo lambda invoke` sends each file in
# events/. Usage: kit/tools/run-local.sh FUNCTION, in the project directory, with its
# virtualenv (`make venv`); `make invoke` runs it. KMS_PORT (4599) and WATCH_PORT (9000) choose
# the ports; CONCURRENCY=N (1) serves one process with AWS_LAMBDA_MAX_CONCURRENCY=N and sends
# up to N events at once, as Lambda Managed Instances do.
set -euo pipefail
function_name=${1:?usage: run-local.sh FUNCTION (the package and binary name)}
tools=$(cd "$(dirname "$0")" && pwd)

# The virtualenv's python first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH="$PWD/.venv/bin:$PATH"
KMS_PORT=${KMS_PORT:-4599}
WATCH_PORT=${WATCH_PORT:-9000}
CONCURRENCY=${CONCURRENCY:-1}
mkdir -p .local

# A port another program holds would answer in place of ours (and hang what talks to it): refuse
# it at once, naming it.
for port_use in "$KMS_PORT:the local KMS:KMS_PORT" "$WATCH_PORT:cargo lambda watch:WATCH_PORT"; do
  IFS=: read -r port what variable <<<"$port_use"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "make invoke: port $port ($what) is in use by another program; stop it, or pick another port: make invoke $variable=<port>" >&2
    exit 1
  fi
done

groups=()
cleanup() {
  for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() { # PORT SECONDS WHAT PID LOG: the port open, and the process that should open it alive
  for _ in $(seq 1 $(($2 * 10))); do
    if ! kill -0 "$4" 2>/dev/null; then
      echo "$3 exited before it opened port $1; the end of $5:" >&2
      tail -n 5 "$5" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$3 did not open port $1 within $2 s (its log: $5)" >&2
  return 1
}

echo "==> local KMS (moto) on 127.0.0.1:$KMS_PORT"
setsid moto_server -H 127.0.0.1 -p "$KMS_PORT" >.local/moto.log 2>&1 &
groups+=($!)
wait_port "$KMS_PORT" 30 moto_server $! .local/moto.log

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
if [ "$CONCURRENCY" -gt 1 ]; then
  echo "AWS_LAMBDA_MAX_CONCURRENCY=$CONCURRENCY" >>.local/function.env
fi

echo "==> building the function (cargo build --bin $function_name)"
# watch builds on the first invoke, inside that invoke's deadline: build first.
cargo build --locked --bin "$function_name"

echo "==> cargo lambda watch on port $WATCH_PORT (function log in .local/watch.log)$([ "$CONCURRENCY" -gt 1 ] && echo ", one process with AWS_LAMBDA_MAX_CONCURRENCY=$CONCURRENCY")"
setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
  --env-file .local/function.env >.local/watch.log 2>&1 &
groups+=($!)
wait_port "$WATCH_PORT" 60 "cargo lambda watch" $! .local/watch.log

echo
# Every sample event (each encrypt is decrypted again), then the bad-input corpus, then the EMF
# lines of a cold and a warm invocation.
python3 "$tools/send_events.py" "$function_name" "$WATCH_PORT" "$CONCURRENCY" .local/watch.log
