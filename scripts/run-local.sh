#!/usr/bin/env bash
# Runs the function locally on the sample events, offline: moto is the KMS, `cargo lambda
# watch` is the Lambda Runtime API, `cargo lambda invoke` sends each file in events/.
# Needs the project virtualenv (`make venv`); `make invoke` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

# The virtualenv's python first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH="$PWD/.venv/bin:$PATH"
KMS_PORT=${KMS_PORT:-4599}
WATCH_PORT=${WATCH_PORT:-9000}
ALIAS=alias/kms-lambda-local
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
key_arn=$(python3 scripts/create_key.py "http://127.0.0.1:$KMS_PORT" "$ALIAS")
echo "    key $key_arn as $ALIAS"

cat >.local/function.env <<ENV
KMS_KEY_ID=$ALIAS
AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$KMS_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_EC2_METADATA_DISABLED=true
ENV

echo "==> building the function (cargo build --bin kms-lambda)"
# watch builds on the first invoke, inside that invoke's deadline: build first.
cargo build --bin kms-lambda

echo "==> cargo lambda watch on port $WATCH_PORT (function log in .local/watch.log)"
setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
  --env-file .local/function.env >.local/watch.log 2>&1 &
groups+=($!)
wait_port "$WATCH_PORT" 60 "cargo lambda watch"

invoke() { # FILE-or-DATA...
  cargo lambda invoke kms-lambda --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" "$@" 2>&1
}

failures=0
echo
echo "==> encrypt -> decrypt round trip (events/encrypt.json, then events/decrypt.json with its ciphertext)"
enc=$(invoke --data-file events/encrypt.json) || { echo "$enc"; exit 1; }
echo "encrypt: $enc"
dec_event=$(python3 - "$enc" <<'PY'
import json, sys
enc = json.loads(sys.argv[1])
event = json.load(open("events/decrypt.json"))
event["ciphertext"] = enc["ciphertext"]
print(json.dumps(event))
PY
)
dec=$(invoke --data-ascii "$dec_event") || { echo "$dec"; exit 1; }
echo "decrypt: $dec"
python3 - "$dec" <<'PY' || failures=$((failures + 1))
import base64, json, sys
dec = json.loads(sys.argv[1])
expected = json.load(open("events/encrypt.json"))["plaintext"]
ok = dec["plaintext"] == expected
print("round trip:", "OK, plaintext is back:" if ok else "MISMATCH", base64.b64decode(dec["plaintext"]).decode(errors="replace"))
sys.exit(0 if ok else 1)
PY

echo
echo "==> envelope mode: events/encrypt-large.json (64 KiB) -> decrypt"
enc=$(invoke --data-file events/encrypt-large.json) || { echo "$enc"; exit 1; }
python3 - "$enc" <<'PY' >.local/decrypt-large.json
import json, sys
enc = json.loads(sys.argv[1])
event = json.load(open("events/encrypt-large.json"))
print(json.dumps({"operation": "decrypt", "ciphertext": enc["ciphertext"],
                  "encryptionContext": event["encryptionContext"]}))
sys.stderr.write(f"encrypt: mode={enc['mode']}, envelope of {len(enc['ciphertext'])} base64 chars, keyId={enc['keyId']}\n")
PY
dec=$(invoke --data-file .local/decrypt-large.json) || { echo "$dec"; exit 1; }
python3 - "$dec" <<'PY' || failures=$((failures + 1))
import json, sys
dec = json.loads(sys.argv[1])
ok = dec["plaintext"] == json.load(open("events/encrypt-large.json"))["plaintext"]
print(f"decrypt: mode={dec['mode']}, 64 KiB round trip", "OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
PY

echo
echo "==> events/encrypt-with-key-id.json"
invoke --data-file events/encrypt-with-key-id.json || failures=$((failures + 1))

echo
echo "==> the common mistakes in events/mistakes/ (each must be a typed error)"
for f in events/mistakes/*.json; do
  printf '%-48s ' "$f"
  if out=$(invoke --data-file "$f"); then
    echo "UNEXPECTED SUCCESS: $out"
    failures=$((failures + 1))
  else
    echo "$out" | tr -s '\n' ' ' | cut -c1-160
    echo
  fi
done

echo
echo "==> last EMF lines from the function (init-to-send latency)"
grep -F '"_aws"' .local/watch.log | tail -n 3 || true
echo
if [ "$failures" -ne 0 ]; then
  echo "$failures unexpected result(s)" >&2
  exit 1
fi
echo "all sample events behaved as documented"
