#!/usr/bin/env python3
"""The deploy rehearsal's AWS side, offline: a local moto (CloudFormation, Lambda, IAM, STS, KMS,
S3, CloudWatch, Logs) that enforces IAM, the stack created from template.yaml, the deployed
configuration read back, `make deploy-code` (cargo lambda deploy) onto the stack's function and
its configuration read back again, the function's role assumed. `make deploy-check` runs it
around the deploy test (tests/function.rs), which runs the function itself.

Usage:
  deploy_check.py artefact BOOTSTRAP        check the built artefact (arm64, glibc, aws-lc flag)
  deploy_check.py prepare BOOTSTRAP STATE   start moto, deploy the stack, write STATE (JSON)
  deploy_check.py code STATE                `make deploy-code` onto the stack's function, read back
  deploy_check.py enforce STATE             assume the function's role; IAM enforced from then on
  deploy_check.py policy STATE [--without SID ACTION]
                                            rewrite the role's KMS statements (admin credentials):
                                            as deployed, or without one action of one statement
  deploy_check.py stop STATE                stop moto

What is proven, and what is not, is listed in the README's deploy section.
"""
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile

import boto3
from botocore.config import Config

# The function project is the directory this runs in (its Makefile runs it there); the kit's
# tools sit beside this file.
ROOT = os.getcwd()
TOOLS = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
STACK = "deploy-check"
BUCKET = "deploy-check-artifacts"


def log(msg):
    print(f"deploy-check: {msg}", flush=True)


def fail(msg):
    sys.exit(f"deploy-check: FAILED: {msg}")


def client(service, url, creds, config=None):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=config,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    env = dict(os.environ)
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)  # no enforcement until enforce_iam()
    os.makedirs(os.path.join(ROOT, ".local"), exist_ok=True)
    out = open(os.path.join(ROOT, ".local", "deploy-check-moto.log"), "w")
    # moto, with what its CloudFormation and IAM lack for keys of several kinds (see the script).
    proc = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(TOOLS, "moto_server.py"),
         "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc.pid, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    fail("moto did not start")


def enforce_iam(url):
    """From now on moto checks every request's signature and the caller's IAM policies."""
    import urllib.request

    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()


def translate(code_uri, parameters):
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self):
            return {}

    template = yaml_parse(open(os.path.join(ROOT, "template.yaml")).read())
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = code_uri
    return transform(template, parameters, NoManagedPolicies())


CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def settled(cfn):
    """The stack once no longer in progress (a minute at most)."""
    for _ in range(600):
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.1)
    return stack


def prepare(bootstrap, state_path):
    pid, url = start_moto()
    try:
        deploy(pid, url, bootstrap, state_path)
    except BaseException:
        os.killpg(pid, signal.SIGTERM)
        raise


