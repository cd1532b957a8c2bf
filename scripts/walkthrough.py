#!/usr/bin/env python3
"""Applies the README's "Add an operation" walk-through to a copy of this project.

Usage: walkthrough.py README.md DEST

Each step of the walk-through in the README is a fenced code block preceded by a marker:

  <!-- walkthrough: create PATH -->          the block is the whole new file PATH
  <!-- walkthrough: insert PATH after LINE --> the block goes after the line of PATH that reads
                                              LINE (leading and trailing spaces ignored)
  <!-- walkthrough: merge-json PATH -->      the block is a JSON object merged into PATH

`make test` (scripts/test-scaffold.sh) runs it on a scaffolded copy and then runs the copy's
tests, so the walk-through cannot drift from what compiles and passes.
"""
import json
import os
import re
import sys

MARKER = re.compile(r"<!-- walkthrough: (create|insert|merge-json) (\S+)(?: after (.+?))? -->")


def steps(readme):
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.fullmatch(lines[i].strip())
        i += 1
        if not m:
            continue
        while not lines[i].startswith("```"):
            i += 1
        start = i + 1
        end = start
        while not lines[end].startswith("```"):
            end += 1
        yield m.group(1), m.group(2), m.group(3), "\n".join(lines[start:end]) + "\n"
        i = end + 1


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    readme, dest = sys.argv[1], sys.argv[2]
    done = 0
    for action, path, anchor, block in steps(open(readme, encoding="utf-8").read()):
        target = os.path.join(dest, path)
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
        else:
            data = json.load(open(target, encoding="utf-8"))
            data.update(json.loads(block))
            with open(target, "w", encoding="utf-8") as f:
                f.write(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        done += 1
        print(f"walkthrough: {action} {path}")
    if done == 0:
        sys.exit("walkthrough: no steps found in " + readme)


if __name__ == "__main__":
    main()
