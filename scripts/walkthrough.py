#!/usr/bin/env python3
"""Applies one of the walk-throughs of docs/operations.md to a copy of this project.

Usage: walkthrough.py docs/operations.md DEST NAME

Each step of walk-through NAME is a fenced code block after a marker:

  <!-- walkthrough NAME: create PATH -->           the block is the whole new file PATH
  <!-- walkthrough NAME: insert PATH after LINE --> the block goes after the line of PATH that
                                                    reads LINE (spaces around it ignored)
  <!-- walkthrough NAME: merge-json PATH -->       the block is a JSON object merged into PATH
  <!-- walkthrough NAME: remove-lines PATH -->     each line of the block is a line of PATH
                                                    (spaces around it ignored), removed
  <!-- walkthrough NAME: run -->                   the block is shell, run in DEST

It prints the files it wrote. `make test` (scripts/test-copy.sh) applies each walk-through to a
new copy and runs the copy's own `make test`, so the page cannot drift from what compiles and
passes.
"""
import json
import os
import re
import subprocess
import sys

MARKER = re.compile(
    r"<!-- walkthrough (\S+): (create|insert|merge-json|remove-lines|run)(?: (\S+))?(?: after (.+?))? -->"
)


def steps(readme, name):
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.fullmatch(lines[i].strip())
        i += 1
        if not m or m.group(1) != name:
            continue
        while not lines[i].startswith("```"):
            i += 1
        start = i + 1
        end = start
        while not lines[end].startswith("```"):
            end += 1
        yield m.group(2), m.group(3), m.group(4), "\n".join(lines[start:end]) + "\n"
        i = end + 1


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    readme, dest, name = sys.argv[1:]
    done = 0
    for action, path, anchor, block in steps(open(readme, encoding="utf-8").read(), name):
        target = os.path.join(dest, path or "")
        if action == "create":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(block)
        elif action == "insert":
            text = open(target, encoding="utf-8").read().splitlines(keepends=True)
            at = [n for n, line in enumerate(text) if line.strip() == anchor.strip()]
            if len(at) != 1:
                sys.exit(f"walkthrough: {path}: the line {anchor!r} occurs {len(at)} times, not once")
            text[at[0] + 1 : at[0] + 1] = [block]
            with open(target, "w", encoding="utf-8") as f:
                f.write("".join(text))
        elif action == "remove-lines":
            text = open(target, encoding="utf-8").read().splitlines(keepends=True)
            for gone in (l for l in block.splitlines() if l.strip()):
                at = [n for n, line in enumerate(text) if line.strip() == gone.strip()]
                if len(at) != 1:
                    sys.exit(f"walkthrough: {path}: the line {gone.strip()!r} occurs {len(at)} times, not once")
                del text[at[0]]
            with open(target, "w", encoding="utf-8") as f:
                f.write("".join(text))
        elif action == "merge-json":
            data = json.load(open(target, encoding="utf-8"))
            data.update(json.loads(block))
            with open(target, "w", encoding="utf-8") as f:
                f.write(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        else:
            print(f"walkthrough {name}: run {block.strip()}", flush=True)
            subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=dest, check=True)
            done += 1
            continue
        done += 1
        print(f"walkthrough {name}: {action} {path}", flush=True)
    if done == 0:
        sys.exit(f"walkthrough: no steps of {name!r} in {readme}")


if __name__ == "__main__":
    main()