def deploy(pid, url, bootstrap, state_path):
    log(f"local AWS (moto) at {url}")
    anon = {"AccessKeyId": "deploy-check", "SecretAccessKey": "deploy-check"}
    iam = client("iam", url, anon)
    iam.create_user(UserName="deploy-check-admin")
    key = iam.create_access_key(UserName="deploy-check-admin")["AccessKey"]
    iam.put_user_policy(
        UserName="deploy-check-admin", PolicyName="admin",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    admin = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    # Package: the artefact as Lambda takes it, a zip with `bootstrap` at its root.
    s3 = client("s3", url, admin)
    s3.create_bucket(Bucket=BUCKET)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, open(bootstrap, "rb").read())
    s3.put_object(Bucket=BUCKET, Key="bootstrap.zip", Body=buf.getvalue())
    log(f"packaged {bootstrap} ({os.path.getsize(bootstrap)} bytes; zip {len(buf.getvalue())} bytes)")

    cfn_template = translate(f"s3://{BUCKET}/bootstrap.zip", {})
    cfn = client("cloudformation", url, admin)
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(cfn_template), Capabilities=CAPABILITIES)
    stack = settled(cfn)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=STACK)["StackEvents"]
        reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]]
        fail(f"stack {stack['StackStatus']}: {reasons}")
    created = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        if r.get("PhysicalResourceId") and r["ResourceStatus"] == "CREATE_COMPLETE"
    }
    # moto's CloudFormation has no AWS::CloudWatch::Alarm: it skips the alarms (cfn-lint, sam
    # validate and the template check of tests/function.rs check them). Everything else must have
    # been created.
    not_by_moto = {"AWS::CloudWatch::Alarm"}
    missing = [
        name for name, r in cfn_template["Resources"].items()
        if name not in created and r["Type"] not in not_by_moto
    ]
    if missing:
        fail(f"resources not created: {missing}")
    skipped = sorted(n for n, r in cfn_template["Resources"].items() if r["Type"] in not_by_moto)
    log(f"stack {STACK}: CREATE_COMPLETE, {len(created)} resources created "
        f"({', '.join(sorted(created))}); not modelled by moto, so not created: {', '.join(skipped)}")

    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    declared = cfn_template.get("Outputs", {}).keys()
    unresolved = [k for k in declared if not outputs.get(k) or re.search(r"\$\{|Fn::|\{'|None", outputs[k])]
    if set(declared) != set(outputs) or unresolved:
        fail(f"outputs declared {sorted(declared)}, resolved {outputs}; unresolved: {unresolved}")
    patterns = {
        "FunctionName": rf"^{STACK}$",
        "Dashboard": rf"dashboards:name={STACK}$",
    }
    for k, v in outputs.items():
        pattern = patterns.get(k) or (
            r"^arn:aws:kms:us-east-1:\d{12}:key/[0-9a-f-]{36}$" if k.endswith("KeyArn")
            else rf"^alias/{STACK}-[a-z0-9-]+$" if k.endswith("KeyAlias") else None)
        if pattern and not re.search(pattern, v):
            fail(f"output {k} = {v!r} does not match {pattern}")
    log("every output resolved: " + ", ".join(f"{k}={v}" for k, v in sorted(outputs.items())))

    # The keys: each of the spec and usage the template gives it, and its alias.
    kms = client("kms", url, admin)
    keys = {}  # logical id -> {"arn", "alias"}
    for name, r in cfn_template["Resources"].items():
        if r["Type"] != "AWS::KMS::Key":
            continue
        meta = kms.describe_key(KeyId=created[name]["PhysicalResourceId"])["KeyMetadata"]
        want = (r["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT"), r["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT"))
        got = (meta["KeySpec"], meta["KeyUsage"])
        if got != want:
            fail(f"key {name} is {got}, the template says {want}")
        aliases = [a["AliasName"] for a in kms.list_aliases(KeyId=meta["KeyId"])["Aliases"]]
        keys[name] = {"arn": meta["Arn"], "alias": aliases[0] if aliases else None}
        log(f"key {name}: {got[0]} for {got[1]}, alias {keys[name]['alias']}")
    arns = {k["arn"]: name for name, k in keys.items()}

    # The secrets. The stack was created with their parameters empty (a function of it refuses to
    # start, naming the variable), as a first `make deploy` creates it: the key that encrypts
    # them is the stack's own. Then, as a user does: each value encrypted with that key for the
    # stack's function (`aws kms encrypt … --encryption-context LambdaFunctionName=<name>`), and
    # the stack updated with the ciphertexts (`sam deploy --parameter-overrides`). Beside each,
    # the same value encrypted for another function, for the refusals.
    secrets = declared_secrets()
    if secrets:
        import base64

        for s in secrets:
            s["key_arn"] = keys[s["key"]]["arn"]
            for field, function in (("ciphertext", outputs["FunctionName"]), ("other_ciphertext", OTHER_FUNCTION)):
                blob = kms.encrypt(KeyId=s["key_arn"], Plaintext=secret_value(s).encode(),
                                   EncryptionContext={"LambdaFunctionName": function})["CiphertextBlob"]
                s[field] = base64.b64encode(blob).decode()
        cfn.update_stack(
            StackName=STACK, UsePreviousTemplate=True, Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": s["parameter"], "ParameterValue": s["ciphertext"]} for s in secrets],
        )
        stack = settled(cfn)
        if stack["StackStatus"] != "UPDATE_COMPLETE":
            fail(f"the stack's update with the secrets: {stack['StackStatus']}")
        log("secrets: " + ", ".join(f"{s['variable']} encrypted with {s['key']} for {outputs['FunctionName']}"
                                    for s in secrets) + "; the stack updated with them (UPDATE_COMPLETE)")

    lam = client("lambda", url, admin)
    conf = lam.get_function_configuration(FunctionName=outputs["FunctionName"])
    env = conf.get("Environment", {}).get("Variables", {})
    checks = {
        "Runtime": (conf.get("Runtime"), "provided.al2023"),
        "Handler": (conf.get("Handler"), "bootstrap"),
        "MemorySize": (conf.get("MemorySize"), 128),
        "Timeout": (conf.get("Timeout"), 10),
    }
    # moto's CloudFormation drops Architectures unless kit/tools/moto_server.py passes them on:
    # read back, they are the template's (the artefact's own ELF header is checked above).
    function = [r for r in cfn_template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"][0]
    checks["Architectures"] = (conf.get("Architectures"), function["Properties"].get("Architectures"))
    checks["Architectures (template)"] = (function["Properties"].get("Architectures"), ["arm64"])
    # Every variable the template sets to a key's ARN holds that key's ARN, and each secret's
    # the ciphertext it was given.
    for var, value in function["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, dict) and value.get("Fn::GetAtt", [None])[0] in keys:
            checks[var] = (env.get(var), keys[value["Fn::GetAtt"][0]]["arn"])
    for s in secrets:
        checks[s["variable"]] = (env.get(s["variable"]), s["ciphertext"])
    wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
    if wrong:
        fail(f"deployed configuration differs (got, expected): {wrong}")
    role_arn = conf["Role"]
    role_name = role_arn.rsplit("/", 1)[1]
    log(f"deployed function: {conf['Runtime']}, {conf.get('Architectures')}, {conf['MemorySize']} MB, "
        f"{conf['Timeout']} s, role {role_name}, environment {sorted(env)}")

    iam = client("iam", url, admin)
    policies = {}
    statements = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            # moto's CloudFormation stores an inline role policy as the text of a Python dict.
            import ast
            import urllib.parse

            text = urllib.parse.unquote(doc)
            try:
                doc = json.loads(text)
            except ValueError:
                doc = ast.literal_eval(text)
        policies[name] = doc
        for st in (doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("kms:") for a in actions):
                statements.append({"policy": name, "sid": st.get("Sid"), "actions": actions,
                                   "resource": st["Resource"], "condition": st.get("Condition")})
    if not statements:
        fail("the role has no KMS statement")
    for st in statements:
        if st["resource"] not in arns:
            fail(f"the role's statement {st['sid']} is on {st['resource']}, not on one of the stack's keys")
        only = f", only under {st['condition']}" if st["condition"] else ""
        log(f"role policy {st['policy']}, {st['sid']}: {st['actions']} on {arns[st['resource']]}{only}")
    # The secrets' statements, read back: kms:Decrypt on their key, only for this function's name.
    for key in sorted({s["key"] for s in secrets}):
        want = {"StringEquals": {"kms:EncryptionContext:LambdaFunctionName": outputs["FunctionName"]}}
        found = [st for st in statements if arns.get(st["resource"]) == key and st["condition"] == want
                 and st["actions"] == ["kms:Decrypt"]]
        if not found:
            fail(f"the role has no statement granting kms:Decrypt on {key} only under {want}")

    state = {
        "moto_pid": pid,
        "url": url,
        "admin": admin,
        "outputs": outputs,
        "keys": keys,
        "environment": env,
        "memory_mb": conf["MemorySize"],
        "timeout_s": conf["Timeout"],
        "role_name": role_name,
        "policies": policies,
        "statements": statements,
        "secrets": secrets,
        # What `make deploy-code` must leave as the stack set it (deploy_check.py code).
        "function": {
            "name": outputs["FunctionName"],
            "Runtime": conf.get("Runtime"),
            "Handler": conf.get("Handler"),
            "Architectures": conf.get("Architectures"),
            "MemorySize": conf.get("MemorySize"),
            "Timeout": conf.get("Timeout"),
            "Environment": env,
            "Role": role_arn,
            "CodeSha256": conf.get("CodeSha256"),
            "LogFormat": function["Properties"].get("LoggingConfig", {}).get("LogFormat"),
        },
    }
    json.dump(state, open(state_path, "w"), indent=1)
    log(f"state in {state_path}")


def enforce(state_path):
    """The function's role assumed, then IAM enforced on every request."""
    state = json.load(open(state_path))
    url, admin = state["url"], state["admin"]
    role_arn = state["function"]["Role"]
    creds = client("sts", url, admin).assume_role(RoleArn=role_arn, RoleSessionName="deploy-check")["Credentials"]
    # moto's Lambda API mis-verifies signatures once IAM is enforced, so everything before ran
    # without it; from here on every request — the function's KMS calls first — is authenticated
    # and authorised against IAM, each KMS request on the key it names (kit/tools/moto_server.py).
    # moto's CloudFormation keeps an inline role policy as an object its IAM cannot evaluate
    # (a KeyError, answered 500): the policies are put back as IAM keeps them, JSON text.
    put_policies(state)
    enforce_iam(url)
    state["role_credentials"] = {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    json.dump(state, open(state_path, "w"), indent=1)
    log("assumed the deployed role; IAM enforced from here on: every request is signed and checked "
        "against its caller's policies")
    # The secrets' condition, both ways, with the role's own credentials: it decrypts this
    # function's secret, and is refused one encrypted for another function, even asked with that
    # function's name as the encryption context (kit/tools/moto_server.py evaluates the
    # condition as IAM does; the statement itself was read back at `prepare`).
    import base64

    from botocore.exceptions import ClientError

    kms = client("kms", url, state["role_credentials"])
    for s in state.get("secrets", []):
        got = kms.decrypt(KeyId=s["key_arn"], CiphertextBlob=base64.b64decode(s["ciphertext"]),
                          EncryptionContext={"LambdaFunctionName": state["outputs"]["FunctionName"]})
        if got["Plaintext"] != secret_value(s).encode():
            fail(f"the role decrypted {s['variable']} to something else")
        try:
            kms.decrypt(KeyId=s["key_arn"], CiphertextBlob=base64.b64decode(s["other_ciphertext"]),
                        EncryptionContext={"LambdaFunctionName": OTHER_FUNCTION})
        except ClientError as e:
            # moto answers an IAM denial in IAM's XML even to KMS's JSON protocol, which botocore
            # then reads as code "403": the code is taken from the XML.
            refused = e.response["Error"]["Code"]
            found = re.search(r"<Code>([^<]+)</Code>", e.response["Error"].get("Message", ""))
            if refused == "403" and found:
                refused = found.group(1)
        else:
            fail(f"the role decrypted a secret encrypted for {OTHER_FUNCTION}: its condition did not hold")
        if refused not in ("AccessDeniedException", "AccessDenied"):
            fail(f"decrypting a secret encrypted for {OTHER_FUNCTION}: {refused}, not an access denial")
        log(f"the role decrypts {s['variable']} for {state['outputs']['FunctionName']}, and is refused "
            f"({refused}) one encrypted for {OTHER_FUNCTION}, asked under that name")


# The function another function's secret is encrypted for, in the refusals.
OTHER_FUNCTION = "another-function"


def declared_secrets():
    """The function's secrets (`cargo xtask secrets`): name, variable, parameter, key resource."""
    out = subprocess.run(["cargo", "xtask", "secrets"], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def secret_value(secret):
    """The value the rehearsal gives a secret."""
    return f"the {secret['name']} secret of the deploy rehearsal"


# cargo-lambda's deploy settings this project may use ([package.metadata.lambda.deploy]); any
# other — a role, environment variables, a runtime — would replace what the stack set.
DEPLOY_SETTINGS = {"memory", "timeout", "tracing", "tags", "tag"}
ELF_MACHINES = {183: "arm64", 62: "x86_64"}


def deploy_settings():
    """The function package's [package.metadata.lambda.deploy], as cargo reads it."""
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    meta = json.loads(out)
    package = next(p for p in meta["packages"] if os.path.dirname(p["manifest_path"]) == ROOT)
    return package["name"], ((package.get("metadata") or {}).get("lambda") or {}).get("deploy") or {}


def code_architecture(zip_path):
    """The architecture of the `bootstrap` in a deployment zip, from its ELF header."""
    with zipfile.ZipFile(zip_path) as z:
        head = z.open("bootstrap").read(20)
    if head[:4] != b"\x7fELF":
        return "not an ELF executable"
    machine = int.from_bytes(head[18:20], "little")
    return ELF_MACHINES.get(machine, f"ELF machine {machine}")


def read_back(state, zip_path, settings):
    """The function as deployed, field by field: (field, got, expected) rows."""
    import base64
    import hashlib

    before = state["function"]
    lam = client("lambda", state["url"], state["admin"])
    conf = lam.get_function_configuration(FunctionName=before["name"])
    tags = lam.list_tags(Resource=conf["FunctionArn"]).get("Tags", {})
    zipped = open(zip_path, "rb").read()
    rows = [
        ("CodeSha256 (the new zip's)", conf.get("CodeSha256"),
         base64.b64encode(hashlib.sha256(zipped).digest()).decode()),
        ("code architecture (its bootstrap's ELF header)", code_architecture(zip_path),
         (before["Architectures"] or ["x86_64"])[0]),
    ]
    for field in ("Architectures", "Runtime", "Handler", "MemorySize", "Timeout", "Role"):
        rows.append((field, conf.get(field), before[field]))
    env = conf.get("Environment", {}).get("Variables", {})
    for var, value in sorted(before["Environment"].items()):
        rows.append((f"Environment {var}", env.get(var, "(missing)"), value))
    for var in sorted(set(env) - set(before["Environment"])):
        rows.append((f"Environment {var}", env[var], "(not set by the stack)"))
    tracing = {"passthrough": "PassThrough", "active": "Active"}.get(
        str(settings.get("tracing", "")).lower(), "PassThrough")
    rows.append(("TracingConfig.Mode", (conf.get("TracingConfig") or {}).get("Mode", "PassThrough"), tracing))
    wanted_tags = settings.get("tags") or settings.get("tag") or {}
    if isinstance(wanted_tags, list):
        wanted_tags = dict(t.split("=", 1) for t in wanted_tags)
    for k, v in sorted(wanted_tags.items()):
        rows.append((f"tag {k}", tags.get(k, "(missing)"), v))
    return rows


def code(state_path):
    """`make deploy-code` onto the stack's function, as a user runs it after `make deploy`, and
    the function read back: the new code, arm64, and everything the stack set unchanged. Then the
    check itself is put to the test: an x86_64 build, and a deploy that sets an environment
    variable (cargo-lambda then replaces the whole environment), must each fail it, naming the
    field."""
    state = json.load(open(state_path))
    name = state["function"]["name"]
    package, settings = deploy_settings()
    unknown = sorted(set(settings) - DEPLOY_SETTINGS)
    if unknown:
        fail(f"[package.metadata.lambda.deploy] sets {unknown}: cargo lambda deploy would replace the "
             f"stack's {', '.join(unknown)}; only {sorted(DEPLOY_SETTINGS)} belong there")
    # cargo-lambda 1.9 has no log-format setting and sends no LoggingConfig: the stack's JSON
    # format stays. (moto drops LoggingConfig, so it cannot be read back here.)
    if state["function"]["LogFormat"] != "JSON":
        fail(f"template.yaml's LoggingConfig.LogFormat is {state['function']['LogFormat']!r}, not JSON")
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": state["url"],
        "AWS_ACCESS_KEY_ID": state["admin"]["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": state["admin"]["SecretAccessKey"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    })
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)

    def differences(zip_path):
        rows = read_back(state, zip_path, settings)
        return rows, [(f, got, want) for f, got, want in rows if got != want]

    def cargo_lambda(*args):
        subprocess.run(["cargo", "lambda", "deploy", *args, name],
                       env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    # The check can fail: an x86_64 build (the host's debug build) deployed onto the function.
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    host = os.path.join(target, "debug", package)
    if not os.path.exists(host):
        subprocess.run(["cargo", "build", "--locked", "--bin", package], cwd=ROOT, check=True)
    cargo_lambda("--binary-path", host)
    _, wrong = differences(os.path.join(os.path.dirname(host), "bootstrap.zip"))
    if not any(f.startswith("code architecture") for f, _, _ in wrong):
        fail(f"an x86_64 build deployed onto the function went unnoticed: {wrong}")
    log(f"checked: an x86_64 build is caught ({[f for f, _, _ in wrong]})")
    # … and an environment variable given to cargo-lambda, which replaces the key variables.
    cargo_lambda("--binary-name", package, "--env-var", "AWS_LAMBDA_LOG_LEVEL=DEBUG")
    _, wrong = differences(os.path.join(target, "lambda", package, "bootstrap.zip"))
    missing = [f for f, got, _ in wrong if f.startswith("Environment ") and got == "(missing)"]
    if not any(v in f for f in missing for v in state["environment"] if v.endswith("_KEY_ID")):
        fail(f"a deploy that dropped the key variables went unnoticed: {wrong}")
    log(f"checked: a replaced environment is caught ({len(missing)} variables named missing)")
    lam = client("lambda", state["url"], state["admin"])
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": state["function"]["Environment"]})

    # The path itself: make deploy-code, as the README has it.
    subprocess.run(["make", "--no-print-directory", "deploy-code", f"STACK={STACK}"], env=env, cwd=ROOT, check=True)
    rows, wrong = differences(os.path.join(target, "lambda", package, "bootstrap.zip"))
    log(f"read back after make deploy-code (cargo lambda deploy) onto {name}:")
    for f, got, want in rows:
        shown = got if len(str(got)) < 90 else str(got)[:87] + "..."
        log(f"  {f}: {shown}" + ("" if got == want else f"   ≠ expected {want}"))
    log(f"  LoggingConfig.LogFormat: JSON, as template.yaml sets it (cargo lambda deploy sends no "
        f"LoggingConfig; moto keeps none to read back)")
    if wrong:
        fail("after make deploy-code the function differs: " + "; ".join(f"{f}: {g!r}, expected {w!r}" for f, g, w in wrong))


def policy(state_path, without=None):
    """Puts the role's policies back as deployed, or without one action of one statement."""
    removed = put_policies(json.load(open(state_path)), without)
    if without and removed is None:
        fail(f"no statement {without[0]} to remove {without[1]} from")
    print(json.dumps({"removed": removed}))


def put_policies(state, without=None):
    """The role's policies as deployed, or without one action of one statement; the statement
    changed, if any. A statement left with no action is removed whole: IAM refuses a statement
    without actions (MalformedPolicyDocument), and one with none grants nothing anyway."""
    removed = None
    for name, doc in state["policies"].items():
        doc = json.loads(json.dumps(doc))
        sts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        kept = []
        for st in sts:
            if without and st.get("Sid") == without[0]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                st["Action"] = [a for a in actions if a != without[1]]
                removed = (st["Sid"], without[1], st["Resource"])
                if not st["Action"]:
                    continue
            kept.append(st)
        iam = client("iam", state["url"], state["admin"])
        if not kept:
            # A policy needs a statement: the policy goes, as its last statement did.
            iam.delete_role_policy(RoleName=state["role_name"], PolicyName=name)
            continue
        doc["Statement"] = kept
        iam.put_role_policy(RoleName=state["role_name"], PolicyName=name, PolicyDocument=json.dumps(doc))
    return removed


# provided.al2023 ships glibc 2.34: the artefact may need no newer symbol version.
AL2023_GLIBC = (2, 34)


def artefact(bootstrap):
    data = open(bootstrap, "rb").read()
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != 183:
        fail(f"{bootstrap} is not an arm64 (AArch64) ELF executable")
    needed = set()
    try:
        out = subprocess.run(["readelf", "-V", "-W", bootstrap], capture_output=True, text=True, check=True).stdout
        needed = set(re.findall(r"Name: GLIBC_(\d+)\.(\d+)", out))
    except (OSError, subprocess.CalledProcessError):
        needed = set(re.findall(rb"GLIBC_(\d+)\.(\d+)", data))
    versions = sorted((int(a), int(b)) for a, b in needed)
    if not versions:
        fail("no glibc symbol versions found: is it dynamically linked against glibc?")
    newest = versions[-1]
    if newest > AL2023_GLIBC:
        fail(f"the artefact needs glibc {newest[0]}.{newest[1]}; provided.al2023 has 2.34")
    log(f"artefact: arm64 ELF, {len(data)} bytes, needs glibc ≤ {newest[0]}.{newest[1]} (provided.al2023: 2.34)")

    # The aws-lc that went into it was built without CPU-jitter entropy (.cargo/config.toml):
    # the newest aws-lc build of the arm64 target has no jitterentropy objects.
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    build = os.path.join(target, "aarch64-unknown-linux-gnu", "release", "build")
    archives = []
    for dirpath, _, files in os.walk(build):
        archives += [os.path.join(dirpath, f) for f in files if f.startswith("libaws_lc") and f.endswith("crypto.a")]
    if not archives:
        fail(f"no aws-lc archive under {build}: was the artefact built with `make build`?")
    newest_archive = max(archives, key=os.path.getmtime)
    members = subprocess.run(["ar", "t", newest_archive], capture_output=True, text=True, check=True).stdout
    jitter = [m for m in members.split() if "jitter" in m]
    if jitter:
        fail(f"aws-lc was built with its CPU-jitter entropy source ({jitter[:3]}…): AWS_LC_SYS_NO_JITTER_ENTROPY was lost")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(bootstrap, "bootstrap")
    log(f"artefact: aws-lc built without jitter entropy; zip {len(buf.getvalue())} bytes")


def stop(state_path):
    try:
        pid = json.load(open(state_path))["moto_pid"]
        os.killpg(pid, signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "artefact":
        artefact(sys.argv[2])
    elif cmd == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif cmd == "code":
        code(sys.argv[2])
    elif cmd == "enforce":
        enforce(sys.argv[2])
    elif cmd == "policy":
        args = sys.argv[3:]
        without = tuple(args[args.index("--without") + 1:][:2]) if "--without" in args else None
        policy(sys.argv[2], without)
    elif cmd == "stop":
        stop(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
