// The Node.js peer for `make bench`: the same function as kms-lambda's encrypt path, written
// as the JS SDK v3 reports do it — the SDK imported at INIT, the client created on the first
// invoke — with a minimal Lambda Runtime API loop (what the managed nodejs runtime does).
import { KMSClient, EncryptCommand } from "@aws-sdk/client-kms";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
let client;

async function handle(event) {
  client ??= new KMSClient({});
  const out = await client.send(
    new EncryptCommand({
      KeyId: event.keyId ?? process.env.KMS_KEY_ID,
      Plaintext: Buffer.from(event.plaintext, "base64"),
      EncryptionContext: event.encryptionContext,
    }),
  );
  return { ciphertext: Buffer.from(out.CiphertextBlob).toString("base64"), keyId: out.KeyId, mode: "direct" };
}

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
