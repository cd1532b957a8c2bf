"""Creates a symmetric key and an alias in a local KMS (moto) and prints the key ARN.

Usage: create_key.py ENDPOINT_URL ALIAS
"""
import sys

import boto3

url, alias = sys.argv[1], sys.argv[2]
kms = boto3.client(
    "kms",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="local",
    aws_secret_access_key="local",
)
key = kms.create_key(Description="kms-lambda local key")["KeyMetadata"]
kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
print(key["Arn"])
