#!/usr/bin/env python3
"""Every .rs file git knows (the fuzz crate aside, which lab.mk formats on its own) is one that
plain `cargo fmt --all` formats: a module reached by no `mod` line — declared inside a macro,
or not declared at all — would be formatted by nothing, compiled by no target and run by no
test. rustfmt's verbose mode names each file it formats.

Usage: scripts/fmt_coverage.py   (from the project directory; `make test`'s lint runs it)
"""
import os
import subprocess
import sys


def main():
    root = os.getcwd()
    out = subprocess.run(["cargo", "fmt", "--all", "--", "--check", "-v"], capture_output=True, text=True).stdout
    formatted = {os.path.normpath(line[len("Formatting "):]) for line in out.splitlines() if line.startswith("Formatting ")}
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "*.rs"],
        check=True, capture_output=True, text=True,
    ).stdout
    files = [f for f in listed.split("\0") if f and not f.startswith("fuzz/") and os.path.exists(f)]
    missed = sorted(f for f in files if os.path.join(root, f) not in formatted)
    if missed:
        sys.exit("fmt-coverage: cargo fmt --all never reaches " + ", ".join(missed)
                 + ": declare each with a plain `mod` line (a module reached by none is compiled by no target)")
    print(f"fmt-coverage: cargo fmt --all formats every one of the {len(files)} .rs files")


if __name__ == "__main__":
    main()
