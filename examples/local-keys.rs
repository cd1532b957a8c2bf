//! `cargo run --example local-keys -- http://127.0.0.1:4599`: creates in a local KMS a key of
//! each kind in the key table (`keys!` in `src/ops/mod.rs`), of its spec and usage, under its
//! local alias (`alias/local/encryption`, as the sample events name it), and prints the
//! function's key variables (`KMS_KEY_ID=alias/local/encryption`). `make invoke` runs it.

#[path = "../tests/support/keys.rs"]
mod keys;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use kms_lambda::ops::KEYS;

#[tokio::main]
async fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: local-keys KMS_URL");
        std::process::exit(2);
    };
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "local"))
            .endpoint_url(url)
            .build(),
    );
    for key in KEYS {
        let (_, arn) = keys::create(&kms, key, &key.local_alias()).await;
        eprintln!("    {} key {arn} as {}", key.name, key.local_alias());
        println!("{}={}", key.variable, key.local_alias());
    }
}
