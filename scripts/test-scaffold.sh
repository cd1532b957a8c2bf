#!/usr/bin/env bash
# Checks `make scaffold` and the README's "Add an operation" walk-through. Run by `make test`.
#  1. The copy holds no leftover name and builds.
#  2. The walk-through's code blocks, taken from the copy's README, are applied to the copy
#     (scripts/walkthrough.py); the copy is formatted and lint-clean and its unit, template,
#     sample-event, bad-input and entropy tests pass with the new operation (the entropy test
#     shows the copy's build kept .cargo/config.toml's AWS_LC_SYS_NO_JITTER_ENTROPY).
# Shares this project's target dir so the dependencies are not compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make --no-print-directory scaffold NAME=scaffold-probe DEST="$dest/scaffold-probe" >/dev/null
copy="$dest/scaffold-probe"
if grep -rIn -e 'kms-lambda' -e 'kms_lambda' -e 'KmsLambda' -e 'KMS_LAMBDA' "$copy"; then
  echo "scaffold: the lines above still carry the template's name" >&2
  exit 1
fi
grep -q '^name = "scaffold-probe"' "$copy/Cargo.toml"
grep -q 'Binary: scaffold-probe' "$copy/template.yaml"
grep -q 'Default: ScaffoldProbe' "$copy/template.yaml"
grep -q 'use scaffold_probe::' "$copy/src/main.rs"
export CARGO_TARGET_DIR="$PWD/target"
cargo check --quiet --locked --all-targets --manifest-path "$copy/Cargo.toml"
echo "scaffold: the copy builds as scaffold-probe and holds no kms-lambda names"

python3 scripts/walkthrough.py "$copy/README.md" "$copy"
cd "$copy"
cargo fmt --all -- --check
cargo clippy --quiet --locked --all-targets --features test-hooks -- -D warnings
MOTO_SERVER="$OLDPWD/.venv/bin/moto_server" cargo test --quiet --locked --features test-hooks \
  --lib --test template --test events --test bad_input --test entropy
echo "scaffold: the README's walk-through adds describeKey to a copy, and its tests pass"
