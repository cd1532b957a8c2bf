"""Checks template.yaml for least privilege (run by `make test`):

- the function's KMS actions are exactly the KMS operations src/kms.rs calls;
- they are granted on the template's own KMS key only (no `Resource: '*'`, no other key);
- no `kms:*` for the function, and the key policy grants `kms:*` to the account root only;
- no SAM policy template or managed policy slips in other KMS rights.

Usage: check-least-privilege.py [template.yaml] [src/kms.rs]
"""
import re
import sys

from cfnlint.decode import decode_str

template_path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
source_path = sys.argv[2] if len(sys.argv) > 2 else "src/kms.rs"

# The KMS operations the code calls on the SDK client: `self.encrypt()`, `.generate_data_key()`.
source = open(source_path, encoding="utf-8").read()
calls = set(re.findall(r"\bself\s*\.\s*(encrypt|decrypt|generate_data_key|re_encrypt)\(\)", source))
used = {"kms:" + "".join(part.title() for part in c.split("_")) for c in calls}

template, problems = decode_str(open(template_path, encoding="utf-8").read())
if problems:
    sys.exit(f"least-privilege: cannot parse {template_path}: {problems}")
resources = template["Resources"]
keys = {name for name, r in resources.items() if r["Type"] == "AWS::KMS::Key"}
errors = []


def as_list(v):
    return v if isinstance(v, list) else [v]


for name, res in resources.items():
    if res["Type"] != "AWS::Serverless::Function":
        continue
    granted = set()
    for policy in as_list(res["Properties"].get("Policies", [])):
        if not (isinstance(policy, dict) and "Statement" in policy):
            if "kms" in str(policy).lower():
                errors.append(f"{name}: policy {policy!r} grants KMS rights outside an inline statement")
            continue
        for st in as_list(policy["Statement"]):
            actions = [a for a in as_list(st.get("Action", [])) if str(a).lower().startswith("kms:")]
            if not actions:
                continue
            if st.get("Effect") != "Allow":
                continue
            for a in actions:
                if "*" in a:
                    errors.append(f"{name}: wildcard KMS action {a}")
            granted.update(actions)
            for r in as_list(st.get("Resource")):
                ok = isinstance(r, dict) and r.get("Fn::GetAtt") in ([k, "Arn"] for k in keys)
                if not ok:
                    errors.append(f"{name}: KMS actions on {r!r}, not on the template's key")
    if granted != used:
        errors.append(f"{name}: grants {sorted(granted)}, the code uses {sorted(used)}")

root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
for key in keys:
    for st in as_list(resources[key]["Properties"]["KeyPolicy"]["Statement"]):
        actions = as_list(st.get("Action", []))
        if any(a in ("kms:*", "*") for a in actions):
            principals = as_list(st.get("Principal", {}).get("AWS"))
            if principals != [root]:
                errors.append(f"{key}: key policy grants kms:* to {principals!r}")

if errors:
    sys.exit("least-privilege:\n  " + "\n  ".join(errors))
print(f"least-privilege: the function may use {', '.join(sorted(used))} on its own key only; kms:* only for the account root")
