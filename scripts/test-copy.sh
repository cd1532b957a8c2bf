#!/usr/bin/env bash
# The copy check, run by `make test` (lab.mk): a function project made from this template as its
# README says, `cargo lambda new` on a zip of it, offline.
#  1. What the copy holds: its kit/ is this kit byte for byte; none of the lab; its own name;
#     at most 2,500 lines outside kit/ (Cargo.lock aside), a README of at most 150 lines with no
#     leftover of its Liquid, at most 20 bad-input cases (its operations' own); every relative
#     link in its Markdown resolves, and every path its files cite is in it, or said to be the
#     template's (scripts/cited_paths.py).
#  2. The walk-throughs of docs/operations.md (the copy's own) applied to it: describeKey on the
#     same key; generateMac and verifyMac on a new HMAC key, which may touch at most five files
#     besides their bad-input cases; then the samples replaced by newDataKey, which may touch at
#     most five files besides the deletions (template.yaml aside, which `make template` writes);
#     then newDataKey's own tests (a slow KMS and a short deadline, KMS's refusals, a freeze).
#  3. As `cargo lambda new` and `git init` leave a copy — never committed — and with the GNU-only
#     tools refused as a Mac would (scripts/gnu_shims.py): an edit of its kit/ fails its tests,
#     naming the file and advising `make kit-update`, which git cannot; that advice, followed
#     (FROM the template's zip), restores the kit and runs the copy's `make test`, which passes
#     (the new tests among it). Committed, the advice is git's, and it works too. The
#     portability lint names a GNU-only flag planted in the copy's Makefile.
#  4. The copy's `make invoke` (GNU-only tools refused) serves every sample event with several in
#     flight to one process (CONCURRENCY=4), and fails at once, naming the port, when its KMS
#     port is taken.
# With `variants` as a third argument, on the copy the check made (run last and alone: cargo
# names a workspace member's artefacts by its path in the workspace, so the copy's kit/ and this
# project's share their names in the shared target dir, and a variant must not be built while
# this project's tests run):
#  5. A kit whose base64 decoding was made lenient fails the kit's own tests (a planted fault:
#     the tests of every function's shared rules can fail).
#  6. A kit whose wiring changed (a start-up check more) reaches the copy through `make
#     kit-update` alone: no file of the copy's is edited, and its binary runs the new check.
# The copy shares this project's target dir and virtualenv: no dependency is compiled or
# installed twice. It is kept in DEST for `make copy-deploy-check`.
# Usage: scripts/test-copy.sh TEMPLATE_ZIP DEST [variants]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
zip=$1
dest=$2
name=scaffold-probe
copy="$dest/$name"
fail() { echo "copy check: $*" >&2; exit 1; }
# 5. A planted fault: base64 decoding made lenient (whitespace dropped, padding added). The kit's
# own tests of what every function shares must fail, naming the cases.
planted_fault() {
python3 - kit/src/event/base64.rs <<'PLANT'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = "pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {\n"
assert text.count(anchor) == 1, "the planted fault's anchor moved"
lenient = anchor + "    let text = &text.replace(char::is_whitespace, \"\");\n    let text = &format!(\"{text}{}\", &\"==\"[..(4 - text.len() % 4) % 4]);\n"
open(path, "w").write(text.replace(anchor, lenient))
PLANT
if out=$(cargo test --quiet --locked -p kms-lambda-kit --test probe 2>&1); then
  fail "a lenient base64 decoder passed the kit's tests"
fi
grep -q 'base64-missing-padding: expected \\"InvalidRequest\\"' <<<"$out" || fail "the planted fault was not named by its case: $out"
git checkout -q -- kit && git clean -qfd kit
echo "copy check: a kit with a lenient base64 decoder fails the kit's own tests, naming the cases"
}

