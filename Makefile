# The function project's workflow: `make invoke` runs it locally on the sample events, `make test`
# runs the checks. Tools go into a project-local virtualenv, .venv; the kit's are in kit/tools.

# Portable: GNU make 3.81 (macOS's /usr/bin/make) and newer, any POSIX sh. No recipe line hides a
# failure: each is one command, or commands joined by `&&` (3.81 has no .SHELLFLAGS, so no
# `set -e` or `pipefail` can be relied on), and none pipes one command into another.
SHELL := /bin/sh
ifeq ($(filter else-if,$(.FEATURES)),)
$(error this Makefile needs GNU make 3.81 or newer (macOS: /usr/bin/make; elsewhere: gmake))
endif
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
	@echo "make kit-update FROM=<kms-lambda checkout, or the template zip or its URL>   take that kit, then make test"
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

# rustfmt on the workspace, clippy on what deploys and on every target; each failure says what
# fixes it.
rust-lint: lock $(LAB_RUST_LINT)
	@cargo fmt --all --check || { echo "make test: formatting differs from rustfmt's (the diff above): run cargo fmt --all" >&2; exit 1; }
	@cargo clippy --workspace --lib --bins --locked -- -D warnings || { echo "make test: clippy's warnings above fail the build: fix them (cargo clippy --fix --allow-dirty fixes some)" >&2; exit 1; }
	@cargo clippy --workspace --all-targets --locked -- -D warnings || { echo "make test: clippy's warnings above (tests, examples) fail the build: fix them (cargo clippy --all-targets --fix --allow-dirty fixes some)" >&2; exit 1; }

# The template, the CI workflow, and the portability of what the local loop runs.
tool-lint: venv
	@cfn-lint template.yaml || { echo "make test: template.yaml fails cfn-lint (above): edit it; make template rewrites the parts the tables give" >&2; exit 1; }
	@sam validate --lint --template template.yaml --region us-east-1 || { echo "make test: template.yaml fails sam validate (above): edit it" >&2; exit 1; }
	$(VENV)/bin/python $(TOOLS)/managed_instances.py
	@actionlint .github/workflows/ci.yml || { echo "make test: .github/workflows/ci.yml fails actionlint (above): edit it" >&2; exit 1; }
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/python $(TOOLS)/portable.py Makefile .ci/run $(TOOLS)

# Every test binary, built once after the lint.
test-build: rust-lint
	cargo test --workspace --all-targets --locked --no-run

# The kit's tests (kit/ as shipped among them), the unit tests, the integration tests.
unit-and-integration: venv test-build $(LAB_TEST_PREREQS)
	cargo test --workspace --all-targets --locked

# template.yaml's keys, role and secrets from the tables (`make test` fails until they match).
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
# After a first `make deploy`: the new code onto the stack's function with cargo-lambda, in
# seconds; its role and variables stay the stack's (cargo-lambda is given neither).
deploy-code: venv build
	mkdir -p .local
	sam list stack-outputs --stack-name $(STACK) --output json > .local/stack-outputs.json
	name=$$($(VENV)/bin/python -c 'import json, sys; print(next(o["OutputValue"] for o in json.load(open(sys.argv[1])) if o["OutputKey"] == "FunctionName"))' .local/stack-outputs.json) && \
	  cargo lambda deploy --binary-name $(FUNCTION) "$$name"

# The deploy rehearsal (run by .ci/run): `sam build`, the stack in a local CloudFormation (moto),
# `make deploy-code` onto it, then (IAM enforced) the arm64 artefact run with its configuration
# and role. One arm64 build serves all of it.
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

# The kit is kept as it ships: another version replaces kit/ whole (exactly what its MANIFEST
# lists), from a kms-lambda checkout, a project, or the template's zip (a file or its URL); then
# the tests. The same kit again undoes an edit of kit/.
kit-update: venv
	$(VENV)/bin/python $(TOOLS)/kit_update.py "$(FROM)"
	$(MAKE) --no-print-directory test

clean:
	rm -rf target .local .aws-sam
