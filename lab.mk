# The template's lab, included by the Makefile: what this repository has and a copy of it made
# by `make scaffold` leaves behind (the benchmarks stay with `BENCH=1`).

LAB_TESTS := scaffold-check
LAB_REQUIREMENTS := tools/requirements-lab.txt
LAB_HELP := , the scaffold check
LAB_TARGETS += \
  "make fuzz          fuzz event decoding and envelope parsing (FUZZ_SECONDS each, default 600)" \
  "make scaffold NAME=my-function DEST=../my-function [BENCH=1]   copy this template as a new function"

.PHONY: fuzz scaffold scaffold-check

# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer). Not part of `make test` (whose lint
# type-checks the targets). RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags.
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
	@test -n "$(NAME)" -a -n "$(DEST)" || { echo "usage: make scaffold NAME=my-function DEST=../my-function [BENCH=1]" >&2; exit 2; }
	$(PYTHON) scripts/scaffold.py "$(NAME)" "$(DEST)" $(if $(BENCH),--bench,)

# A scaffolded copy, with the README's walk-throughs applied (describeKey on the same key,
# generateMac/verifyMac on an HMAC key), runs its own `make test` (scripts/test-scaffold.sh).
# It compiles while this project's tests run (they share the built dependencies); `+` lends the
# copy's own `make test` this make's two job slots.
scaffold-check: venv test-build
	+scripts/test-scaffold.sh
