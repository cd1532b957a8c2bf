#!/usr/bin/env python3
"""Makes a new function project from this template: `make scaffold NAME=… DEST=… [BENCH=1]`.

Usage: scaffold.py NAME DEST [--bench]

NAME is the new package, binary and stack name in kebab case (e.g. `orders-encryptor`). The copy
holds what a function project needs — the KMS kit, the example operations, their tests, tools
and template — with every spelling of the current name replaced: kebab (package, binary,
events), snake (Rust crate paths), Pascal (CloudFormation logical ids, metric namespace) and
upper snake (environment variables). It leaves the lab behind (see LAB), gets a README of its
own, built from this README's sections that describe the function, and a Cargo.lock in cargo's
own order, so that nothing rewrites it. Where its files cite the docs, which stay here, they say
"the template's docs/…". It does not share git history.
"""
import os
import re
import shutil
import subprocess
import sys

FROM = "kms-lambda"

# What this repository has for itself, and a copy does not: the lab and the docs (the copy's
# README links to them), the fuzzing, the interop oracle, the fault matrix, the scaffolding.
LAB = [
    "README.md",  # replaced by the copy's own
    "lab.mk",
    "docs/",
    "fuzz/",
    "examples/kms-gate/",
    "bench/results/",
    "scripts/scaffold.py",
    "scripts/test-scaffold.sh",
    "scripts/walkthrough.py",
    "scripts/esdk_peer.py",
    "scripts/esdk_vectors.py",
    "tests/esdk_interop.rs",
    "tests/fault_matrix.rs",
    "tools/requirements-lab.txt",
]
# The benchmark harness: left behind too, unless --bench.
BENCH = ["bench.mk", "bench/", "benches/", "scripts/artifact-size.py"]

# This README's sections that describe the function, in the copy's README in this order.
SECTIONS = ["Two commands", "Deploy", "Add an operation", "Event contract", "Errors", "Configuration"]


def spellings(kebab):
    words = kebab.split("-")
    return {
        "kebab": kebab,
        "snake": "_".join(words),
        "pascal": "".join(w[:1].upper() + w[1:] for w in words),
        "upper": "_".join(words).upper(),
    }


def git(root, *args):
    try:
        return subprocess.run(["git", "-C", root, *args], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def tracked_files(root):
    listed = git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    if listed:
        return [p for p in listed.split("\0") if p]
    skip = {".git", "target", ".venv", ".local", "node_modules", ".aws-sam"}
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        files += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
    return files


def left_behind(rel, bench):
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in LAB + ([] if bench else BENCH))


def sections(readme):
    """`## Title` → its text, title line included."""
    parts = re.split(r"(?m)^(?=## )", readme)
    return {p.splitlines()[0][3:].strip(): p.rstrip() + "\n" for p in parts if p.startswith("## ")}


def template_link(root):
    """Where the template's files can be read: its origin on GitHub at this commit, if known."""
    origin = git(root, "remote", "get-url", "origin")
    commit = git(root, "rev-parse", "--short", "HEAD")
    m = re.match(r"(?:https://|git@)github\.com[/:](.+?)(?:\.git)?$", origin)
    if m:
        base = f"https://github.com/{m.group(1)}"
        return base, lambda path: f"[{path}]({base}/blob/{commit or 'main'}/{path})", commit
    return None, lambda path: f"`{path}`", commit


def readme(root, name, bench, rename):
    base, link, commit = template_link(root)
    own = sections(open(os.path.join(root, "README.md"), encoding="utf-8").read())
    made_from = f"[{FROM}]({base})" if base else f"the {FROM} template"
    at = f" at `{commit}`" if commit else ""
    body = [
        f"# {name}\n",
        f"A Rust AWS Lambda function that calls AWS KMS, made from {made_from}{at} with `make "
        "scaffold`. It keeps the template's KMS kit — the client built lazily on the first "
        "invocation, signatures that expired in flight re-signed, every call bounded by the "
        "invocation's deadline and measured in one EMF line — and its operations are yours: "
        "the two tables in `src/ops/mod.rs` (the kinds of key, the operations) and one file per "
        "operation beside them. \"Event contract\" below says what each operation takes and "
        "answers; keep it true as you add your own.\n",
    ]
    body += [rename(own[s]) for s in SECTIONS]
    docs = ", ".join(link(f"docs/{d}.md") for d in
                     ["signature-expired", "envelope", "metrics-and-operations", "deploy", "testing", "benchmarks"])
    body.append(
        f"## Made from {FROM}\n\n"
        f"The why behind the kit — the fault matrix that proves it against every way a signature "
        f"expires, the envelope format, the alarms and the runbook, what the deploy rehearsal "
        f"proves, the benchmarks — is in the template's docs: {docs}. The template also keeps "
        f"what this copy left behind: "
        + ("the fuzzing, the ESDK interop oracle and the fault matrix"
           if bench else "the benchmarks and the Node.js peer, the fuzzing, the ESDK interop oracle "
           "and the fault matrix")
        + ". To take a later version of the kit, compare `src/kit/` with the template's.\n"
    )
    return "\n".join(body)


def without_benches(cargo_toml):
    """Cargo.toml without its `[[bench]]` tables (their files stay behind)."""
    out, skipping, blank = [], False, False
    for line in cargo_toml.splitlines(keepends=True):
        if line.strip() == "[[bench]]":
            skipping, blank = True, False
            continue
        # A table's end: the next table, or a comment after a blank line.
        if skipping and (line.startswith("[") or (blank and line.startswith("#"))):
            skipping = False
        blank = not line.strip()
        if not skipping:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "".join(out))


def sorted_lock(lock):
    """Cargo.lock's packages in cargo's order (by name; the rename moved one)."""
    head, *packages = lock.split("\n[[package]]\n")
    key = lambda block: re.search(r'^name = "([^"]+)"', block, re.M).group(1)
    return "\n[[package]]\n".join([head] + sorted(packages, key=key))


def main():
    args = [a for a in sys.argv[1:] if a != "--bench"]
    bench = "--bench" in sys.argv[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    name, dest = args
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

    def write(rel, text):
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    copied = 0
    for rel in tracked_files(root):
        src = os.path.join(root, rel)
        if not os.path.isfile(src) or left_behind(rel, bench):
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
            if rel == "Cargo.toml" and not bench:
                text = without_benches(text)
            text = rename(text)
            # The docs stay with the template: say so where the copy's files cite them.
            text = re.sub(r"(?<!template's )(?<![\w/.-])docs/(?=[\w-]+\.md)", "the template's docs/", text)
            if rel == "Cargo.lock":
                text = sorted_lock(text)
            write(rename(rel), text)
        shutil.copymode(src, dst)
        copied += 1
    write("README.md", readme(root, name, bench, rename))
    # A new name changes import order and line widths: format the copy so that its own
    # `make test` (which checks formatting) passes as it comes.
    try:
        manifest = os.path.join(dest, "Cargo.toml")
        subprocess.run(["cargo", "fmt", "--all", "--manifest-path", manifest], check=True)
        ops = [os.path.join(dest, "src", "ops", f) for f in os.listdir(os.path.join(dest, "src", "ops"))]
        subprocess.run(["rustfmt", "--edition", "2021", *ops], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"scaffold: could not format the copy ({e}); run cargo fmt before make test")
    print(f"scaffold: created {name} in {dest} ({copied + 1} files; the lab stays in {root})")
    print(f"next: cd {dest} && git init && make test")


if __name__ == "__main__":
    main()
