//! Local keys by kind: a key of each row of `keys!`, of that row's spec and usage, in a local
//! KMS — what `make invoke` and the tests name the keys by.

use crate::key::{Key, Secret};
use crate::Function;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};

/// Creates a key of `kind`'s spec and usage in `kms`, aliased `alias`; its key id and ARN.
pub async fn create(kms: &aws_sdk_kms::Client, kind: &Key, alias: &str) -> (String, String) {
    let meta = kms
        .create_key()
        .description(format!("local {} key:{}", kind.name, kind.purpose))
        .key_spec(kind.spec.clone())
        .key_usage(kind.usage.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {}: {e:?}", kind.name))
        .key_metadata
        .expect("KeyMetadata");
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(meta.key_id())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAlias {alias}: {e:?}"));
    (
        meta.key_id().to_string(),
        meta.arn().unwrap_or_default().to_string(),
    )
}

/// The plaintext `make invoke` gives `secret`: a value of its own, for local runs only.
pub fn local_value(secret: &Secret) -> String {
    format!("local {} for make invoke", secret.name)
}

/// Creates, in the local KMS at `url`, a key of each kind of `function` under its local alias
/// ([`Key::local_alias`]), and encrypts each of its secrets ([`local_value`]) with its kind's
/// key for `function`'s name, as `cargo lambda watch` runs it; the function's variables naming
/// the keys (`KMS_KEY_ID=alias/local/encryption`) and holding the secrets' ciphertexts, one per
/// line. `cargo xtask local-keys URL` prints them for `make invoke`.
pub async fn create_all(url: &str, function: &Function) -> Vec<String> {
    let keys = function.keys();
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "local"))
            .endpoint_url(url)
            .build(),
    );
    let mut variables = Vec::new();
    for key in keys {
        let (_, arn) = create(&kms, key, &key.local_alias()).await;
        eprintln!("    {} key {arn} as {}", key.name, key.local_alias());
        variables.push(format!("{}={}", key.variable, key.local_alias()));
    }
    for secret in function.secrets_table() {
        let ciphertext = encrypt_secret(
            &kms,
            secret,
            &secret.key.local_alias(),
            function.name(),
            &local_value(secret),
        )
        .await;
        eprintln!(
            "    the {} secret, encrypted with the {} key for {}",
            secret.name,
            secret.key.name,
            function.name()
        );
        variables.push(format!("{}={ciphertext}", secret.variable));
    }
    variables
}

/// The base64 ciphertext of `value`, encrypted by `kms` with `key` for the function `function`
/// (the encryption context `LambdaFunctionName`), as `aws kms encrypt` writes it: a secret's
/// variable.
pub async fn encrypt_secret(
    kms: &aws_sdk_kms::Client,
    secret: &Secret,
    key: &str,
    function: &str,
    value: &str,
) -> String {
    let out = kms
        .encrypt()
        .key_id(key)
        .plaintext(aws_sdk_kms::primitives::Blob::new(value.as_bytes()))
        .encryption_context("LambdaFunctionName", function)
        .send()
        .await
        .unwrap_or_else(|e| panic!("Encrypt the {} secret: {e:?}", secret.name));
    let blob = out.ciphertext_blob.expect("CiphertextBlob").into_inner();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob)
}
