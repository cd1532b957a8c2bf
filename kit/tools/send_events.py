#!/usr/bin/env python3
"""Sends the sample events and the bad-input corpus to a running `cargo lambda watch`.

Usage: send_events.py FUNCTION PORT [CONCURRENCY [LOG]]   (kit/tools/run_local.py runs it; see
`make invoke`)

- Every `events/*.json`, each after the events whose answers it uses: a string
  `PASTE-THE-<FIELD>-FROM-<NAME>` stands for field <field> of the answer to events/<name>.json
  (the convention of the kit's testing::events). Each must succeed; every encrypt is decrypted
  again (same context and key) and must give its plaintext back. The keys are named by their
  local aliases (alias/local/<kind>), which `make invoke` created.
- Every event in tests/bad-input/ must come back as tests/bad-input/expected.json says: its
  `errorType`, "ok", or an answer with the fields an object lists.
- With CONCURRENCY above 1, up to that many invocations are in flight at once (events that paste
  from another's answer wait for it), as Lambda Managed Instances send them to one process with
  AWS_LAMBDA_MAX_CONCURRENCY set; the most seen in flight is printed.
- With LOG (the function's log), the EMF lines of a successful cold invocation and of a warm one.

Exits non-zero if anything behaved otherwise.
"""
import base64
import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

FUNCTION = None  # the function's name, the first argument

PASTE = re.compile(r"^PASTE-THE-([A-Z0-9]+)-FROM-([A-Z0-9-]+)$")


class InFlight:
    """How many invocations are outstanding at once, and the most seen."""

    def __init__(self):
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_):
        with self.lock:
            self.now -= 1


IN_FLIGHT = InFlight()


def invoke(port, data):
    """(ok, body-or-errorType, message) for one event given as bytes."""
    with IN_FLIGHT:
        return invoke_one(port, data)


def invoke_one(port, data):
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


def sample_event(port, name, event, answers):
    """Sends one sample event (its pastes filled from `answers`), then decrypts each encrypt
    again; (answer or None, lines to print, failures)."""
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
        return None, [f"  {name:32} NOT SENT: nothing answered {missing}"], 1
    ok, body, message = invoke(port, json.dumps(event).encode())
    if not ok:
        return None, [f"  {name:32} FAILED: {body}: {message}"], 1
    shown = {k: (v if len(str(v)) <= 60 else f"<{len(v)} chars>") for k, v in body.items()}
    lines, failures = [f"  {name:32} {json.dumps(shown)}"], 0
    if event.get("operation") == "encrypt":
        back = {"operation": "decrypt", "ciphertext": body["ciphertext"],
                "encryptionContext": event.get("encryptionContext") or {}}
        if "keyId" in event:
            back["keyId"] = event["keyId"]
        ok, dec, message = invoke(port, json.dumps(back).encode())
        same = ok and dec["plaintext"] == event["plaintext"]
        size = len(base64.b64decode(event["plaintext"]))
        lines.append(f"  {'':32} decrypted again: {body['mode']} round trip of {size} bytes "
                     + ("OK" if same else f"FAILED: {dec} {message}"))
        failures += 0 if same else 1
    return body, lines, failures


def bad_input(port, name, want):
    """(counted result, line to print or None, failures) for one bad-input case."""
    data = open(f"tests/bad-input/{name}.json", "rb").read()
    # A local alias in a case stands for that kind's local key, as it does in the tests.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # cargo lambda invoke cannot send it; the kit's contract test sends it raw.
        return None, f"  {name}: not UTF-8, which cargo lambda invoke cannot send (make test covers it)", 0
    ok, got, message = invoke(port, data)
    if isinstance(want, dict):
        right = ok and all(got.get(k) == v for k, v in want.items())
        got = "ok" if ok else got
    else:
        got = "ok" if ok else got
        right = got == want
    if not right:
        return got, f"  {name}: expected {want}, got {got}: {message}", 1
    if not ok and name.endswith(("/signed-direct-mode", "/direct-mode-4097-bytes", "/too-many-bytes")):
        return got, f"  e.g. {name + ':':40} {got}: {message[:100]}", 0
    return got, None, 0


