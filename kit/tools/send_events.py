#!/usr/bin/env python3
"""Sends the sample events and the bad-input corpus to a running `cargo lambda watch`.

Usage: send_events.py FUNCTION PORT    (kit/tools/run-local.sh runs it; see `make invoke`)

- Every `events/*.json`, each after the events whose answers it uses: a string
  `PASTE-THE-<FIELD>-FROM-<NAME>` stands for field <field> of the answer to events/<name>.json
  (the convention of the kit's testing::events). Each must succeed; every encrypt is decrypted
  again (same context and key) and must give its plaintext back. The keys are named by their
  local aliases (alias/local/<kind>), which `make invoke` created.
- Every event in tests/bad-input/ must come back as tests/bad-input/expected.json says: its
  `errorType`, "ok", or an answer with the fields an object lists.

Exits non-zero if anything behaved otherwise.
"""
import base64
import json
import os
import re
import subprocess
import sys

FUNCTION = None  # the function's name, the first argument

PASTE = re.compile(r"^PASTE-THE-([A-Z0-9]+)-FROM-([A-Z0-9-]+)$")


def invoke(port, data):
    """(ok, body-or-errorType, message) for one event given as bytes."""
    p = subprocess.run(
        ["cargo", "lambda", "invoke", FUNCTION, "--invoke-address", "127.0.0.1",
         "--invoke-port", str(port), "--data-file", "/dev/stdin"],
        input=data, capture_output=True,
    )
    if p.returncode == 0:
        return True, json.loads(p.stdout), ""
    err = p.stderr.decode(errors="replace").strip()
    first, _, rest = err.partition("\n")
    message = " ".join(line.strip(" ×│") for line in rest.splitlines()).split("Was this behavior")[0]
    return False, first.removeprefix("Error: ").strip(), " ".join(message.split())


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)


def replace(v, f):
    if isinstance(v, str):
        return f(v)
    if isinstance(v, list):
        return [replace(x, f) for x in v]
    if isinstance(v, dict):
        return {k: replace(x, f) for k, x in v.items()}
    return v


def ordered(files):
    """Each event after the events it pastes from, otherwise by name."""
    events = {f: json.load(open(os.path.join("events", f), encoding="utf-8")) for f in sorted(files)}
    pending, out = list(events), []
    while pending:
        def ready(f):
            needs = [m.group(2).lower() + ".json" for s in strings(events[f]) if (m := PASTE.match(s))]
            return all(n in out or n not in pending for n in needs)
        f = next((f for f in pending if ready(f)), pending[0])
        pending.remove(f)
        out.append(f)
    return [(f, events[f]) for f in out]


def main():
    global FUNCTION
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    FUNCTION, port = sys.argv[1], int(sys.argv[2])
    failures = 0
    answers = {}
    print("==> the sample events in events/")
    for name, event in ordered([f for f in os.listdir("events") if f.endswith(".json")]):
        missing = []

        def paste(s):
            m = PASTE.match(s)
            if not m:
                return s
            answer = answers.get(m.group(2).lower() + ".json", {})
            value = next((v for k, v in answer.items() if k.upper() == m.group(1)), None)
            if value is None:
                missing.append(s)
                return s
            return value

        event = replace(event, paste)
        if missing:
            print(f"  {name:32} NOT SENT: nothing answered {missing}")
            failures += 1
            continue
        ok, body, message = invoke(port, json.dumps(event).encode())
        if not ok:
            print(f"  {name:32} FAILED: {body}: {message}")
            failures += 1
            continue
        answers[name] = body
        shown = {k: (v if len(str(v)) <= 60 else f"<{len(v)} chars>") for k, v in body.items()}
        print(f"  {name:32} {json.dumps(shown)}")
        if event.get("operation") == "encrypt":
            back = {"operation": "decrypt", "ciphertext": body["ciphertext"],
                    "encryptionContext": event.get("encryptionContext") or {}}
            if "keyId" in event:
                back["keyId"] = event["keyId"]
            ok, dec, message = invoke(port, json.dumps(back).encode())
            same = ok and dec["plaintext"] == event["plaintext"]
            size = len(base64.b64decode(event["plaintext"]))
            print(f"  {'':32} decrypted again: {body['mode']} round trip of {size} bytes "
                  + ("OK" if same else f"FAILED: {dec} {message}"))
            failures += 0 if same else 1

    print("\n==> the bad-input corpus in tests/bad-input/ (each must be what expected.json says)")
    expected = json.load(open("tests/bad-input/expected.json"))
    counts = {}
    for name, want in sorted(expected.items()):
        data = open(f"tests/bad-input/{name}.json", "rb").read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # cargo lambda invoke cannot send it; tests/it/bad_input.rs sends it raw.
            print(f"  {name}: not UTF-8, which cargo lambda invoke cannot send (make test covers it)")
            continue
        ok, got, message = invoke(port, data)
        if isinstance(want, dict):
            right = ok and all(got.get(k) == v for k, v in want.items())
            got = "ok" if ok else got
        else:
            got = "ok" if ok else got
            right = got == want
        counts[got] = counts.get(got, 0) + 1
        if not right:
            print(f"  {name}: expected {want}, got {got}: {message}")
            failures += 1
        elif name in ("unknown-operation", "unknown-field", "unknown-key", "direct-mode-too-large"):
            print(f"  e.g. {name + ':':28} {got}: {message[:110]}")
    print("  " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) + f" ({len(expected)} events)")
    if failures:
        sys.exit(f"{failures} unexpected result(s)")
    print("\nall sample events behaved as documented")


if __name__ == "__main__":
    main()
