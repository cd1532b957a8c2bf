#!/usr/bin/env python3
"""Refuses what would not run on a copy's other machines: the Makefile's recipes, shell scripts
and the kit's Python tools must use what macOS and Linux both ship — no GNU-only tool or flag,
no bash-4 feature, and a Makefile GNU make 3.81 (macOS's /usr/bin/make) runs as it is read.

`make test` runs it (`make lint`); each finding names the file, the line and what to use instead.

Usage: portable.py PATH…   (files, or directories whose *.py, *.sh and Makefiles are read)
"""
import os
import re
import sys

# GNU-only (or GNU-flagged) commands in shell text, and what works on both systems.
SHELL_RULES = [
    (r"(^|[\s;&|(`])setsid\b", "setsid: macOS has none (Python's start_new_session=True)"),
    (r"(^|[\s;&|(`])timeout\s+\d", "timeout: GNU coreutils only (Python's subprocess timeout=)"),
    (r"\bsha256sum\b", "sha256sum: GNU only (shasum -a 256, or Python's hashlib)"),
    (r"\bsed\s+(-[a-zA-Z]*\s+)*-i\b", "sed -i: GNU and BSD sed differ (write to a new file and mv, or Python)"),
    (r"\bxargs\s+(-\S+\s+)*-d\b", "xargs -d: GNU only (find -print0 | xargs -0)"),
    (r"\bgrep\s+(-\S+\s+)*-[a-zA-Z]*P", "grep -P: GNU only (grep -E)"),
    (r"\bdate\s+(-\S+\s+)*-d\b", "date -d: GNU only (Python's datetime)"),
    (r"\bstat\s+(-\S+\s+)*-c\b", "stat -c: GNU only (Python's os.stat)"),
    (r"\bdf\s+[^|;]*--output", "df --output: GNU only (df -Pk, fourth column)"),
    (r"\breadlink\s+-f\b", "readlink -f: not on older macOS (cd … && pwd -P)"),
    (r"\bdeclare\s+-A\b|\bmapfile\b|\breadarray\b", "bash 4 (macOS's /bin/bash is 3.2)"),
    (r"\$\{\w+(,,|\^\^)\}", "bash 4 case conversion (macOS's /bin/bash is 3.2)"),
    (r"&>>|\|&", "bash 4 redirection (macOS's /bin/bash is 3.2)"),
]
# The Makefile, beyond its recipes' commands: GNU make 3.81 reads it.
MAKE_RULES = [
    (r"^\s*\.SHELLFLAGS\b", ".SHELLFLAGS: GNU make 3.82+; 3.81 ignores it silently (join commands with &&)"),
    (r"^\s*\.ONESHELL\b", ".ONESHELL: GNU make 3.82+"),
    (r"^\s*SHELL\s*:?=\s*\S*bash", "SHELL = bash: recipes are POSIX sh"),
    (r"\$\(file\s", "$(file …): GNU make 4.0+"),
    (r"^\s*undefine\b", "undefine: GNU make 3.82+"),
    (r"pipefail", "pipefail: not POSIX sh"),
]
# A pipe in a recipe hides the failure of what feeds it (no pipefail in POSIX sh).
RECIPE_PIPE = re.compile(r"(?<![|])\|(?![|])")
# The kit's Python tools: a GNU-only program started from Python is no more portable.
PYTHON_RULES = [
    (r"""[\[(]\s*["'](setsid|timeout|sha256sum)["']""", "a GNU-only program started from Python"),
    (r"""[\[(]\s*["']sed["']\s*,\s*["']-i""", "sed -i from Python: use Python to edit the file"),
]


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for name in sorted(names):
                    if name.endswith((".py", ".sh", ".mk")) or name == "Makefile":
                        yield os.path.join(dirpath, name)
        elif os.path.exists(path):
            yield path


def shell_text(line):
    """A shell line without its comment (a `#` that starts a word)."""
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


def check(path):
    findings = []
    text = open(path, encoding="utf-8").read()
    name = os.path.basename(path)
    lines = text.splitlines()
    is_make = name == "Makefile" or name.endswith(".mk")
    is_python = name.endswith(".py") or lines[:1] and "python" in lines[0]
    is_shell = name.endswith(".sh") or lines[:1] and re.match(r"#!.*\b(ba)?sh\b", lines[0])
    if is_python and not is_make:
        for n, line in enumerate(lines, 1):
            for pattern, why in PYTHON_RULES:
                if re.search(pattern, line):
                    findings.append((n, why))
        return findings
    if is_shell and lines and re.match(r"#!.*\bbash\b", lines[0]):
        # bash 3.2 (macOS) with `set -u` fails on an empty array's "${a[@]}".
        if re.search(r"set -[a-z]*u", text) and re.search(r'"\$\{\w+\[@\]\}"', text):
            n = next(i for i, l in enumerate(lines, 1) if re.search(r'"\$\{\w+\[@\]\}"', l))
            findings.append((n, 'an array expanded as "${a[@]}" under set -u: bash 3.2 fails on an empty one (${a[@]+"${a[@]}"})'))
    for n, line in enumerate(lines, 1):
        in_recipe = is_make and line.startswith("\t")
        if is_make and not in_recipe:
            for pattern, why in MAKE_RULES:
                if re.search(pattern, shell_text(line)):
                    findings.append((n, why))
            continue
        if is_make or is_shell:
            code = shell_text(line)
            for pattern, why in SHELL_RULES:
                if re.search(pattern, code):
                    findings.append((n, why))
            # Quoted text (a message, a Python one-liner) may hold a `|`; what is left may not.
            unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", code)
            if in_recipe and RECIPE_PIPE.search(unquoted):
                findings.append((n, "a pipe in a recipe: its first command's failure is lost (no pipefail): write to a file, or use Python"))
    return findings


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    problems = []
    checked = 0
    for path in files(sys.argv[1:]):
        checked += 1
        problems += [f"{path}:{n}: {why}" for n, why in check(path)]
    if problems:
        print("not portable to macOS (or to GNU make 3.81, or bash 3.2):\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"portable: {checked} files use what macOS and Linux both ship")


if __name__ == "__main__":
    main()
