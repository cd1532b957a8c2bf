// The official Node.js AWS Encryption SDK (@aws-crypto/client-node) as a test peer
// (tests/esdk_interop.rs runs it), as a service would use it: buildClient's default commitment
// policy, a KMS keyring for KEY_ARN, no algorithm suite chosen unless a request asks.
//
// Usage: node peer.mjs KEY_ARN   (KMS is reached through AWS_ENDPOINT_URL_KMS, as the SDK reads it)
//
// One JSON request per line on stdin, one JSON answer per line on stdout:
//   {"op": "encrypt", "plaintext": b64, "context": {...}, "frame_length": n, "suite": "0x0478"?}
//       -> {"message": b64}     the SDK's default suite (0x0578, signed) unless "suite" says
//   {"op": "decrypt", "message": b64}
//       -> {"plaintext": b64, "context": {...}, "suite": "0x0578"} or {"error": "..."}
import { createInterface } from "node:readline";
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  KmsKeyringNode,
} from "@aws-crypto/client-node";

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const keyring = new KmsKeyringNode({ generatorKeyId: process.argv[2] });
const suites = {
  "0x0478": AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
};
const hex = (id) => "0x" + id.toString(16).padStart(4, "0");

async function answer(request) {
  if (request.op === "encrypt") {
    const options = { encryptionContext: request.context ?? {} };
    if (request.frame_length) options.frameLength = request.frame_length;
    if (request.suite) options.suiteId = suites[request.suite];
    const { result } = await encrypt(keyring, Buffer.from(request.plaintext, "base64"), options);
    return { message: Buffer.from(result).toString("base64") };
  }
  const { plaintext, messageHeader } = await decrypt(keyring, Buffer.from(request.message, "base64"));
  return {
    plaintext: Buffer.from(plaintext).toString("base64"),
    context: messageHeader.encryptionContext,
    suite: hex(messageHeader.suiteId),
  };
}

// One request at a time, in order.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let out;
  try {
    out = await answer(JSON.parse(line));
  } catch (e) {
    out = { error: `${e.name}: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
