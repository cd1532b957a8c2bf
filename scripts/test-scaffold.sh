#!/usr/bin/env bash
# The scaffold check, run by `make test`:
#  1. `make scaffold` makes a lean copy: no leftover name, none of the lab, a README of its own,
#     no unsafe code but the wiping of secrets, a Cargo.lock that nothing rewrites. Its size is
#     printed beside the template's.
#  2. The README's walk-throughs, taken from the copy's own README, are applied to it
#     (scripts/walkthrough.py): describeKey on the same key, then generateMac and verifyMac on a
#     new HMAC key, which may touch at most five files besides its bad-input cases (and
#     template.yaml, which `make template` writes).
#  3. The copy's own `make test` passes, walk-throughs included.
# The copy shares this project's target dir and virtualenv: nothing is compiled or installed
# twice. KEEP_SCAFFOLD=DIR keeps the copy in DIR (.ci/run rehearses its deploy there).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ -n "${KEEP_SCAFFOLD:-}" ]; then
  dest=$KEEP_SCAFFOLD
  rm -rf "$dest"
  mkdir -p "$dest"
else
  dest=$(mktemp -d)
  trap 'rm -rf "$dest"' EXIT
fi
copy="$dest/scaffold-probe"
fail() { echo "scaffold check: $*" >&2; exit 1; }
make --no-print-directory scaffold NAME=scaffold-probe DEST="$copy" >/dev/null

# 1. What the copy holds.
if grep -rIn --exclude=README.md -e 'kms-lambda' -e 'kms_lambda' -e 'KmsLambda' -e 'KMS_LAMBDA' "$copy"; then
  fail "the lines above still carry the template's name"
fi
grep -q '^# scaffold-probe$' "$copy/README.md" || fail "the copy's README is not its own"
grep -q '^## Errors$' "$copy/README.md" || fail "the copy's README has no Errors table"
for lab in lab.mk bench.mk docs fuzz bench benches examples/kms-gate tests/fault_matrix.rs \
           tests/esdk_interop.rs scripts/scaffold.py tools/requirements-lab.txt; do
  [ ! -e "$copy/$lab" ] || fail "the copy carries the lab's $lab"
done
! grep -q '^\[\[bench\]\]' "$copy/Cargo.toml" || fail "the copy's Cargo.toml names benchmarks it does not have"
unsafe_code=$(grep -rlnE --include='*.rs' 'unsafe *(\{|fn |impl |extern )' "$copy" | sed "s|$copy/||" | grep -v '^src/kit/secret.rs$' || true)
[ -z "$unsafe_code" ] || fail "unsafe code beyond wiping secrets in: $unsafe_code"
lines() { (cd "$1" && eval "$2" | tr '\n' '\0' | xargs -0 cat | wc -l); }
copy_lines=$(lines "$copy" "find . -type f")
own_lines=$(lines "$root" "git ls-files")
echo "scaffold check: the copy holds $(find "$copy" -type f | wc -l) files, $copy_lines lines (this repository: $(git ls-files | wc -l) files, $own_lines lines)"

# The copy is a git project of its own from here on: what each walk-through touches is its diff.
cd "$copy"
git init -q && git add -A && git -c user.name=scaffold -c user.email=scaffold@localhost commit -qm scaffold
ln -s "$root/.venv" .venv
touch -r .venv/.installed tools/requirements.txt   # the shared .venv is up to date
export CARGO_TARGET_DIR="$root/target" MOTO_SERVER="$root/.venv/bin/moto_server"
cargo tree --offline --quiet >/dev/null   # resolves as `cargo build` and `cargo lambda watch` do, rewriting an unordered lock
git diff --quiet Cargo.lock || fail "cargo rewrites the copy's Cargo.lock: $(git diff --stat Cargo.lock)"
echo "scaffold check: the copy builds as scaffold-probe, leaves the lab behind, and its Cargo.lock stays as made"

# 2. The walk-throughs, as a copier follows them.
for walk in describe-key mac; do
  python3 "$root/scripts/walkthrough.py" README.md . "$walk"
  touched=$( (git diff --name-only; git ls-files --others --exclude-standard) | sort -u \
             | grep -v -e '^tests/bad-input/' -e '^template.yaml$' || true)
  echo "scaffold check: walk-through $walk touched $(echo "$touched" | wc -l) files besides bad-input cases and template.yaml: $(echo $touched)"
  if [ "$walk" = mac ] && [ "$(echo "$touched" | wc -l)" -gt 5 ]; then
    fail "a new kind of key took more than five files"
  fi
  git add -A && git -c user.name=scaffold -c user.email=scaffold@localhost commit -qm "$walk"
done

# 3. The copy's own checks.
make --no-print-directory test
echo "scaffold check: the copy's make test passes with describeKey, generateMac and verifyMac"
