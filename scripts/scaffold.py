#!/usr/bin/env python3
"""Copies this project's tracked files into a new directory as a new function.

Usage: scaffold.py NAME DEST

NAME is the new package, binary and stack name in kebab case (e.g. `orders-encryptor`). Every
spelling of the current name is replaced: kebab (package, binary, events), snake (Rust crate
paths), Pascal (CloudFormation logical ids, metric namespace) and upper snake (environment
variables). The copy is ready for `cargo build`; it does not share git history.
"""
import os
import re
import shutil
import subprocess
import sys

FROM = "kms-lambda"


def spellings(kebab):
    words = kebab.split("-")
    return {
        "kebab": kebab,
        "snake": "_".join(words),
        "pascal": "".join(w[:1].upper() + w[1:] for w in words),
        "upper": "_".join(words).upper(),
    }


def tracked_files(root):
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True
        ).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", "target", ".venv", ".local", "node_modules"}
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in skip]
            for f in filenames:
                files.append(os.path.relpath(os.path.join(dirpath, f), root))
        return files


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    name, dest = sys.argv[1], sys.argv[2]
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) or len(name) > 40:
        sys.exit(f"scaffold: NAME must be kebab case (a-z, 0-9, single dashes), got {name!r}")
    if os.path.exists(dest) and os.listdir(dest):
        sys.exit(f"scaffold: {dest} exists and is not empty")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old, new = spellings(FROM), spellings(name)
    # Longest first, so no spelling is replaced inside another.
    pairs = sorted(((old[k], new[k]) for k in old), key=lambda p: -len(p[0]))

    def rename(text):
        for a, b in pairs:
            text = text.replace(a, b)
        return text

    for rel in tracked_files(root):
        src = os.path.join(root, rel)
        if not os.path.isfile(src):
            continue
        dst = os.path.join(dest, rename(rel))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as f:
            data = f.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(src, dst)
        else:
            with open(dst, "w", encoding="utf-8", newline="") as f:
                f.write(rename(text))
        shutil.copymode(src, dst)
    # A new name changes import order and line widths: format the copy so that its own
    # `make test` (which checks formatting) passes as it comes.
    try:
        subprocess.run(
            ["cargo", "fmt", "--all", "--manifest-path", os.path.join(dest, "Cargo.toml")],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"scaffold: could not run cargo fmt on the copy ({e}); run it before make test")
    print(f"scaffold: created {name} in {dest}")
    print(f"next: cd {dest} && git init && make test")


if __name__ == "__main__":
    main()
