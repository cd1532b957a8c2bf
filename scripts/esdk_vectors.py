#!/usr/bin/env python3
"""Writes kit/tests/esdk-vectors/*.json: messages made by the official Python AWS Encryption SDK
(pinned in tools/requirements.txt), each with its data key, so the unit tests and the fuzz
seeds can check this function's envelope code against the ESDK's own bytes without a KMS.

Usage: .venv/bin/python scripts/esdk_vectors.py [OUTDIR]

Signed messages carry their data key too: the signature is checked with the public key in
the message, which needs no key of ours.

Each message is encrypted under a raw AES key (a static test key, not KMS); the data key is
recovered by unwrapping the message's encrypted data key with that key. The ESDK specification's
published test vectors are not available offline; these are made by the oracle the issue names.
"""
import base64
import json
import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_header
from aws_encryption_sdk.internal.structures import EncryptedData
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider, WrappingKey as RawWrappingKey

STATIC_KEY = bytes(range(32))
PROVIDER = "static-test"
KEY_ID = b"vector-key"


class StaticProvider(RawMasterKeyProvider):
    provider_id = PROVIDER

    def _get_raw_key(self, key_id):
        return RawWrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=STATIC_KEY,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def data_key_of(message, context):
    import io

    header, _ = deserialize_header(io.BytesIO(message))
    edk = header.encrypted_data_keys.pop()
    info = edk.key_provider.key_info
    iv = info[len(KEY_ID) + 8:]
    wrapped = edk.encrypted_data_key
    wrapping = WrappingKey(WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, STATIC_KEY, EncryptionKeyType.SYMMETRIC)
    return wrapping.decrypt(EncryptedData(iv=iv, ciphertext=wrapped[:-16], tag=wrapped[-16:]), header.encryption_context)


def make(name, plaintext, context, algorithm, frame_length, policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT):
    provider = StaticProvider()
    provider.add_master_key(KEY_ID)
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    message, header = client.encrypt(
        source=plaintext,
        key_provider=provider,
        encryption_context=context,
        algorithm=algorithm,
        frame_length=frame_length,
    )
    vector = {
        "name": name,
        "suite": "0x%04x" % algorithm.algorithm_id,
        "frame_length": frame_length,
        "context": header.encryption_context,
        "plaintext": base64.b64encode(plaintext).decode(),
        "message": base64.b64encode(message).decode(),
    }
    vector["data_key"] = data_key_of(message, header.encryption_context).hex()
    return vector


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "kit/tests/esdk-vectors"
    os.makedirs(out, exist_ok=True)
    text = bytes((i * 7 + 3) % 251 for i in range(10_000))
    allow = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    forbid = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    committing = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    vectors = [
        make("v2-0478-framed-4096", text, {"tenant": "acme", "doc": "42"}, committing, 4096),
        make("v2-0478-one-frame-exactly", text[:4096], {}, committing, 4096),
        make("v2-0478-empty", b"", {"k": "v"}, committing, 4096),
        make("v2-0478-non-framed", text, {"tenant": "acme"}, committing, 0),
        make("v1-0178-framed", text, {"tenant": "acme"}, Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256, 1024, forbid),
        make("v1-0114-framed", text[:3000], {}, Algorithm.AES_128_GCM_IV12_TAG16_HKDF_SHA256, 512, forbid),
        make("v1-0046-non-framed", text[:777], {"a": "b"}, Algorithm.AES_192_GCM_IV12_TAG16, 0, forbid),
        make("v2-0578-signed", text[:100], {"k": "v"}, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384, 4096, allow),
        make("v2-0578-signed-framed", text, {"tenant": "acme"}, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384, 1024),
        make("v2-0578-signed-non-framed", text[:5000], {}, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384, 0),
        make("v1-0378-signed", text, {"a": "b"}, Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, 4096, forbid),
        make("v1-0346-signed", text[:2000], {}, Algorithm.AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, 0, forbid),
        make("v1-0214-signed", text[:3000], {"x": "y"}, Algorithm.AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256, 512, forbid),
    ]
    for v in vectors:
        with open(os.path.join(out, v["name"] + ".json"), "w") as f:
            json.dump(v, f, indent=1, sort_keys=True)
            f.write("\n")
    print(f"esdk_vectors: wrote {len(vectors)} messages to {out}")


if __name__ == "__main__":
    main()
