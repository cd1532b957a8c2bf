# The function project's workflow. Two commands matter on a fresh machine:
#   make invoke   run the function locally on the sample events (local KMS included)
#   make test     the checks CI runs before its deploy rehearsal (.ci/run)
# Tools (moto, cargo-lambda, cfn-lint, SAM CLI) go into a project-local virtualenv, .venv; the
# kit's own tools are in kit/tools.

SHELL := /bin/bash
# Every recipe line fails as a whole: a failure anywhere in a pipeline fails it.
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PYTHON ?= python3
# The virtualenv first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
# The package's name (Cargo.toml): the binary, and the stack `make deploy` creates.
FUNCTION := $(shell sed -n 's/^name = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
TOOLS := kit/tools

.DEFAULT_GOAL := help
# The template's lab (benchmarks, fuzzing, copies, the ESDK oracle): a copy made with
# `cargo lambda new` has none of it, so a copy's targets are this file's alone.
-include lab.mk bench.mk

.PHONY: help venv lock invoke test test-steps lint rust-lint tool-lint test-build unit-and-integration template template-check build package deploy deploy-code deploy-check kit-update clean

help:
	@echo "make invoke        run the function locally on events/ against a local KMS (no AWS account)"
	@echo "                   CONCURRENCY=8: one process, 8 in flight, as on Managed Instances; KMS_PORT=, WATCH_PORT="
	@echo "make test          lint, unit and integration tests, template checks$(LAB_HELP)"
	@echo "make template      rewrite template.yaml's keys and role from the tables in src/ops/mod.rs"
	@echo "make build         cross-compile for arm64 Lambda (target/lambda/$(FUNCTION)/bootstrap)"
	@echo "make package       template check + sam build: the deployable artefact in .aws-sam/build"
	@echo "make deploy        package + sam deploy of stack $(STACK) (GUIDED=1 asks for every setting)"
	@echo "make deploy-code   after a first make deploy: build + cargo lambda deploy onto the stack's function"
	@echo "make deploy-check  rehearse the deploy offline: local CloudFormation, the deployed role, the arm64 artefact"
	@echo "make kit-update FROM=<template checkout>   take the kit of another kms-lambda version, then make test"
	@for t in $(LAB_TARGETS); do echo "$$t"; done

venv: $(VENV)/.installed

$(VENV)/.installed: tools/requirements.txt $(LAB_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(addprefix -r ,tools/requirements.txt $(LAB_REQUIREMENTS))
	touch $@

# A copy made by `cargo lambda new` starts with the template's Cargo.lock, in which the package
# still has the template's name: cargo renames that one entry, once (nothing else changes), and
# every build after it is --locked.
lock:
	@grep -qx 'name = "$(FUNCTION)"' Cargo.lock || { echo "Cargo.lock: the package is $(FUNCTION) (cargo update --workspace)"; cargo update --workspace --quiet; }

invoke: venv lock
	$(VENV)/bin/python $(TOOLS)/run_local.py $(FUNCTION)

# Two at a time, as the prerequisites allow: the tools install (mostly downloading) while the Rust
# lint compiles.
test:
	@$(MAKE) --no-print-directory -j2 test-steps
	@echo "make test: all checks passed"

test-steps: rust-lint tool-lint unit-and-integration $(LAB_TESTS)

lint: rust-lint tool-lint

# rustfmt on the whole workspace (every module is declared with a plain `mod` line), clippy on
# what deploys (no test hooks) and on every target with them.
rust-lint: lock $(LAB_RUST_LINT)
	cargo fmt --all --check
	cargo clippy --workspace --lib --bins --locked -- -D warnings
	cargo clippy --workspace --all-targets --locked -- -D warnings

# The template and the CI workflow.
tool-lint: venv
	cfn-lint template.yaml
	sam validate --lint --template template.yaml --region us-east-1
	$(VENV)/bin/python $(TOOLS)/managed_instances.py
	actionlint .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# Every test binary, built once after the lint; then the tests run (mostly waiting on KMS, the
# emulator and the clock) while a lab step compiles beside them.
test-build: rust-lint
	cargo test --workspace --all-targets --locked --no-run

# Unit tests, the kit's own tests (among them: kit/ is the kit as shipped, kit/MANIFEST), and
# the integration tests (real binary, Runtime API emulator, local KMS): tests/function.rs.
unit-and-integration: venv test-build $(LAB_TEST_PREREQS)
	cargo test --workspace --all-targets --locked

# The keys, aliases, outputs, key variables and role statements of template.yaml, from the key
# and operation tables (`make test` fails, naming the line, until they match).
template: lock
	cargo xtask template

# The same, checked and never written: what `make test` tested is what deploys.
template-check: lock
	cargo xtask template --check

build: venv lock
	cargo lambda build --release --arm64 --bin $(FUNCTION)
	@ls -l $(or $(CARGO_TARGET_DIR),target)/lambda/$(FUNCTION)/bootstrap

# SAM runs cargo-lambda in this directory, so .cargo/config.toml applies; both come from .venv.
package: venv template-check
	sam build

# The stack `make deploy` creates and `make deploy-code` updates. PARAMS="Name=value …" sets
# parameters (a secret's ciphertext: docs/operations.md); a later deploy keeps their values.
STACK ?= $(FUNCTION)
deploy: package
	sam deploy --stack-name $(STACK) $(if $(GUIDED),--guided,) $(if $(PARAMS),--parameter-overrides $(PARAMS),)
# The inner loop after a first `make deploy`: the new code onto the stack's function with
# cargo-lambda (seconds, where sam deploy takes minutes), with the settings of Cargo.toml's
# [package.metadata.lambda.deploy]. The function's name comes from the stack's outputs; its role
# and key variables are the stack's and stay (cargo-lambda is given neither).
deploy-code: venv build
	name=$$(sam list stack-outputs --stack-name $(STACK) --output json | $(VENV)/bin/python -c \
	  'import json, sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "FunctionName"))'); \
	  cargo lambda deploy --binary-name $(FUNCTION) "$$name"

# The deploy rehearsal (run by .ci/run): `sam build` as `make deploy` runs it, its arm64
# artefact checked, the stack created in a local CloudFormation (moto), `make deploy-code` onto
# its function and the function read back, then (IAM enforced) the artefact run under qemu with
# the deployed configuration and role. One arm64 build (SAM builds
# in this directory, in target/, like `make build`) serves all of it.
DEPLOY_STATE := $(CURDIR)/.local/deploy-check.json
SAM_BOOTSTRAP := .aws-sam/build/Function/bootstrap
deploy-check: package
	$(VENV)/bin/python $(TOOLS)/deploy_check.py artefact $(SAM_BOOTSTRAP)
	$(VENV)/bin/python $(TOOLS)/deploy_check.py prepare $(SAM_BOOTSTRAP) $(DEPLOY_STATE)
	status=0; { $(VENV)/bin/python $(TOOLS)/deploy_check.py code $(DEPLOY_STATE) && \
	  $(VENV)/bin/python $(TOOLS)/deploy_check.py enforce $(DEPLOY_STATE) && \
	  KMS_LAMBDA_DEPLOY_STATE=$(DEPLOY_STATE) KMS_LAMBDA_DEPLOY_BOOTSTRAP=$(CURDIR)/$(SAM_BOOTSTRAP) \
	  cargo test --locked --test function -- --ignored --nocapture --exact deploy; } || status=$$?; \
	  $(VENV)/bin/python $(TOOLS)/deploy_check.py stop $(DEPLOY_STATE); exit $$status

# The kit is vendored as it ships (kit/MANIFEST lists its files): taking another version is
# replacing the directory and running the tests.
# The dependency names the kit's version; Cargo.lock takes the kit's entry and whatever new
# dependencies it brings, nothing else (cargo update --workspace).
kit-update:
	@test -n "$(FROM)" -a -f "$(FROM)/kit/MANIFEST" || { echo "usage: make kit-update FROM=<a kms-lambda checkout, or a copy whose kit you want>" >&2; exit 2; }
	rm -rf kit
	cp -R "$(FROM)/kit" kit
	version=$$(sed -n 's/^version = "\(.*\)"$$/\1/p' kit/Cargo.toml | head -n 1); \
	  sed -i "s/^kms-lambda-kit = { version = \"=[^\"]*\"/kms-lambda-kit = { version = \"=$$version\"/" Cargo.toml; \
	  cargo update --workspace --quiet; \
	  echo "make kit-update: kit/ is kms-lambda-kit $$version from $(FROM) (its CHANGELOG.md says what changed); running make test"
	$(MAKE) --no-print-directory test

clean:
	rm -rf target .local .aws-sam
