#!/usr/bin/env python3
"""template.managed-instances.yaml, checked against template.yaml.

Merges the overlay into template.yaml as the overlay's own comments say to, translates the result
with the SAM translator (as `sam deploy` would), lints the translated template with cfn-lint, and checks what the function needs there: a capacity provider,
a published version, at least 2 GB, a concurrency Lambda accepts, no single glibc arena. Run from
the .venv (`make lint`); nothing is deployed.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile

# The function project is the directory this runs in (its Makefile runs it there); the kit's
# tools sit beside this file.
ROOT = os.getcwd()
TOOLS = os.path.dirname(os.path.abspath(__file__))
OVERLAY = "template.managed-instances.yaml"


def fail(message):
    print(f"managed_instances.py: {message}", file=sys.stderr)
    sys.exit(1)


def merge(base, extra):
    """Dictionaries merge key by key; anything else in `extra` replaces what `base` had."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(open(os.path.join(ROOT, "template.yaml")).read())
    overlay = yaml_parse(open(os.path.join(ROOT, OVERLAY)).read())
    functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    if len(functions) != 1:
        fail(f"expected one AWS::Serverless::Function in template.yaml, found {functions}")
    FUNCTION = functions[0]
    if FUNCTION not in overlay.get("Resources", {}):
        fail(f"{OVERLAY} must set the properties of {FUNCTION}, the function of template.yaml")
    deployed = template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"].get("GLIBC_TUNABLES", "")
    merge(template, overlay)
    template["Resources"][FUNCTION]["Properties"]["CodeUri"] = "s3://bucket/bootstrap.zip"

    class NoManagedPolicies:
        def load(self):
            return {}

    translated = transform(template, {}, NoManagedPolicies())
    resources = translated["Resources"]

    providers = [r for r in resources.values() if r["Type"] == "AWS::Lambda::CapacityProvider"]
    if len(providers) != 1:
        fail(f"expected one AWS::Lambda::CapacityProvider, found {len(providers)}")
    function = resources[FUNCTION]["Properties"]
    config = function.get("CapacityProviderConfig", {}).get("LambdaManagedInstancesCapacityProviderConfig")
    if not config:
        fail(f"{FUNCTION} has no LambdaManagedInstancesCapacityProviderConfig")
    concurrency = config.get("PerExecutionEnvironmentMaxConcurrency", 8)
    if not 1 <= concurrency <= 1600:
        fail(f"PerExecutionEnvironmentMaxConcurrency {concurrency} is outside 1–1600")
    if not 2 <= config.get("ExecutionEnvironmentMemoryGiBPerVCpu", 2) <= 8:
        fail("ExecutionEnvironmentMemoryGiBPerVCpu must be 2–8")
    if function.get("MemorySize", 128) < 2048:
        fail(f"MemorySize {function.get('MemorySize')}: Managed Instances need 2,048 MB or more")
    if not any(r["Type"] == "AWS::Lambda::Alias" for r in resources.values()):
        fail("no published version and alias (AutoPublishAlias): Managed Instances run versions only")
    tunables = function["Environment"]["Variables"].get("GLIBC_TUNABLES", "")
    expected = ":".join(t for t in deployed.split(":") if t and t != "glibc.malloc.arena_max=1")
    if tunables != expected:
        fail(f"GLIBC_TUNABLES in {OVERLAY} should be template.yaml's less arena_max=1 (several "
             f"threads allocate at once): {expected!r}, not {tunables!r}")
    if function.get("LoggingConfig", {}).get("LogFormat") != "JSON":
        fail("Managed Instances log JSON: LoggingConfig.LogFormat must be JSON")

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(translated, out, indent=1)
    try:
        # W2001 (a parameter no resource uses) is the translation's, not the template's: SAM
        # resolves parameters it can (Tracing at its default, Disabled, drops the function's
        # tracing configuration), as CloudFormation's transform does at deploy time. cfn-lint on
        # template.yaml itself keeps the check.
        lint = subprocess.run(["cfn-lint", out.name, "--ignore-checks", "W2001"], capture_output=True, text=True)
    finally:
        os.unlink(out.name)
    if lint.returncode != 0:
        fail(f"cfn-lint on template.yaml with {OVERLAY}:\n{lint.stdout}{lint.stderr}")
    print(
        f"managed_instances.py: template.yaml with {OVERLAY} translates and lints; {function['MemorySize']} MB, "
        f"{concurrency} invocations at once per execution environment"
    )


if __name__ == "__main__":
    main()
