# kms-lambda developer workflow. Two commands matter on a fresh machine:
#   make invoke   run the function locally on the sample events (local KMS included)
#   make test     everything CI runs
# Tools (moto, cargo-lambda, cfn-lint, SAM CLI) go into a project-local virtualenv, .venv.

SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
# The virtualenv first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

# The project's own tests and benchmarks need the `test-hooks` feature (src/test_hooks.rs);
# no deployed build has it.
FEATURES := --features test-hooks

.PHONY: help venv invoke test lint fuzz-check unit-and-integration scaffold-check build package deploy deploy-check scaffold bench fuzz clean

help:
	@echo "make invoke    run the function locally on events/ against a local KMS (no AWS account)"
	@echo "make test      fmt, clippy, unit + integration tests, template checks, scaffold check"
	@echo "make bench     benchmarks (envelope throughput); results in bench/results/"
	@echo "make fuzz      fuzz event decoding and envelope parsing (FUZZ_SECONDS each, default 600)"
	@echo "make build     cross-compile for arm64 Lambda (target/lambda/kms-lambda/bootstrap)"
	@echo "make package   sam build: the deployable artefact in .aws-sam/build"
	@echo "make deploy    sam build + sam deploy with samconfig.toml (GUIDED=1 asks for every setting)"
	@echo "make deploy-check  rehearse the deploy offline: local CloudFormation, the deployed role, the arm64 artefact"
	@echo "make scaffold NAME=my-function DEST=../my-function   copy this template as a new function"

venv: $(VENV)/.installed

$(VENV)/.installed: tools/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r tools/requirements.txt
	touch $@

invoke: venv
	scripts/run-local.sh

test: venv lint unit-and-integration scaffold-check
	@echo "make test: all checks passed"

lint: venv fuzz-check
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	cargo clippy --all-targets --locked $(FEATURES) -- -D warnings
	cfn-lint template.yaml
	sam validate --lint --template template.yaml --region us-east-1
	actionlint .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# The fuzz targets are a separate crate (cargo-fuzz's layout): type-check them so they cannot
# rot between fuzzing runs. Same lock file and target dir, so nothing is compiled twice.
fuzz-check:
	cp Cargo.lock fuzz/Cargo.lock
	CARGO_TARGET_DIR=$(CURDIR)/target cargo check --quiet --manifest-path fuzz/Cargo.toml

# Unit tests and the integration tests (real binary, Runtime API emulator, local KMS); the
# least-privilege and metrics checks of template.yaml are among them (tests/template.rs).
unit-and-integration: venv
	cargo test --all-targets --locked $(FEATURES)

scaffold-check:
	scripts/test-scaffold.sh

BOOTSTRAP := target/lambda/kms-lambda/bootstrap

build: venv
	cargo lambda build --release --arm64 --bin kms-lambda
	@ls -l $(BOOTSTRAP)

# SAM runs cargo-lambda in this directory, so .cargo/config.toml applies; both come from .venv.
package: venv
	sam build

deploy: package
	sam deploy $(if $(GUIDED),--guided,)

# The deploy rehearsal (run by .ci/run): `sam build` as `make deploy` runs it, its arm64
# artefact checked, the stack created in a local CloudFormation (moto, IAM enforced), the
# artefact run under qemu with the deployed configuration and role. One arm64 build (SAM builds
# in this directory, in target/, like `make build`) serves all of it.
DEPLOY_STATE := $(CURDIR)/.local/deploy-check.json
SAM_BOOTSTRAP := .aws-sam/build/KmsLambdaFunction/bootstrap
deploy-check: package
	$(VENV)/bin/python scripts/deploy_check.py artefact $(SAM_BOOTSTRAP)
	$(VENV)/bin/python scripts/deploy_check.py prepare $(SAM_BOOTSTRAP) $(DEPLOY_STATE)
	KMS_LAMBDA_DEPLOY_STATE=$(DEPLOY_STATE) KMS_LAMBDA_DEPLOY_BOOTSTRAP=$(CURDIR)/$(SAM_BOOTSTRAP) \
	  cargo test --locked $(FEATURES) --test deploy -- --ignored --nocapture; \
	  status=$$?; $(VENV)/bin/python scripts/deploy_check.py stop $(DEPLOY_STATE); exit $$status

# Benchmarks (never part of `make test`): the release binary under the emulator against the
# local KMS, beside a plain SDK call and the Node.js v3 peer; envelope throughput; arm64 size.
bench: venv
	npm ci --prefix bench/node --no-audit --no-fund
	cargo lambda build --release --arm64 --bin kms-lambda
	$(VENV)/bin/python scripts/artifact-size.py target/lambda/kms-lambda/bootstrap bench/results/artifact.json
	cargo bench --bench envelope
	cargo bench $(FEATURES) --bench lambda

# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer). Not part of `make test`.
# RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags cargo-fuzz passes.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := event_decoding envelope_parsing
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
	mkdir -p fuzz/corpus/event_decoding fuzz/corpus/envelope_parsing
	cp tests/bad-input/*.json events/*.json fuzz/corpus/event_decoding/
	cp fuzz/seeds/envelope_parsing/* fuzz/corpus/envelope_parsing/
	for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $$t fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 || exit 1; \
	done

scaffold:
	@test -n "$(NAME)" -a -n "$(DEST)" || { echo "usage: make scaffold NAME=my-function DEST=../my-function" >&2; exit 2; }
	$(PYTHON) scripts/scaffold.py "$(NAME)" "$(DEST)"

clean:
	rm -rf target .local .aws-sam
