#!/usr/bin/env python3
"""The official Python AWS Encryption SDK as a test peer (tests/esdk_interop.rs runs it).

Usage: esdk_peer.py KEY_ARN     (KMS is reached through AWS_ENDPOINT_URL_KMS, as the SDK reads it)

Reads one JSON request per line on stdin and answers one JSON line on stdout:
  {"op": "encrypt", "plaintext": b64, "context": {...}, "frame_length": n}
      -> {"message": b64}            the SDK's default suite (0x0578: committing, signed), under
                                     KEY_ARN; "suite": "0x0478" writes the unsigned committing
                                     one, "0x0178" message format 1, as ESDK 1.x did (no commitment)
  {"op": "decrypt", "message": b64}
      -> {"plaintext": b64, "context": {...}, "suite": "0x0478"} or {"error": "..."}
with the SDK's default commitment policy (REQUIRE_ENCRYPT_REQUIRE_DECRYPT) and a strict KMS key
provider for KEY_ARN.
"""
import base64
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy


SUITES = {
    "0x0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0x0178": Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
}


def main():
    key_arn = sys.argv[1]
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    legacy = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "encrypt":
                suite = request.get("suite")
                chosen = {} if suite is None else {"algorithm": SUITES[suite]}
                message, _ = (legacy if suite == "0x0178" else client).encrypt(
                    source=base64.b64decode(request["plaintext"]),
                    key_provider=provider,
                    encryption_context=request.get("context") or {},
                    frame_length=request["frame_length"],
                    **chosen,
                )
                answer = {"message": base64.b64encode(message).decode()}
            else:
                plaintext, header = client.decrypt(
                    source=base64.b64decode(request["message"]), key_provider=provider
                )
                answer = {
                    "plaintext": base64.b64encode(plaintext).decode(),
                    "context": header.encryption_context,
                    "suite": "0x%04x" % header.algorithm.algorithm_id,
                }
        except Exception as e:  # the test reads the error
            answer = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
