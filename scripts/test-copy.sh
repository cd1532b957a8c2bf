#!/usr/bin/env bash
# The copy check, run by `make test` (lab.mk): a function project made from this template as its
# README says, `cargo lambda new` on a zip of it, offline.
#  1. What the copy holds: its kit/ is this kit byte for byte; none of the lab; its own name;
#     at most 2,500 lines outside kit/ (Cargo.lock aside), a README of at most 150 lines, and
#     every relative link in its Markdown resolves.
#  2. The walk-throughs of docs/operations.md (the copy's own) applied to it: describeKey on the
#     same key, then generateMac and verifyMac on a new HMAC key, which may touch at most five
#     files besides its bad-input cases (and template.yaml, which `make template` writes).
#  3. The copy's own `make test` passes, walk-throughs included; an edit of its kit/ fails its
#     tests, naming the file.
#  4. The copy's `make invoke` serves every sample event with several in flight to one process
#     (CONCURRENCY=4), and fails at once, naming the port, when its KMS port is taken.
# The copy shares this project's target dir and virtualenv: no dependency is compiled or
# installed twice. It is kept in DEST for `make copy-deploy-check`.
# Usage: scripts/test-copy.sh TEMPLATE_ZIP DEST
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
zip=$1
dest=$2
name=scaffold-probe
copy="$dest/$name"
fail() { echo "copy check: $*" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
(cd "$dest" && cargo lambda new "$name" --template "$zip" --no-interactive >/dev/null)

# 1. What the copy holds.
diff -r -x __pycache__ "$root/kit" "$copy/kit" >/dev/null || fail "its kit/ differs from this template's: $(diff -rq -x __pycache__ "$root/kit" "$copy/kit" | head -3)"
grep -qx "name = \"$name\"" "$copy/Cargo.toml" || fail "its Cargo.toml does not name it $name"
grep -qx "# $name" "$copy/README.md" || fail "its README is not its own"
for lab in lab.mk bench.mk docs/benchmarks.md fuzz bench benches examples/kms-gate tests/fault_matrix.rs \
           tests/esdk_interop.rs tests/it scripts tools/requirements-lab.txt CargoLambda.toml .gitattributes; do
  [ ! -e "$copy/$lab" ] || fail "the copy carries the lab's $lab"
done
! grep -q -e '{{' -e '{%' "$copy/Cargo.toml" "$copy/README.md" || fail "Liquid left in the copy's Cargo.toml or README.md"
! grep -q '^\[\[bench\]\]' "$copy/Cargo.toml" || fail "the copy's Cargo.toml names benchmarks it does not have"
outside_kit=$(cd "$copy" && find . -type f ! -path './kit/*' ! -name Cargo.lock -print0 | xargs -0 cat | wc -l)
files=$(cd "$copy" && find . -type f ! -path './kit/*' | wc -l)
readme=$(wc -l < "$copy/README.md")
echo "copy check: $files files outside kit/, $outside_kit lines (Cargo.lock aside); README $readme lines; kit/ identical to the template's"
[ "$outside_kit" -le 2500 ] || fail "the copy holds $outside_kit lines outside kit/ (at most 2,500)"
[ "$readme" -le 150 ] || fail "the copy's README is $readme lines (at most 150)"
python3 - "$copy" <<'EOF' || fail "a link in the copy does not resolve"
import os, re, sys
copy = sys.argv[1]
bad = []
for dirpath, _, names in os.walk(copy):
    for n in names:
        if not n.endswith(".md"):
            continue
        path = os.path.join(dirpath, n)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", open(path, encoding="utf-8").read()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(dirpath, target))):
                bad.append(f"{os.path.relpath(path, copy)}: {target}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
EOF

# The copy is a git project of its own from here on: what each walk-through touches is its diff.
cd "$copy"
git init -q && git add -A && git -c user.name=copy -c user.email=copy@localhost commit -qm "cargo lambda new"
ln -s "$root/.venv" .venv
touch -r .venv/.installed tools/requirements.txt   # the shared .venv is up to date
export CARGO_TARGET_DIR="$root/target" MOTO_SERVER="$root/.venv/bin/moto_server"

# 2. The walk-throughs, as a copier follows them.
for walk in describe-key mac; do
  python3 "$root/scripts/walkthrough.py" docs/operations.md . "$walk"
  touched=$( (git diff --name-only; git ls-files --others --exclude-standard) | sort -u \
             | grep -v -e '^tests/bad-input/' -e '^template.yaml$' -e '^Cargo.lock$' || true)
  echo "copy check: walk-through $walk touched $(echo "$touched" | wc -l) files besides bad-input cases and template.yaml: $(echo $touched)"
  if [ "$walk" = mac ] && [ "$(echo "$touched" | wc -l)" -gt 5 ]; then
    fail "a new kind of key took more than five files"
  fi
  git add -A && git -c user.name=copy -c user.email=copy@localhost commit -qm "$walk"
done

# 3. The copy's own checks; then an edit of its kit/ is named by its tests.
make --no-print-directory test
echo "# an edit" >> kit/tools/run-local.sh
if out=$(cargo test --quiet --locked -p kms-lambda-kit --test vendored 2>&1); then
  fail "an edit of kit/tools/run-local.sh went unnoticed by the copy's tests"
fi
grep -q "kit/tools/run-local.sh was edited" <<<"$out" || fail "the kit check did not name the edited file: $out"
grep -q "make kit-update FROM=" <<<"$out" || fail "the kit check did not say how to update the kit"
git checkout -q -- kit
echo "copy check: the copy's make test passes with describeKey, generateMac and verifyMac; an edit of its kit/ is named"

# 4. The local loop, as on Managed Instances: several in flight, one process; a taken port named.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p .local
kms_port=$(free_port)
watch_port=$(free_port)
make --no-print-directory invoke CONCURRENCY=4 KMS_PORT="$kms_port" WATCH_PORT="$watch_port" >.local/invoke.log 2>&1 \
  || { tail -n 30 .local/invoke.log; fail "the copy's make invoke CONCURRENCY=4 failed (.local/invoke.log)"; }
grep -q "most invocations in flight at once: [234]" .local/invoke.log || fail "make invoke CONCURRENCY=4 never had several in flight"
grep -q "function processes that served them: 1" .local/invoke.log || fail "make invoke CONCURRENCY=4 started more than one process"
# Another program holds a port of its own choosing (a port just used may still be in TIME_WAIT,
# and refuse a second listener): make invoke, told to use it for KMS, must name it at once.
held=.local/held-port
rm -f "$held"
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$held" &
holder=$!
for _ in $(seq 1 50); do [ -s "$held" ] && break; sleep 0.1; done
taken=$(cat "$held")
start=$(date +%s)
if out=$(timeout 15 make --no-print-directory invoke KMS_PORT="$taken" WATCH_PORT="$watch_port" 2>&1); then
  kill "$holder" 2>/dev/null || true
  fail "make invoke succeeded with its KMS port taken"
fi
kill "$holder" 2>/dev/null || true
grep -q "port $taken (the local KMS) is in use by another program" <<<"$out" || fail "make invoke with its KMS port taken did not name it: $out"
echo "copy check: the copy's make invoke serves the sample events 4 at a time to one process, and names a taken port in $(( $(date +%s) - start )) s"
