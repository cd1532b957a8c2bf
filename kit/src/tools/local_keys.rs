//! Local keys by kind: a key of each row of `keys!`, of that row's spec and usage, in a local
//! KMS — what `make invoke` and the tests name the keys by.

use crate::key::Key;
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

/// Creates, in the local KMS at `url`, a key of each kind in `keys` under its local alias
/// ([`Key::local_alias`]); the function's key variables naming them
/// (`KMS_KEY_ID=alias/local/encryption`), one per line. `cargo xtask local-keys URL` prints
/// them for `make invoke`.
pub async fn create_all(url: &str, keys: &[&'static Key]) -> Vec<String> {
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
    variables
}