def emf_lines(log):
    """The EMF lines of the first successful invocation (the cold one, which built the client)
    and of the last successful warm one."""
    ok = []
    for line in open(log, encoding="utf-8", errors="replace"):
        start = line.find('{"_aws"')
        if start < 0:
            continue
        try:
            emf = json.loads(line[start:])
        except ValueError:
            continue
        if emf.get("ErrorType", "None") == "None" and "InitToSendMs" in emf:
            # The figures; the metric declarations ("_aws") stay in the log.
            ok.append((emf, json.dumps({k: v for k, v in emf.items() if k != "_aws"})))
    cold = next((raw for emf, raw in ok if emf.get("ColdStart") == 1), None)
    warm = next((raw for emf, raw in reversed(ok) if emf.get("ColdStart") == 0), None)
    return cold, warm


def main():
    global FUNCTION
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    FUNCTION, port = sys.argv[1], int(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    log = sys.argv[4] if len(sys.argv) > 4 else None
    failures = 0
    answers = {}
    pool = ThreadPoolExecutor(max_workers=concurrency)
    at_once = f", up to {concurrency} in flight at once" if concurrency > 1 else ""
    print(f"==> the sample events in events/{at_once}")
    # In rounds: each event once the events it pastes from have answered.
    pending = ordered([f for f in os.listdir("events") if f.endswith(".json")])
    while pending:
        needs = {name: [m.group(2).lower() + ".json" for s in strings(event) if (m := PASTE.match(s))]
                 for name, event in pending}
        waiting = {n for n, _ in pending}
        ready = [(n, e) for n, e in pending if not any(d in waiting for d in needs[n])] or pending[:1]
        pending = [p for p in pending if p not in ready]
        for (name, _), (body, lines, failed) in zip(
            ready, pool.map(lambda ne: sample_event(port, ne[0], ne[1], dict(answers)), ready)
        ):
            if body is not None:
                answers[name] = body
            print("\n".join(lines))
            failures += failed

    print(f"\n==> the bad-input cases in tests/bad-input/<operation>/ (each must be what its "
          f"expected.json says{at_once})")
    expected = {}
    for op in sorted(os.listdir("tests/bad-input")):
        path = os.path.join("tests/bad-input", op, "expected.json")
        if os.path.isfile(path):
            expected.update({f"{op}/{k}": v for k, v in json.load(open(path)).items()})
    counts = {}
    cases = sorted(expected.items())
    for got, line, failed in pool.map(lambda c: bad_input(port, c[0], c[1]), cases):
        if got is not None:
            counts[got] = counts.get(got, 0) + 1
        if line:
            print(line)
        failures += failed
    print("  " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) + f" ({len(expected)} events)")
    if concurrency > 1:
        print(f"\n  most invocations in flight at once: {IN_FLIGHT.most} (of {concurrency} allowed)")
        if IN_FLIGHT.most < 2:
            print("  FAILED: never more than one in flight")
            failures += 1
    if log and concurrency > 1:
        started = sum("starting lambda function instance" in line for line in open(log, errors="replace"))
        print(f"  function processes that served them: {started}")
        if started != 1:
            print("  FAILED: Managed Instances serve concurrent invocations in one process")
            failures += 1
    if log:
        cold, warm = emf_lines(log)
        print(f"\n==> the function's EMF lines (init-to-send latency; whole in {log}), one per "
              "invocation; what each figure means: docs/metrics-and-operations.md")
        print(f"  cold (the first invocation, which built the KMS client: ClientInitMs):\n  {cold}")
        print(f"  warm (a later one):\n  {warm}")
        if not (cold and warm):
            print("  FAILED: no EMF line of a successful cold and warm invocation in the function's log")
            failures += 1
    if failures:
        sys.exit(f"{failures} unexpected result(s)")
    print("\nall sample events behaved as documented")


if __name__ == "__main__":
    main()
