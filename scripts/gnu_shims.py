#!/usr/bin/env python3
"""A directory of shims that make this Linux machine refuse, loudly, what macOS lacks: GNU-only
programs (setsid, timeout, sha256sum) and GNU-only flags of programs both have (sed -i, xargs -d,
grep -P, date -d, stat -c, df --output). The copy check puts it first on PATH for the copy's
`make invoke` and `make test`: anything they run that would fail on a Mac fails here too, and is
logged to $GNU_SHIMS_LOG (the check requires that log empty).

Usage: gnu_shims.py DIR   (prints DIR, made afresh)
"""
import os
import shutil
import stat
import sys

# Programs macOS does not ship.
ABSENT = {
    "setsid": "macOS has no setsid",
    "timeout": "timeout is GNU coreutils; macOS has none",
    "sha256sum": "sha256sum is GNU coreutils; macOS has shasum -a 256",
}
# Programs both ship, and the arguments only GNU's accepts (a shell `case` pattern each).
FLAGS = {
    "sed": ("-i|-i*|--in-place*", "sed -i differs between GNU and BSD sed"),
    "xargs": ("-d|-d*|--delimiter*", "xargs -d is GNU only"),
    "grep": ("-P|-[a-zA-Z]*P|-P[a-zA-Z]*|--perl-regexp", "grep -P is GNU only"),
    "date": ("-d|--date*", "date -d is GNU only"),
    "stat": ("-c|--format*", "stat -c is GNU only"),
    "df": ("--output*", "df --output is GNU only"),
}

REFUSE = """refuse() {{
  echo "gnu-shim: $0 $*: {why} (this would fail on macOS)" >&2
  echo "{name} $*" >> "${{GNU_SHIMS_LOG:-/dev/null}}"
  exit 97
}}
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main():
    shims = os.path.abspath(sys.argv[1])
    shutil.rmtree(shims, ignore_errors=True)
    os.makedirs(shims)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if os.path.abspath(p) != shims)
    for name, why in ABSENT.items():
        write(os.path.join(shims, name), "#!/bin/sh\n" + REFUSE.format(name=name, why=why) + 'refuse "$@"\n')
    for name, (pattern, why) in FLAGS.items():
        real = shutil.which(name, path=path)
        if not real:
            continue
        write(os.path.join(shims, name), "#!/bin/sh\n" + REFUSE.format(name=name, why=why) +
              f'for a in "$@"; do\n  case "$a" in {pattern}) refuse "$@" ;; esac\ndone\nexec {real} "$@"\n')
    print(shims)


if __name__ == "__main__":
    main()
