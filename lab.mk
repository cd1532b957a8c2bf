# The template's lab, included by the Makefile: what this repository has and a copy made by
# `cargo lambda new` leaves behind (.gitattributes marks it export-ignore; the benchmarks are
# bench.mk).

LAB_TESTS := copy-check kit-docs fault-matrix-new-retries copy-variants
LAB_RUST_LINT := lab-lint
LAB_REQUIREMENTS := tools/requirements-lab.txt
# What the lab's integration tests need besides .venv: the Node.js ESDK peer.
LAB_TEST_PREREQS := tests/esdk-node/node_modules/.installed
LAB_HELP := , the copy check
LAB_TARGETS += \
  "make copy NAME=my-function DEST=../my-function   a new function project from this template (cargo lambda new)" \
  "make kit-manifest  after changing the kit: kit/MANIFEST lists its files as they ship" \
  "make fuzz          fuzz event decoding and envelope parsing (FUZZ_SECONDS each, default 600)"

# The official Node.js AWS Encryption SDK, for tests/esdk_interop.rs (pinned by its lock).
tests/esdk-node/node_modules/.installed: tests/esdk-node/package.json tests/esdk-node/package-lock.json
	cd tests/esdk-node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: copy template-zip copy-check copy-variants copy-deploy-check kit-manifest kit-docs fault-matrix-new-retries lab-lint fuzz

# What `cargo lambda new` copies: this tree as git sees it (tracked files and new ones not
# ignored, edits included), less what .gitattributes marks export-ignore — as the zip of a
# GitHub archive URL holds it. cargo-lambda reads CargoLambda.toml in it.
TEMPLATE_ZIP := $(CURDIR)/.local/template.zip
template-zip:
	mkdir -p .local
	index=$$(mktemp) && trap 'rm -f "$$index"' EXIT && \
	  GIT_INDEX_FILE="$$index" git read-tree HEAD && \
	  GIT_INDEX_FILE="$$index" git add -A && \
	  tree=$$(GIT_INDEX_FILE="$$index" git write-tree) && \
	  rm -f $(TEMPLATE_ZIP) && git archive --format=zip -o $(TEMPLATE_ZIP) "$$tree"

# A new function project, as its README says to make one: `cargo lambda new` on this template.
copy: venv template-zip
	@test -n "$(NAME)" -a -n "$(DEST)" || { echo "usage: make copy NAME=my-function DEST=../my-function" >&2; exit 2; }
	@test ! -e "$(DEST)" || { echo "make copy: $(DEST) exists" >&2; exit 2; }
	mkdir -p "$$(dirname "$(DEST)")"
	cd "$$(dirname "$(DEST)")" && cargo lambda new "$(NAME)" --template $(TEMPLATE_ZIP) --no-interactive
	@[ "$$(basename "$(DEST)")" = "$(NAME)" ] || mv "$$(dirname "$(DEST)")/$(NAME)" "$(DEST)"
	@echo "make copy: $(NAME) in $(DEST); next: cd $(DEST) && git init && git add -A && git commit -qm \"$(NAME), from kms-lambda\" && make test"

# A copy made with `cargo lambda new`, the walk-throughs of docs/operations.md applied, runs its
# own `make test` (scripts/test-copy.sh); it is kept in .local/copy for `make
# copy-deploy-check`. It compiles while this project's tests run (they share the built
# dependencies); `+` lends the copy's own `make test` this make's two job slots.
COPY_DIR := $(CURDIR)/.local/copy
copy-check: venv test-build template-zip
	+scripts/test-copy.sh $(TEMPLATE_ZIP) $(COPY_DIR)

# Variants of the copy's kit (a planted fault, a wiring change), last and alone: the copy's kit/
# and this project's name their artefacts alike in the shared target dir (scripts/test-copy.sh).
copy-variants: copy-check unit-and-integration kit-docs fault-matrix-new-retries
	+scripts/test-copy.sh $(TEMPLATE_ZIP) $(COPY_DIR) variants

# The copy's deploy, as its own CI rehearses it: a stack with two kinds of key (the template's
# encryption key and the walk-through's HMAC key), a role with a statement on each.
copy-deploy-check:
	CARGO_TARGET_DIR="$(CURDIR)/target" $(MAKE) -C $(COPY_DIR)/scaffold-probe deploy-check

# kit/MANIFEST: each file of the kit as it ships, with its SHA-256 (sha256sum's format). A
# function project's tests check its kit/ against it (kit/tests/vendored.rs).
kit-manifest:
	$(PYTHON) scripts/kit_manifest.py kit

# The kit as a crate to publish: its documentation builds without a warning, with and without
# its features and as docs.rs builds it, and documents exactly the items kit/API lists; its
# examples compile and run; it packages, and the package builds on its own, from a directory
# outside this project (where .cargo/config.toml does not apply), as a registry's user would.
kit-docs: test-build
	RUSTDOCFLAGS="-D warnings" cargo doc --locked -p kms-lambda-kit --no-deps
	$(PYTHON) scripts/api_items.py $(or $(CARGO_TARGET_DIR),target)/doc/kms_lambda_kit/all.html kit/API
	DOCS_RS=1 RUSTDOCFLAGS="-D warnings" cargo doc --locked -p kms-lambda-kit --no-deps --all-features
	cargo test --locked -p kms-lambda-kit --doc --all-features
	elsewhere=$$(mktemp -d) && trap 'rm -rf "$$elsewhere"' EXIT && cd "$$elsewhere" && \
	  cargo package --locked --allow-dirty --quiet --manifest-path $(CURDIR)/kit/Cargo.toml \
	    --target-dir $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/kit-package

# The fault matrix again, the function on the SDK's next retry behaviour (AWS_NEW_RETRIES_2026:
# retry behaviour 2.1, to become the SDK's default), which the kit honours rather than pins: when
# the default changes, this has already run. (`make test` runs the matrix without it.)
fault-matrix-new-retries: venv test-build
	KMS_LAMBDA_TEST_FUNCTION_ENV=AWS_NEW_RETRIES_2026=true cargo test --locked --test fault_matrix

# The lab's part of the Rust lint: every .rs file git knows is one `cargo fmt` formats (a
# module reached by no `mod` line is one no target compiles and no test runs), and the fuzz
# targets (a crate of their own, on the same lock and target dir) type-check and are formatted.
lab-lint:
	$(PYTHON) scripts/fmt_coverage.py
	cp Cargo.lock fuzz/Cargo.lock
	CARGO_TARGET_DIR=$(CURDIR)/target cargo check --manifest-path fuzz/Cargo.toml
	cargo fmt --manifest-path fuzz/Cargo.toml --check

# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer). Not part of `make test` (whose lint
# type-checks the targets). RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := event_decoding envelope_parsing
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
	mkdir -p fuzz/corpus/event_decoding fuzz/corpus/envelope_parsing
	cp kit/tests/bad-input/*.json tests/bad-input/*/*.json events/*.json fuzz/corpus/event_decoding/
	cp fuzz/seeds/envelope_parsing/* fuzz/corpus/envelope_parsing/
	for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $$t fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 || exit 1; \
	done
