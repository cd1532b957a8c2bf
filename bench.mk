# The benchmark harness, included by the Makefile: this template's lab (a copy made with
# `cargo lambda new` has none of it). Never part of `make test` (which runs each benchmark once, quickly,
# as a smoke test); results go to bench/results/, figures with their conditions to
# docs/benchmarks.md.

LAB_TARGETS += \
  "make bench         benchmarks: the first invoke under Lambda's conditions and Managed Instances (one vCPU, concurrency 1-64), beside the Node.js peer; envelopes"

.PHONY: bench

# Benchmarks (never part of `make test`): the artefact that ships — the bootstrap `cargo lambda
# build --release` makes, here for this machine's architecture — under the emulator against the
# local KMS, beside a plain SDK call and the Node.js v3 peer, and the kit's probe (release) for
# what the artefact must not have; Managed Instances (KMS answered by the SigV4 gate itself with
# AES-GCM, benches/lambda/local_kms.rs, which `cargo run --example kms-gate -- --local` serves
# too); envelope throughput; the arm64 artefact's size.
bench: venv
	cd bench/node && npm ci --no-audit --no-fund
	cargo lambda build --release --arm64 --bin kms-lambda
	$(VENV)/bin/python scripts/artifact-size.py $(or $(CARGO_TARGET_DIR),target)/lambda/kms-lambda/bootstrap bench/results/artifact.json
	cargo lambda build --release --bin kms-lambda
	cargo build --release --locked -p kms-lambda-kit --features testing --bin kit-probe
	cargo bench --bench envelope
	cargo bench --bench lambda

