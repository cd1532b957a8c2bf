# kms-lambda developer workflow. Two commands matter on a fresh machine:
#   make invoke   run the function locally on the sample events (local KMS included)
#   make test     the checks CI runs before its deploy rehearsal (.ci/run)
# Tools (moto, cargo-lambda, cfn-lint, SAM CLI) go into a project-local virtualenv, .venv.

SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
# The virtualenv first: cargo-lambda finds zig through `python3 -m ziglang`.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

# The project's own tests need the `test-hooks` feature (src/kit/test_hooks.rs); no deployed
# build has it.
FEATURES := --features test-hooks

.DEFAULT_GOAL := help
# The template's lab (benchmarks, fuzzing, scaffolding, the ESDK oracle): make scaffold leaves
# it out of a copy, so a copy's targets are this file's alone.
-include lab.mk bench.mk

.PHONY: help venv invoke test test-steps lint rust-lint tool-lint test-build unit-and-integration template build package deploy deploy-check clean

help:
	@echo "make invoke        run the function locally on events/ against a local KMS (no AWS account)"
	@echo "make test          lint, unit and integration tests, template checks$(LAB_HELP)"
	@echo "make template      write template.yaml's keys and role from the tables in src/ops/mod.rs"
	@echo "make build         cross-compile for arm64 Lambda (target/lambda/kms-lambda/bootstrap)"
	@echo "make package       make template + sam build: the deployable artefact in .aws-sam/build"
	@echo "make deploy        package + sam deploy with samconfig.toml (GUIDED=1 asks for every setting)"
	@echo "make deploy-check  rehearse the deploy offline: local CloudFormation, the deployed role, the arm64 artefact"
	@for t in $(LAB_TARGETS); do echo "$$t"; done

venv: $(VENV)/.installed

$(VENV)/.installed: tools/requirements.txt $(LAB_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(addprefix -r ,tools/requirements.txt $(LAB_REQUIREMENTS))
	touch $@

invoke: venv
	scripts/run-local.sh

# Two at a time, as the prerequisites allow: the tools install (mostly downloading) while the Rust
# lint compiles.
test:
	@$(MAKE) --no-print-directory -j2 test-steps
	@echo "make test: all checks passed"

test-steps: rust-lint tool-lint unit-and-integration $(LAB_TESTS)

lint: rust-lint tool-lint

# rustfmt on every .rs file git knows and clippy on every target, proving that no file escaped
# both (scripts/lint.py: the standard library only, so it needs no .venv).
rust-lint:
	$(PYTHON) scripts/lint.py

# The template and the CI workflow.
tool-lint: venv
	cfn-lint template.yaml
	sam validate --lint --template template.yaml --region us-east-1
	$(VENV)/bin/python scripts/managed_instances.py
	actionlint .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# Every test binary, built once after the lint; then the tests run (mostly waiting on KMS, the
# emulator and the clock) while a lab step compiles beside them.
test-build: rust-lint
	cargo test --all-targets --locked $(FEATURES) --no-run

# Unit tests and the integration tests (real binary, Runtime API emulator, local KMS); the key,
# least-privilege and metrics checks of template.yaml are among them (tests/it/template.rs).
unit-and-integration: venv test-build
	cargo test --all-targets --locked $(FEATURES)

# The keys, aliases, outputs, key variables and role statements of template.yaml, from the key
# and operation tables (tests/it/template.rs writes them; `make test` fails until they match).
template:
	@KMS_LAMBDA_WRITE_TEMPLATE=1 cargo test --quiet --locked $(FEATURES) --test it -- \
	  --exact template::the_keys_and_the_role_are_what_the_key_and_operation_tables_say --nocapture \
	  | grep -e '^make template' || echo "make template: template.yaml is what the tables say"

BOOTSTRAP := target/lambda/kms-lambda/bootstrap

build: venv
	cargo lambda build --release --arm64 --bin kms-lambda
	@ls -l $(BOOTSTRAP)

# SAM runs cargo-lambda in this directory, so .cargo/config.toml applies; both come from .venv.
# The template is written from the tables first, so what deploys is what the code needs.
package: venv template
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
	  cargo test --locked $(FEATURES) --test it -- --ignored --nocapture deploy::; \
	  status=$$?; $(VENV)/bin/python scripts/deploy_check.py stop $(DEPLOY_STATE); exit $$status

clean:
	rm -rf target .local .aws-sam
