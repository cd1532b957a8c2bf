#!/usr/bin/env python3
"""Runs a function project's function locally on its sample events, offline: moto is the KMS,
`cargo lambda watch` is the Lambda Runtime API, send_events.py sends each file in events/ and
the bad-input corpus with `cargo lambda invoke`.

Usage: run_local.py FUNCTION (the package and binary name), in the project directory, with its
virtualenv (`make venv`); `make invoke` runs it. KMS_PORT (4599) and WATCH_PORT (9000) choose the
ports; CONCURRENCY=N (1) serves one process with AWS_LAMBDA_MAX_CONCURRENCY=N and sends up to N
events at once, as Lambda Managed Instances do.

Python rather than a shell script: it runs alike on macOS and Linux (no bash /dev/tcp, setsid
or GNU tools), which is where copies of the template are developed.
"""
import os
import signal
import socket
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def tail(path, lines=5):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_port(port, seconds, what, proc, log):
    """The port open, and the process that should open it alive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited before it opened port {port}; the end of {log}:\n{tail(log)}")
        if port_open(port):
            return
        time.sleep(0.1)
    sys.exit(f"{what} did not open port {port} within {seconds} s (its log: {log})")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_local.py FUNCTION (the package and binary name)")
    function = sys.argv[1]
    kms_port = int(os.environ.get("KMS_PORT") or 4599)
    watch_port = int(os.environ.get("WATCH_PORT") or 9000)
    concurrency = int(os.environ.get("CONCURRENCY") or 1)
    venv_bin = os.path.join(os.getcwd(), ".venv", "bin")
    # The virtualenv's python first: cargo-lambda finds zig through `python3 -m ziglang`.
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    os.makedirs(".local", exist_ok=True)

    # A port another program holds would answer in place of ours (and hang what talks to it):
    # refuse it at once, naming it.
    for port, what, variable in ((kms_port, "the local KMS", "KMS_PORT"), (watch_port, "cargo lambda watch", "WATCH_PORT")):
        if port_open(port):
            sys.exit(f"make invoke: port {port} ({what}) is in use by another program; stop it, "
                     f"or pick another port: make invoke {variable}=<port>")

    started = []  # each in its own process group, stopped whole at the end

    def start(argv, log):
        proc = subprocess.Popen(argv, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(proc)
        return proc

    try:
        print(f"==> local KMS (moto) on 127.0.0.1:{kms_port}", flush=True)
        moto = start([os.path.join(venv_bin, "moto_server"), "-H", "127.0.0.1", "-p", str(kms_port)], ".local/moto.log")
        wait_port(kms_port, 30, "moto_server", moto, ".local/moto.log")

        print("==> a local key of each kind in src/ops/mod.rs (cargo xtask local-keys)", flush=True)
        # Each under its local alias (alias/local/<kind>), as events/ and tests/bad-input/ name
        # them; each secret encrypted with its key for this function, as Lambda would hold it.
        keys = subprocess.run(["cargo", "xtask", "local-keys", f"http://127.0.0.1:{kms_port}"],
                              env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        variables = keys.rstrip("\n").split("\n") if keys.strip() else []
        variables += [
            f"AWS_ENDPOINT_URL_KMS=http://127.0.0.1:{kms_port}",
            "AWS_REGION=us-east-1",
            "AWS_ACCESS_KEY_ID=local",
            "AWS_SECRET_ACCESS_KEY=local",
            "AWS_EC2_METADATA_DISABLED=true",
        ]
        if concurrency > 1:
            variables.append(f"AWS_LAMBDA_MAX_CONCURRENCY={concurrency}")
        with open(".local/function.env", "w") as f:
            f.write("\n".join(variables) + "\n")

        print(f"==> building the function (cargo build --bin {function})", flush=True)
        # watch builds on the first invoke, inside that invoke's deadline: build first.
        subprocess.run(["cargo", "build", "--locked", "--bin", function], env=env, check=True)

        shared = f", one process with AWS_LAMBDA_MAX_CONCURRENCY={concurrency}" if concurrency > 1 else ""
        print(f"==> cargo lambda watch on port {watch_port} (function log in .local/watch.log){shared}", flush=True)
        watch = start(["cargo", "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
                       "--invoke-port", str(watch_port), "--env-file", ".local/function.env"], ".local/watch.log")
        wait_port(watch_port, 60, "cargo lambda watch", watch, ".local/watch.log")

        print(flush=True)
        # Every sample event (each encrypt is decrypted again), then the bad-input corpus, then
        # the EMF lines of a cold and a warm invocation.
        sent = subprocess.run([sys.executable, os.path.join(TOOLS, "send_events.py"), function,
                               str(watch_port), str(concurrency), ".local/watch.log"], env=env)
        return sent.returncode
    except subprocess.CalledProcessError as e:
        return e.returncode or 1
    finally:
        for proc in started:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
