#!/usr/bin/env python3
"""moto's server, as the deploy rehearsal (kit/tools/deploy_check.py) runs it, with three things
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
  them: every function reads back x86_64), and its environment variables as strings (moto keeps
  a number parameter's value as a JSON number, which the Rust SDK — cargo-lambda's — refuses to
  read), so that the function `cargo lambda deploy` updates is the one AWS would hold.

Usage: moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
deploy_check.py checks both took effect: each key's spec and usage as the template says, and
each action of the role needed on the key it is granted on, the function's architecture as the
template gives it.
"""
import json
import sys

from moto.awslambda.models import LambdaFunction
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


def determine_resource(self):
    """The ARN of the key the request names (KeyId), for IAM; "*" when it names none."""
    try:
        named = json.loads(self.body or "{}").get("KeyId")
        if not named:
            return "*"
        backend = self.kms_backend
        return backend.keys[backend.any_id_to_key_id(named)].arn
    except Exception:  # an unknown key: KMS answers NotFound after authorising on "*"
        return "*"


create_function_from_cloudformation = LambdaFunction.create_from_cloudformation_json.__func__


def create_function_with_architectures(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    variables = cloudformation_json["Properties"].get("Environment", {}).get("Variables", {})
    for name, value in variables.items():
        if isinstance(value, bool):
            variables[name] = "true" if value else "false"
        elif not isinstance(value, str):
            variables[name] = str(value)
    function = create_function_from_cloudformation(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    architectures = cloudformation_json["Properties"].get("Architectures")
    if architectures:
        function.architectures = architectures
    return function


Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
LambdaFunction.create_from_cloudformation_json = classmethod(create_function_with_architectures)
KmsResponse._determine_resource = determine_resource

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