# 6. A kit whose wiring changed reaches the copy through `make kit-update` alone.
wiring_change() {
scratch="$dest/scratch-kit"
rm -rf "$scratch" && mkdir -p "$scratch" && cp -R "$root/kit" "$scratch/kit" && rm -rf "$scratch/kit/target"
python3 - "$scratch/kit/src/function.rs" <<'WIRE'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = "    pub fn configure(&self) -> Result<Config, String> {\n"
assert text.count(anchor) == 1, "the wiring change's anchor moved"
check = anchor + "        if std::env::var_os(\"KMS_LAMBDA_SCRATCH_CHECK\").is_some() {\n            return Err(\"refused by the scratch kit's start-up check\".into());\n        }\n"
open(path, "w").write(text.replace(anchor, check))
WIRE
python3 "$root/scripts/kit_manifest.py" "$scratch/kit" --all-files >/dev/null
make --no-print-directory kit-update FROM="$scratch" >.local/kit-update.log 2>&1 \
  || { tail -n 30 .local/kit-update.log; fail "make kit-update FROM=<a kit with a new start-up check> failed (.local/kit-update.log)"; }
edited=$(git status --porcelain | awk '{print $NF}' | grep -v '^kit/' | grep -v '^.local' || true)
[ -z "$edited" ] || fail "make kit-update edited the copy's own files: $edited"
if out=$(KMS_LAMBDA_SCRATCH_CHECK=1 "$CARGO_TARGET_DIR/debug/$name" 2>&1); then
  fail "the copy's binary ran without the new kit's start-up check"
fi
grep -q "refused by the scratch kit's start-up check" <<<"$out" || fail "the copy's binary did not run the new kit's start-up check: $out"
git checkout -q -- kit && git clean -qfd kit
echo "copy check: a kit with a new start-up check reached the copy through make kit-update alone (no file of the copy's edited)"
}

if [ "${3:-}" = variants ]; then
  cd "$copy"
  [ -d .git ] || fail "no copy in $copy: run the copy check first"
  export CARGO_TARGET_DIR="$root/target" MOTO_SERVER="$root/.venv/bin/moto_server"
  git checkout -q -- kit && git clean -qfd kit
  planted_fault
  wiring_change
  exit 0
fi
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
cases=$(find "$copy/tests/bad-input" -name '*.json' ! -name expected.json | wc -l)
echo "copy check: $cases bad-input cases, its operations' own"
[ "$cases" -le 20 ] || fail "the copy carries $cases bad-input cases (at most 20: the shared ones are the kit's)"
[ "$readme" -le 150 ] || fail "the copy's README is $readme lines (at most 150)"
! grep -nx -e '\[//\]: # ()' -e '\[//\]: #' -e '<!-- *-->' -e '-->' "$copy/README.md" || fail "a leftover of the Liquid in the copy's README (above)"
python3 "$root/scripts/cited_paths.py" "$copy" || fail "the copy's files cite paths it does not have"
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

mkdir -p .local

# 2. The walk-throughs, as a copier follows them. What each touched is its diff: files added or
# changed (a file deleted is a deletion), template.yaml and Cargo.lock aside (tools write them).
for walk in describe-key mac replace testing; do
  python3 "$root/scripts/walkthrough.py" docs/operations.md . "$walk"
  git add -A
  all=$(git diff --cached --name-only --diff-filter=AM | grep -v -e '^template.yaml$' -e '^Cargo.lock$' || true)
  besides_cases=$(echo "$all" | grep -v '^tests/bad-input/' || true)
  deleted=$(git diff --cached --name-only --diff-filter=D | wc -l)
  echo "copy check: walk-through $walk added or changed $(echo "$all" | grep -c . || true) files ($(echo $all)), deleted $deleted"
  case $walk in
    mac) [ "$(echo "$besides_cases" | grep -c .)" -le 5 ] || fail "a new kind of key took more than five files besides its bad-input cases" ;;
    replace) [ "$(echo "$all" | grep -c .)" -le 5 ] || fail "replacing the samples took more than five files besides the deletions" ;;
  esac
  git -c user.name=copy -c user.email=copy@localhost commit -qm "$walk"
done
for sample in encrypt decrypt; do
  ! grep -rqw "$sample" src/ops/mod.rs || fail "src/ops/mod.rs still names the sample $sample"
done

