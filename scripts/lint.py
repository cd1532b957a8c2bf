#!/usr/bin/env python3
"""The Rust half of `make lint`, and its proof that it saw every file.

- rustfmt --check on every .rs file git knows (tracked, or new and not ignored): `cargo fmt`
  alone skips modules declared inside a macro, such as the operations in src/ops/;
- cargo clippy -D warnings on what deploys (library, binary, examples) without the `test-hooks`
  feature, and on every target with it (and `cargo check` of the fuzz targets, where fuzz/
  exists);
- then the proof: the dep-info of every target clippy checked lists the source files the
  compiler read. Each .rs file git knows must be among them, or the lint fails naming it — a
  file no target compiles is one no test runs and no lint reads (an operation's module left
  out of the table, say).

Usage: scripts/lint.py   (from the project directory; `make lint` runs it)
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rust_files():
    """Every .rs file git knows; outside a git checkout, every .rs file but build output."""
    try:
        out = subprocess.run(
            ["git", "-C", ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "*.rs"],
            check=True, capture_output=True,
        ).stdout.decode()
        files = sorted({f for f in out.split("\0") if f and os.path.exists(os.path.join(ROOT, f))})
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    skip = {".git", "target", ".venv", ".local", "node_modules", ".aws-sam"}
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip]
        files += [os.path.relpath(os.path.join(dirpath, f), ROOT) for f in filenames if f.endswith(".rs")]
    return sorted(files)


def cargo_json(args, env=None):
    """Runs a cargo command with JSON messages: prints the compiler's diagnostics as cargo would,
    and returns the dep-info files of this project's targets. Exits if cargo fails."""
    cut = args.index("--") if "--" in args else len(args)
    cmd = ["cargo", *args[:cut], "--message-format=json-diagnostic-rendered-ansi", *args[cut:]]
    print("lint: " + " ".join(a for a in cmd if not a.startswith("--message-format")), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, env=env)
    dep_info = set()
    for line in proc.stdout:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-message" and m["message"].get("rendered"):
            sys.stderr.write(m["message"]["rendered"])
        elif m.get("reason") == "compiler-artifact" and m["package_id"].startswith("path+file://"):
            for f in m["filenames"]:
                d = os.path.dirname(f)
                if "custom-build" in m["target"]["kind"]:
                    dep_info |= {os.path.join(d, n) for n in os.listdir(d) if n.endswith(".d")}
                else:
                    stem = os.path.basename(f).split(".")[0]
                    dep_info.add(os.path.join(d, stem.removeprefix("lib") + ".d"))
    if proc.wait() != 0:
        sys.exit(f"lint: {' '.join(cmd[:3])} failed")
    return dep_info


def sources(dep_info_files, base):
    """The project's own source files the dep-info files list, relative to ROOT."""
    seen = set()
    for path in dep_info_files:
        if not os.path.exists(path):
            continue
        for line in open(path, encoding="utf-8"):
            target, _, deps = line.partition(": ")
            if not deps or target.endswith((".rmeta", ".rlib")):
                continue
            for dep in deps.split():
                full = os.path.normpath(os.path.join(base, dep))
                if full.startswith(ROOT + os.sep):
                    seen.add(os.path.relpath(full, ROOT))
    return seen


def main():
    files = rust_files()
    unformatted = [
        f for f in files
        if subprocess.run(["rustfmt", "--edition", "2021", "--check", os.path.join(ROOT, f)],
                          capture_output=True).returncode != 0
    ]
    if unformatted:
        sys.exit("lint: rustfmt would change " + ", ".join(unformatted)
                 + " (run `cargo fmt` and `rustfmt --edition 2021` on these)")
    print(f"lint: rustfmt --check: {len(files)} files, all formatted", flush=True)

    seen = set()
    # What deploys (no test hooks), then every target with the test hooks the tests use.
    for targets in (["--lib", "--bins", "--examples"], ["--all-targets", "--features", "test-hooks"]):
        dep_info = cargo_json(["clippy", *targets, "--locked", "--", "-D", "warnings"])
        seen |= sources(dep_info, ROOT)
    fuzz = os.path.join(ROOT, "fuzz")
    if os.path.exists(os.path.join(fuzz, "Cargo.toml")):
        # A separate crate (cargo-fuzz's layout), on the same lock file and target dir.
        with open(os.path.join(ROOT, "Cargo.lock"), "rb") as src, open(os.path.join(fuzz, "Cargo.lock"), "wb") as dst:
            dst.write(src.read())
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
        dep_info = cargo_json(["check", "--manifest-path", "fuzz/Cargo.toml"], env)
        seen |= sources(dep_info, fuzz)
    unchecked = [f for f in files if f not in seen]
    if unchecked:
        sys.exit("lint: no target compiles " + ", ".join(unchecked)
                 + ": clippy never read it and no test runs it (is an operation's module missing"
                 " from the table in src/ops/mod.rs?)")
    print(f"lint: clippy -D warnings: every one of the {len(files)} .rs files is compiled by a checked target")


if __name__ == "__main__":
    main()
