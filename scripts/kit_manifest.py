#!/usr/bin/env python3
"""Writes kit/MANIFEST: each file of the kit as it ships (what git would commit of kit/, less the
manifest itself), with its SHA-256, in `sha256sum`'s format. A function project's tests check its
kit/ against it (kit/tests/vendored.rs). `make kit-manifest` runs it after the kit changes.

Usage: kit_manifest.py [KIT_DIR] [--all-files]   (--all-files: every file of the directory, for
a scratch kit outside git's view)
"""
import hashlib
import os
import re
import subprocess
import sys

args = [a for a in sys.argv[1:] if a != "--all-files"]
kit = args[0] if args else "kit"
if "--all-files" not in sys.argv:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=kit, capture_output=True, check=True,
    ).stdout.decode().split("\0")
else:
    # Not in a git work tree (a scratch kit): every file, less Python's caches.
    listed = [
        os.path.relpath(os.path.join(d, f), kit)
        for d, dirs, names in os.walk(kit)
        for f in names
        if "__pycache__" not in d.split(os.sep)
    ]
files = sorted(f for f in listed if f and f != "MANIFEST" and os.path.isfile(os.path.join(kit, f)))
lines = []
for f in files:
    with open(os.path.join(kit, f), "rb") as fh:
        lines.append(f"{hashlib.sha256(fh.read()).hexdigest()}  {f}\n")
with open(os.path.join(kit, "MANIFEST"), "w", encoding="utf-8", newline="\n") as out:
    out.writelines(lines)
toml = open(os.path.join(kit, "Cargo.toml"), encoding="utf-8").read()
version = re.search(r'^version = "(.*)"', toml, re.M).group(1)
print(f"kit-manifest: kit/MANIFEST lists {len(lines)} files of kms-lambda-kit {version}")
