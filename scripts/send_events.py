#!/usr/bin/env python3
"""Sends the sample events and the bad-input corpus to a running `cargo lambda watch`.

Usage: send_events.py KEY_ALIAS PORT    (scripts/run-local.sh runs it; see `make invoke`)

- Every `events/*.json`, `encrypt.json` first. Two conventions, shared with tests/events.rs:
  `alias/kms-lambda-local` stands for KEY_ALIAS, and `PASTE-THE-CIPHERTEXT-FROM-ENCRYPT` for the
  ciphertext `events/encrypt.json` produced. Each must succeed; every encrypt is decrypted again
  (same context and key) and must give its plaintext back.
- Every event in `tests/bad-input/` must come back as the `errorType` that
  `tests/bad-input/expected.json` documents (or succeed where it says "ok").

Exits non-zero if anything behaved otherwise.
"""
import base64
import json
import os
import subprocess
import sys

LOCAL_ALIAS = "alias/kms-lambda-local"
PLACEHOLDER = "PASTE-THE-CIPHERTEXT-FROM-ENCRYPT"


def invoke(port, data):
    """(ok, body-or-errorType, message) for one event given as bytes."""
    p = subprocess.run(
        ["cargo", "lambda", "invoke", "kms-lambda", "--invoke-address", "127.0.0.1",
         "--invoke-port", str(port), "--data-file", "/dev/stdin"],
        input=data, capture_output=True,
    )
    if p.returncode == 0:
        return True, json.loads(p.stdout), ""
    err = p.stderr.decode(errors="replace").strip()
    first, _, rest = err.partition("\n")
    message = " ".join(line.strip(" ×│") for line in rest.splitlines()).split("Was this behavior")[0]
    return False, first.removeprefix("Error: ").strip(), " ".join(message.split())


def main():
    alias, port = sys.argv[1], int(sys.argv[2])
    failures = 0
    files = sorted(os.listdir("events"), key=lambda f: (f != "encrypt.json", f))
    ciphertext = None
    print("==> the sample events in events/")
    for name in [f for f in files if f.endswith(".json")]:
        text = open(os.path.join("events", name), encoding="utf-8").read().replace(LOCAL_ALIAS, alias)
        if PLACEHOLDER in text:
            text = text.replace(PLACEHOLDER, ciphertext or PLACEHOLDER)
        event = json.loads(text)
        ok, body, message = invoke(port, text.encode())
        if not ok:
            print(f"  {name:32} FAILED: {body}: {message}")
            failures += 1
            continue
        shown = {k: (v if len(str(v)) <= 60 else f"<{len(v)} chars>") for k, v in body.items()}
        print(f"  {name:32} {json.dumps(shown)}")
        if name == "encrypt.json":
            ciphertext = body["ciphertext"]
        if event.get("operation") == "encrypt":
            back = {"operation": "decrypt", "ciphertext": body["ciphertext"],
                    "encryptionContext": event.get("encryptionContext") or {},
                    "keyId": event.get("keyId", alias)}
            ok, dec, message = invoke(port, json.dumps(back).encode())
            same = ok and dec["plaintext"] == event["plaintext"]
            size = len(base64.b64decode(event["plaintext"]))
            print(f"  {'':32} decrypted again: {body['mode']} round trip of {size} bytes "
                  + ("OK" if same else f"FAILED: {dec} {message}"))
            failures += 0 if same else 1

    print("\n==> the bad-input corpus in tests/bad-input/ (each must be its documented errorType)")
    expected = json.load(open("tests/bad-input/expected.json"))
    counts = {}
    for name, want in sorted(expected.items()):
        data = open(f"tests/bad-input/{name}.json", "rb").read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # cargo lambda invoke cannot send it; tests/bad_input.rs sends it raw.
            print(f"  {name}: not UTF-8, which cargo lambda invoke cannot send (make test covers it)")
            continue
        ok, got, message = invoke(port, data)
        got = "ok" if ok else got
        counts[got] = counts.get(got, 0) + 1
        if got != want:
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
