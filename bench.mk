# The benchmark harness, included by the Makefile: this template's lab (a copy made with
# `cargo lambda new` has none of it). Never part of `make test` (which runs each benchmark once, quickly,
# as a smoke test); results go to bench/results/, figures with their conditions to
# docs/benchmarks.md.

LAB_TARGETS += \
  "make bench         benchmarks: the first invoke under Lambda's conditions and Managed Instances (one vCPU, concurrency 1-64), beside the Node.js peer; envelopes"

.PHONY: bench

# Benchmarks (never part of `make test`): the release binary under the emulator against the
# local KMS, beside a plain SDK call and the Node.js v3 peer; Managed Instances (KMS answered by
# the SigV4 gate itself with AES-GCM, benches/lambda/local_kms.rs, which `cargo run --example
# kms-gate -- --local` serves too); envelope throughput; arm64 size.
bench: venv
	cd bench/node && npm ci --no-audit --no-fund
	cargo lambda build --release --arm64 --bin kms-lambda
	$(VENV)/bin/python scripts/artifact-size.py $(or $(CARGO_TARGET_DIR),target)/lambda/kms-lambda/bootstrap bench/results/artifact.json
	cargo bench --bench envelope
	cargo bench --bench lambda

