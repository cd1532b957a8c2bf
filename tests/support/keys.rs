//! Local keys by kind: a key of each row of `keys!` with that row's spec and usage, in a local
//! KMS. Shared by the test kit and `examples/local-keys.rs` (what `make invoke` runs).

use kms_lambda::kit::Key;

/// Creates a key of `kind`'s spec and usage, aliased `alias`; its key id and ARN.
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
