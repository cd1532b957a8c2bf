#!/usr/bin/env python3
"""Every path a copy's file cites exists in the copy — or is marked as the template's.

A copy made with `cargo lambda new` leaves the template's lab behind (.gitattributes), and its
kit/ is the template's byte for byte: a doc comment, a README or a message that sends the copier
to `tests/it/trace.rs` or `docs/envelope.md` sends them nowhere. This reads every text file of
the copy for relative paths (`src/…`, `tests/…`, `docs/…`, `kit/…`, `examples/…`, `scripts/…`,
`bench…/`, `fuzz/…`, `tools/…`, `.ci/…`, `.github/…`, and top-level files such as `lab.mk`) and
checks each exists: from the copy's root, from the citing file's directory, or — for a file of
kit/ — from kit/. A citation that names where it lives instead ("the template's `docs/envelope.md`",
"kms-lambda's `tests/it/`") is fine: the reader knows to look there. Placeholders (`<operation>`,
`{name}`) and globs are checked up to the first one.

Usage: cited_paths.py COPY_DIR   (scripts/test-copy.sh runs it on the copy it made)
"""
import os
import re
import sys

# Where what the copy lacks lives, said on the citing line before the path.
MARKED = re.compile(r"(template's|kms-lambda's|\bthe template\b|template only|\bin kms-lambda\b|\blab's|\bthe lab\b)", re.I)
# A relative path: a first segment the project's layout uses, then more segments.
TOP = r"(?:src|tests|docs|events|examples|scripts|benches|bench|fuzz|tools|kit|probe|\.ci|\.github)"
PATH = re.compile(r"(?<![\w./$:-])(" + TOP + r"/[\w.<>{}*\-/]*|(?:lab|bench)\.mk|CargoLambda\.toml|template\.managed-instances\.yaml)")
# Generated, or the machine's: never in a checkout.
SKIP_PREFIXES = ("target/", ".local/", ".venv/", ".aws-sam/")
TEXT = (".md", ".rs", ".py", ".toml", ".yaml", ".yml", ".sh", ".mk", ".txt", ".json")


def candidates(path):
    """The part of a cited path that must exist: up to its first placeholder or glob."""
    cut = re.split(r"[<{*]", path, maxsplit=1)[0]
    if cut != path:
        cut = cut.rsplit("/", 1)[0] if "/" in cut else ""
    return cut.rstrip(".,;:)'`\"").rstrip("/")


def walkthrough_files(root):
    """The files a walk-through of the copy's docs creates or edits: cited before they exist."""
    created = set()
    for dirpath, _, names in os.walk(os.path.join(root, "docs")):
        for name in names:
            if name.endswith(".md"):
                text = open(os.path.join(dirpath, name), encoding="utf-8").read()
                created.update(re.findall(r"<!-- walkthrough [\w-]+: (?:create|insert|merge-json|remove-lines) (\S+)", text))
    return created


def main():
    root = os.path.abspath(sys.argv[1])
    created = walkthrough_files(root)
    missing = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "target", ".venv", ".local", ".aws-sam", "__pycache__", "node_modules")]
        for name in names:
            if not (name.endswith(TEXT) or name in ("Makefile", "run")):
                continue
            file = os.path.join(dirpath, name)
            rel_file = os.path.relpath(file, root)
            in_kit = rel_file.startswith("kit" + os.sep)
            try:
                lines = open(file, encoding="utf-8").read().splitlines()
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(lines, 1):
                for m in PATH.finditer(line):
                    cited = m.group(1)
                    if cited.startswith(SKIP_PREFIXES):
                        continue
                    target = candidates(cited)
                    if not target or "/" not in cited and target != cited:
                        continue
                    bases = [root, dirpath] + ([os.path.join(root, "kit")] if in_kit else [])
                    if any(os.path.exists(os.path.join(b, target)) for b in bases):
                        continue
                    # Said on the line, before the path, or in the two lines above it.
                    if MARKED.search(" ".join(lines[max(0, number - 3): number - 1]) + " " + line[: m.start()]):
                        continue
                    if target in created:
                        continue
                    missing.append(f"{rel_file}:{number}: {cited}")
    if missing:
        print("paths a copy's files cite that the copy does not have (cite them as the template's, "
              "or drop them):\n  " + "\n  ".join(missing), file=sys.stderr)
        sys.exit(1)
    print(f"cited paths: every path the copy's files cite is in the copy")


if __name__ == "__main__":
    main()
