#!/usr/bin/env python3
"""Takes a kit: replaces a function project's kit/ with the one FROM holds, exactly the files its
MANIFEST lists, and points the project at its version (`Cargo.toml`'s kms-lambda-kit lines, then
`cargo update --workspace`: Cargo.lock takes the kit's entry and whatever it newly needs,
nothing else). `make kit-update FROM=…` runs it, then `make test`.

FROM is any of:
- a kms-lambda checkout, or another function project whose kit you want (a directory with
  kit/MANIFEST);
- the template's archive, as `cargo lambda new --template` takes it: a zip file, or its URL
  (https://github.com/OWNER/kms-lambda/archive/refs/heads/main.zip, or a tag's).

The same kit again undoes an edit of kit/ in a project that was never committed, where
`git checkout -- kit/` has nothing to restore from.

Python (the project's .venv), so that it runs alike on macOS and Linux.
"""
import io
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile

USAGE = ("usage: make kit-update FROM=<a kms-lambda checkout, a function project whose kit you "
         "want, or the template's zip (a file or its URL)>")


def manifest_files(text):
    """The files a MANIFEST lists (`<sha256>  <path>` lines)."""
    files = []
    for line in text.splitlines():
        sum_, sep, path = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", sum_) or ".." in path.split("/"):
            sys.exit(f"make kit-update: not a kit MANIFEST line: {line!r}")
        files.append(path)
    if "src/lib.rs" not in files or "Cargo.toml" not in files:
        sys.exit("make kit-update: the MANIFEST lists no src/lib.rs or Cargo.toml: not a kit")
    return files


def from_directory(root):
    """Each file: (its bytes, its permission bits)."""
    kit = os.path.join(root, "kit")
    with open(os.path.join(kit, "MANIFEST"), encoding="utf-8") as f:
        manifest = f.read()
    files = {"MANIFEST": (manifest.encode(), 0o644)}
    for path in manifest_files(manifest):
        source = os.path.join(kit, *path.split("/"))
        with open(source, "rb") as f:
            files[path] = (f.read(), os.stat(source).st_mode & 0o777)
    return files


def from_zip(data, where):
    archive = zipfile.ZipFile(io.BytesIO(data))
    # A GitHub archive puts everything under one directory (<repo>-<ref>/); git archive does not.
    prefixes = [n[: -len("kit/MANIFEST")] for n in archive.namelist() if n.endswith("kit/MANIFEST")
                and n.count("/") <= 2]
    if not prefixes:
        sys.exit(f"make kit-update: {where} holds no kit/MANIFEST: not a kms-lambda archive")
    prefix = min(prefixes, key=len) + "kit/"
    manifest = archive.read(prefix + "MANIFEST").decode("utf-8")
    files = {"MANIFEST": (manifest.encode(), 0o644)}
    for path in manifest_files(manifest):
        info = archive.getinfo(prefix + path)
        # git's and GitHub's archives keep each file's mode in the entry (executable or not).
        mode = (info.external_attr >> 16) & 0o777 or 0o644
        files[path] = (archive.read(info), mode)
    return files


def main():
    if len(sys.argv) != 2 or not sys.argv[1]:
        sys.exit(USAGE)
    source = sys.argv[1]
    if re.match(r"https?://", source):
        with urllib.request.urlopen(source) as r:
            files = from_zip(r.read(), source)
    elif os.path.isfile(source) and zipfile.is_zipfile(source):
        with open(source, "rb") as f:
            files = from_zip(f.read(), source)
    elif os.path.isfile(os.path.join(source, "kit", "MANIFEST")):
        files = from_directory(source)
    else:
        sys.exit(f"make kit-update: {source} is no checkout with kit/MANIFEST, nor a zip\n{USAGE}")

    version = re.search(rb'^version = "([^"]+)"', files["Cargo.toml"][0], re.M)
    if not version:
        sys.exit("make kit-update: the kit's Cargo.toml names no version")
    version = version.group(1).decode()

    # All read: now replace. Files are written as listed and nothing else is kept, so the project's
    # kit is the one shipped, byte for byte (its tests check it against the MANIFEST).
    shutil.rmtree("kit", ignore_errors=True)
    for path, (data, mode) in files.items():
        target = os.path.join("kit", *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
        os.chmod(target, mode)

    with open("Cargo.toml", encoding="utf-8") as f:
        toml = f.read()
    toml, n = re.subn(r'^(kms-lambda-kit = \{ version = ")=[^"]*"', rf'\g<1>={version}"', toml, flags=re.M)
    if not n:
        sys.exit('make kit-update: Cargo.toml has no `kms-lambda-kit = { version = "=…"` line to update')
    with open("Cargo.toml", "w", encoding="utf-8") as f:
        f.write(toml)
    subprocess.run(["cargo", "update", "--workspace", "--quiet"], check=True)
    print(f"make kit-update: kit/ is kms-lambda-kit {version} from {source} ({len(files) - 1} files; "
          "its CHANGELOG.md says what changed)")


if __name__ == "__main__":
    main()
