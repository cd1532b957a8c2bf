// The Node.js peer for `make bench`: the same function as kms-lambda's — encrypt, decrypt, and
// envelopes above 4 KiB in the AWS Encryption SDK format — written as the JS SDK v3 reports do
// it: the SDK imported at INIT, the clients created on the first invoke, with a minimal Lambda
// Runtime API loop (what the managed nodejs runtime does).
//
// Lambda Managed Instances: AWS's Node.js runtime serves concurrent invocations with one worker
// thread per vCPU and async/await concurrency within each (up to 64 per vCPU by default). The
// benchmark holds the process to one vCPU, so this is one thread running
// AWS_LAMBDA_MAX_CONCURRENCY polling loops at once, sharing the handler and its clients.
import { KMS, KMSClient, EncryptCommand, DecryptCommand } from "@aws-sdk/client-kms";
import { createHmac } from "node:crypto";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
let client;
let esdk;

function kms() {
  client ??= new KMSClient({});
  return client;
}

// The Encryption SDK is loaded by the first envelope (one promise, shared by concurrent
// invocations), so the direct path's cold start is the KMS client's alone.
function envelopes() {
  esdk ??= loadEnvelopes();
  return esdk;
}

async function loadEnvelopes() {
  const { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, getClient, KmsKeyringNode } =
    await import("@aws-crypto/client-node");
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new KmsKeyringNode({
    generatorKeyId: process.env.KMS_KEY_ID,
    // The keyring calls methods (generateDataKey, decrypt): the aggregated client.
    clientProvider: getClient(KMS, {}),
  });
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
  return { encrypt, decrypt, keyring, suiteId };
}

// The webhook's signing key, an encrypted environment variable: decrypted on first use and kept
// (the Lambda console's pattern, lazily, as the npm packages for it do), never at INIT.
let signingKey;

function secret() {
  signingKey ??= kms()
    .send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(process.env.WEBHOOK_SIGNING_KEY, "base64"),
        EncryptionContext: { LambdaFunctionName: process.env.AWS_LAMBDA_FUNCTION_NAME },
      }),
    )
    .then((out) => Buffer.from(out.Plaintext))
    .catch((e) => {
      signingKey = undefined; // not kept: the next invocation tries again
      throw e;
    });
  return signingKey;
}

async function handle(event) {
  if (event.operation === "webhookSignature") {
    const key = await secret();
    const hex = createHmac("sha256", key).update(Buffer.from(event.payload, "base64")).digest("hex");
    return { signature: `sha256=${hex}` };
  }
  const keyId = event.keyId ?? process.env.KMS_KEY_ID;
  const context = event.encryptionContext;
  if (event.operation === "decrypt") {
    const blob = Buffer.from(event.ciphertext, "base64");
    if (blob[0] === 0x02) {
      const { decrypt, keyring } = await envelopes();
      const { plaintext } = await decrypt(keyring, blob);
      return { plaintext: plaintext.toString("base64"), keyId, mode: "envelope" };
    }
    const out = await kms().send(
      new DecryptCommand({ KeyId: keyId, CiphertextBlob: blob, EncryptionContext: context }),
    );
    return { plaintext: Buffer.from(out.Plaintext).toString("base64"), keyId: out.KeyId, mode: "direct" };
  }
  const plaintext = Buffer.from(event.plaintext, "base64");
  if (plaintext.length > 4096 || event.mode === "envelope") {
    const { encrypt, keyring, suiteId } = await envelopes();
    // As the Rust function writes them: committing, unsigned, 64 KiB frames.
    const { result } = await encrypt(keyring, plaintext, {
      encryptionContext: context ?? {},
      suiteId,
      frameLength: 64 * 1024,
    });
    return { ciphertext: result.toString("base64"), keyId, mode: "envelope" };
  }
  const out = await kms().send(
    new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context }),
  );
  return { ciphertext: Buffer.from(out.CiphertextBlob).toString("base64"), keyId: out.KeyId, mode: "direct" };
}

async function loop() {
  for (;;) {
    const next = await fetch(`${api}/invocation/next`);
    const id = next.headers.get("lambda-runtime-aws-request-id");
    const event = await next.json();
    try {
      const body = JSON.stringify(await handle(event));
      await fetch(`${api}/invocation/${id}/response`, { method: "POST", body });
    } catch (e) {
      const body = JSON.stringify({ errorType: e.name ?? "Error", errorMessage: String(e.message) });
      await fetch(`${api}/invocation/${id}/error`, { method: "POST", body });
    }
  }
}

const concurrency = Math.max(1, Number(process.env.AWS_LAMBDA_MAX_CONCURRENCY ?? 1));
await Promise.all(Array.from({ length: concurrency }, loop));