# 3. The copy as its owner meets it: as `cargo lambda new` and `git init` leave it, never
# committed (its history put aside), and the tools a Mac lacks refused.
shims=$(python3 "$root/scripts/gnu_shims.py" "$dest/gnu-shims")
export GNU_SHIMS_LOG="$dest/gnu-shims.log"
: > "$GNU_SHIMS_LOG"
mv .git "$dest/git-aside" && git init -q
echo "# an edit" >> kit/tools/run_local.py
if out=$(cargo test --quiet --locked -p kms-lambda-kit --test vendored 2>&1); then
  fail "an edit of kit/tools/run_local.py went unnoticed by the copy's tests"
fi
grep -q "kit/tools/run_local.py was edited" <<<"$out" || fail "the kit check did not name the edited file: $out"
grep -q "make kit-update FROM=" <<<"$out" || fail "the kit check did not say how to take the kit again: $out"
! grep -q "git checkout" <<<"$out" || fail "the kit check advised git in a copy git cannot restore: $out"
# The advice, followed: the kit taken again from the template's zip, then the copy's make test.
PATH="$shims:$PATH" make --no-print-directory kit-update FROM="$zip" \
  || fail "the kit check's advice, make kit-update FROM=<the template's zip>, failed (or the copy's make test it runs)"
[ ! -s "$GNU_SHIMS_LOG" ] || fail "the copy's make test ran what macOS lacks: $(cat "$GNU_SHIMS_LOG")"
rm -rf .git && mv "$dest/git-aside" .git
changed=$(git status --porcelain)
[ -z "$changed" ] || fail "make kit-update did not give the kit back as it was: $changed"
# Committed, git holds the kit: the advice is git's, and it works.
echo "# an edit" >> kit/tools/run_local.py
out=$(cargo test --quiet --locked -p kms-lambda-kit --test vendored 2>&1) && fail "an edit of the committed kit went unnoticed"
grep -q 'git checkout -- kit/ && git clean -fd kit/' <<<"$out" || fail "the kit check of a committed copy did not advise git: $out"
git checkout -- kit/ && git clean -qfd kit/
cargo test --quiet --locked -p kms-lambda-kit --test vendored >/dev/null 2>&1 || fail "git's advice did not restore the kit"
# The portability lint has teeth: a GNU-only flag in the copy's Makefile is named.
printf 'edit-in-place:\n\tsed -i "s/a/b/" Cargo.toml\n' >> Makefile
out=$(.venv/bin/python kit/tools/portable.py Makefile 2>&1) && fail "the portability lint passed sed -i"
grep -q "Makefile:.*sed -i" <<<"$out" || fail "the portability lint did not name sed -i: $out"
git checkout -- Makefile
echo "copy check: the copy's make test passes, GNU-only tools refused, with describeKey, generateMac, verifyMac and newDataKey (and its tests) in place of the samples; an edit of its kit/ is named, and undone by the advice given — make kit-update uncommitted, git committed"

# 4. The local loop, as on Managed Instances: several in flight, one process; a taken port named.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p .local
kms_port=$(free_port)
watch_port=$(free_port)
PATH="$shims:$PATH" make --no-print-directory invoke CONCURRENCY=4 KMS_PORT="$kms_port" WATCH_PORT="$watch_port" >.local/invoke.log 2>&1 \
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
# (At most 15 s: Python's timeout, as a Mac has no timeout(1).)
if out=$(PATH="$shims:$PATH" python3 -c 'import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], timeout=15).returncode)' \
           make --no-print-directory invoke KMS_PORT="$taken" WATCH_PORT="$watch_port" 2>&1); then
  kill "$holder" 2>/dev/null || true
  fail "make invoke succeeded with its KMS port taken"
fi
kill "$holder" 2>/dev/null || true
grep -q "port $taken (the local KMS) is in use by another program" <<<"$out" || fail "make invoke with its KMS port taken did not name it: $out"
[ ! -s "$GNU_SHIMS_LOG" ] || fail "the copy's make invoke ran what macOS lacks: $(cat "$GNU_SHIMS_LOG")"
echo "copy check: the copy's make invoke serves the sample events 4 at a time to one process, and names a taken port in $(( $(date +%s) - start )) s"
