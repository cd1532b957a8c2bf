#!/usr/bin/env bash
# Checks `make scaffold`: the copy holds no leftover name and builds. Run by `make test`.
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
CARGO_TARGET_DIR="$PWD/target" cargo check --quiet --locked --all-targets --manifest-path "$copy/Cargo.toml"
echo "scaffold: the copy builds as scaffold-probe and holds no kms-lambda names"
