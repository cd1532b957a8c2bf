#!/usr/bin/env python3
"""moto's server, as the deploy rehearsal (kit/tools/deploy_check.py) runs it, with what
moto 5.2 lacks and AWS does, so that a stack with several kinds of key is rehearsed as AWS
would run it:

- CloudFormation passes a key's KeySpec and KeyUsage on (moto's AWS::KMS::Key always makes a
  SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT key, so an HMAC key would refuse GenerateMac), and its key
  policy as the JSON text KMS keeps (moto keeps the template's object, on which its DescribeKey
  fails with an internal error);
- IAM judges a KMS request against the key it names (moto judges every KMS request against
  Resource "*", so a statement scoped to a key's ARN, as least privilege has it, never
  matches — the rehearsal once had to widen the role to "*");
- CloudFormation passes a function's Architectures on (moto's AWS::Lambda::Function drops
  them: every function reads back x86_64), and its environment variables as strings, on create
  and on update (moto keeps a number parameter's value as a JSON number, which the Rust SDK —
  cargo-lambda's — refuses to read), so that the function `cargo lambda deploy` updates is the
  one AWS would hold;
- IAM evaluates a statement's `kms:EncryptionContext:<key>` condition (StringEquals, what
  `make template` writes for secrets) against the request's encryption context: moto leaves
  every condition key but sts:ExternalId unevaluated (so a statement meant only for this
  function's name would allow any), and judges a condition before the resource, so a condition
  that does not hold denies outright where IAM merely lets the statement not apply.

Usage: moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
deploy_check.py checks both took effect: each key's spec and usage as the template says, and
each action of the role needed on the key it is granted on, the function's architecture as the
template gives it.
"""
import json
import sys
import threading

from moto.awslambda.models import LambdaFunction
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.kms.models import Key, kms_backends
from moto.kms.responses import KmsResponse


def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    policy = properties["KeyPolicy"]
    key = kms_backends[account_id][region_name].create_key(
        policy=policy if isinstance(policy, str) else json.dumps(policy),
        key_usage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
        key_spec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
        description=properties.get("Description"),
        tags=properties.get("Tags", []),
    )
    key.key_rotation_status = properties.get("EnableKeyRotation", False)
    key.enabled = properties.get("Enabled", True)
    return key


# The encryption context of the KMS request this thread is authorising (moto authorises a request
# on the thread that serves it, right after determine_resource below).
REQUEST = threading.local()


def determine_resource(self):
    """The ARN of the key the request names (KeyId), for IAM; "*" when it names none. Also keeps
    the request's encryption context, for the kms:EncryptionContext conditions."""
    try:
        body = json.loads(self.body or "{}")
    except ValueError:
        body = {}
    context = body.get("EncryptionContext") if isinstance(body, dict) else None
    REQUEST.kms_context = {f"kms:EncryptionContext:{k}": v for k, v in (context or {}).items()}
    try:
        named = body.get("KeyId")
        if not named:
            return "*"
        backend = self.kms_backend
        return backend.keys[backend.any_id_to_key_id(named)].arn
    except Exception:  # an unknown key: KMS answers NotFound after authorising on "*"
        return "*"


create_function_from_cloudformation = LambdaFunction.create_from_cloudformation_json.__func__
update_function_from_cloudformation = LambdaFunction.update_from_cloudformation_json.__func__


def string_variables(cloudformation_json):
    """The function's environment variables as Lambda keeps them: strings."""
    variables = cloudformation_json["Properties"].get("Environment", {}).get("Variables", {})
    for name, value in variables.items():
        if isinstance(value, bool):
            variables[name] = "true" if value else "false"
        elif not isinstance(value, str):
            variables[name] = str(value)


def update_function_with_string_variables(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    """A stack update (new parameters: `sam deploy --parameter-overrides`) keeps them strings too
    (moto calls this with keyword arguments: the names are moto's)."""
    string_variables(cloudformation_json)
    return update_function_from_cloudformation(
        cls,
        original_resource=original_resource,
        new_resource_name=new_resource_name,
        cloudformation_json=cloudformation_json,
        account_id=account_id,
        region_name=region_name,
    )


def create_function_with_architectures(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    string_variables(cloudformation_json)
    function = create_function_from_cloudformation(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    architectures = cloudformation_json["Properties"].get("Architectures")
    if architectures:
        function.architectures = architectures
    return function


judge_statement = IAMPolicyStatement.is_action_permitted


def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    """moto's judgement, then — for a statement that allows — its kms:EncryptionContext
    conditions, as IAM judges them: an Allow whose condition does not hold does not apply."""
    result = judge_statement(self, action, resource, principal, incoming_condition_values)
    conditions = [
        (operator, key, wanted)
        for operator, pairs in (self._statement.get("Condition") or {}).items()
        for key, wanted in pairs.items()
        if key.lower().startswith("kms:encryptioncontext:")
    ]
    if result != PermissionResult.PERMITTED or not conditions:
        return result
    context = getattr(REQUEST, "kms_context", {})
    for operator, key, wanted in conditions:
        wanted = wanted if isinstance(wanted, list) else [wanted]
        # Only what `make template` writes; anything else is refused rather than guessed at.
        if operator != "StringEquals" or context.get(key) not in wanted:
            return PermissionResult.NEUTRAL
    return result


def check_conditions(self, incoming_condition_values):
    """moto's condition check, kms:EncryptionContext keys aside (is_action_permitted above)."""
    kept = {
        operator: {k: v for k, v in pairs.items() if not k.lower().startswith("kms:encryptioncontext:")}
        for operator, pairs in (self._statement.get("Condition") or {}).items()
    }
    statement = dict(self._statement, Condition={o: p for o, p in kept.items() if p})
    if not statement["Condition"]:
        del statement["Condition"]
    return check_original(IAMPolicyStatement(statement), incoming_condition_values)


check_original = IAMPolicyStatement._check_conditions

Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
IAMPolicyStatement.is_action_permitted = is_action_permitted
IAMPolicyStatement._check_conditions = check_conditions
LambdaFunction.create_from_cloudformation_json = classmethod(create_function_with_architectures)
LambdaFunction.update_from_cloudformation_json = classmethod(update_function_with_string_variables)
KmsResponse._determine_resource = determine_resource

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
