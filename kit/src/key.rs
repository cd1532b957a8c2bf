//! Kinds of KMS key and the secrets they encrypt, declared like operations, and the syntax of a
//! key reference.
//!
//! An operation names the kind of key it uses ([`Operation::KEY`](super::operation::Operation)),
//! a row of the `keys!` table in `src/ops/mod.rs`. That row is all a new kind of key takes:
//!
//! - start-up reads and checks its default key from the row's variable ([`Config`](super::config::Config));
//! - an operation's calls default to that key ([`Ctx::key_id`](super::operation::Ctx::key_id)),
//!   and a key KMS refuses for the operation is answered with advice naming the kind it needs;
//! - `make template` writes the key, its alias, its outputs, the variable and the role's
//!   statement for it into `template.yaml` (each action on exactly the keys of the operations
//!   that call it), and a function's template test fails until the template says so;
//! - the tests and `make invoke` create a local key of the row's spec and usage, aliased
//!   [`Key::local_alias`], which is how the sample events name it.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use std::fmt;

/// One kind of key: a row of `keys!`.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Key {
    /// Its name in the table, in `SCREAMING_SNAKE_CASE` (`ENCRYPTION`).
    pub name: &'static str,
    /// The environment variable that holds its default key (`KMS_KEY_ID`).
    pub variable: &'static str,
    /// What KMS makes (`SYMMETRIC_DEFAULT`, `HMAC_256`, `RSA_2048`, …).
    pub spec: KeySpec,
    /// What KMS lets it do (`ENCRYPT_DECRYPT`, `GENERATE_VERIFY_MAC`, `SIGN_VERIFY`).
    pub usage: KeyUsageType,
    /// What it is for: the row's doc comment (also the key's description in `template.yaml`).
    pub purpose: &'static str,
}

impl Key {
    /// A kind of key (what `keys!` writes).
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        variable: &'static str,
        spec: KeySpec,
        usage: KeyUsageType,
        purpose: &'static str,
    ) -> Key {
        Key {
            name,
            variable,
            spec,
            usage,
            purpose,
        }
    }

    /// `ENCRYPTION` → `Encryption`, `WEBHOOK_MAC` → `WebhookMac`: the prefix of its resources
    /// and outputs in `template.yaml`.
    pub fn pascal(&self) -> String {
        pascal(self.name)
    }

    /// `WEBHOOK_MAC` → `webhook-mac`: its alias's suffix.
    pub fn kebab(&self) -> String {
        self.name.to_ascii_lowercase().replace('_', "-")
    }

    /// The alias of the local key `make invoke` and the tests create for this kind, and by which
    /// the sample events name it: `alias/local/encryption`.
    pub fn local_alias(&self) -> String {
        format!("alias/local/{}", self.kebab())
    }

    /// Whether KMS can rotate keys of this kind automatically (symmetric encryption keys only).
    pub fn rotates(&self) -> bool {
        self.spec == KeySpec::SymmetricDefault && self.usage == KeyUsageType::EncryptDecrypt
    }
}

/// `SCREAMING_SNAKE` → `ScreamingSnake`.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// `a key of spec HMAC_256 and usage GENERATE_VERIFY_MAC (the WEBHOOK_MAC key, KMS_MAC_KEY_ID)`:
/// what an operation needs, in an error message.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a key of spec {} and usage {} (the {} key, {})",
            self.spec.as_str(),
            self.usage.as_str(),
            self.name,
            self.variable
        )
    }
}

/// Declares the kinds of key, each a `pub static` [`Key`], and `KEYS`, the table of them:
///
/// ```
/// kms_lambda_kit::keys! {
///     /// Encrypts and decrypts payloads.
///     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
///     /// Signs webhooks.
///     WEBHOOK_MAC: "KMS_MAC_KEY_ID", Hmac256, GenerateVerifyMac;
/// }
/// assert_eq!(KEYS.len(), 2);
/// assert_eq!(WEBHOOK_MAC.local_alias(), "alias/local/webhook-mac");
/// ```
///
/// The spec and usage are the SDK's `KeySpec` and `KeyUsageType` variants, so a typo does not
/// compile. The doc comment says what the kind is for: it becomes the key's description in
/// `template.yaml`.
#[macro_export]
macro_rules! keys {
    ($($(#[doc = $doc:literal])+ $name:ident: $variable:literal, $spec:ident, $usage:ident;)+) => {
        $(
            $(#[doc = $doc])+
            pub static $name: $crate::Key = $crate::Key::new(
                stringify!($name),
                $variable,
                $crate::aws_sdk_kms::types::KeySpec::$spec,
                $crate::aws_sdk_kms::types::KeyUsageType::$usage,
                concat!($($doc),+),
            );
        )+

        /// Every kind of key the operations use, in the order `template.yaml` lists them.
        pub static KEYS: &[&$crate::Key] = &[$(&$name),+];
    };
}

/// A secret a function keeps in an environment variable, encrypted client-side with a KMS key
/// of one kind under the encryption context `{"LambdaFunctionName": <the function's name>}` (as
/// Lambda's console encryption helpers do): a row of `secrets!`. An operation asks for it with
/// [`Ctx::secret`](crate::Ctx::secret); the kit decrypts it on the first ask in the sandbox,
/// never in INIT.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Secret {
    /// Its name in the table, in `SCREAMING_SNAKE_CASE` (`WEBHOOK_SIGNING_KEY`).
    pub name: &'static str,
    /// The environment variable that holds its ciphertext, base64 (`WEBHOOK_SIGNING_KEY`).
    pub variable: &'static str,
    /// The kind of key that encrypted it: a row of `keys!`. The role may decrypt with that
    /// kind's key only under this function's name (`make template` writes the condition).
    pub key: &'static Key,
    /// What it is for: the row's doc comment.
    pub purpose: &'static str,
}

impl Secret {
    /// A secret (what `secrets!` writes).
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        variable: &'static str,
        key: &'static Key,
        purpose: &'static str,
    ) -> Secret {
        Secret {
            name,
            variable,
            key,
            purpose,
        }
    }

    /// `WEBHOOK_SIGNING_KEY` → `WebhookSigningKey`: the prefix of its parameter in
    /// `template.yaml`.
    pub fn pascal(&self) -> String {
        pascal(self.name)
    }
}

/// Declares the secrets, each a `pub static` [`Secret`], and `SECRETS`, the table of them (it
/// may be empty):
///
/// ```
/// kms_lambda_kit::keys! {
///     /// Encrypts the function's secrets, which only this function may decrypt.
///     ENV_SECRETS: "KMS_ENV_SECRETS_KEY_ID", SymmetricDefault, EncryptDecrypt;
/// }
/// kms_lambda_kit::secrets! {
///     /// Signs webhook payloads.
///     WEBHOOK_SIGNING_KEY: "WEBHOOK_SIGNING_KEY", ENV_SECRETS;
/// }
/// assert_eq!(SECRETS[0].variable, "WEBHOOK_SIGNING_KEY");
/// assert_eq!(WEBHOOK_SIGNING_KEY.key.name, "ENV_SECRETS");
/// ```
///
/// From it the kit checks at start-up that each variable holds a base64 KMS ciphertext (or the
/// function refuses to start, naming it), and `make template` writes into `template.yaml` its
/// variable (from a `NoEcho` parameter) and the role's permission to decrypt it — `kms:Decrypt`
/// on its kind's key, only with the encryption context of this function's name.
#[macro_export]
macro_rules! secrets {
    () => {
        /// The function's secrets: none.
        pub static SECRETS: &[&$crate::Secret] = &[];
    };
    ($($(#[doc = $doc:literal])+ $name:ident: $variable:literal, $key:ident;)+) => {
        $(
            $(#[doc = $doc])+
            pub static $name: $crate::Secret =
                $crate::Secret::new(stringify!($name), $variable, &$key, concat!($($doc),+));
        )+

        /// The function's secrets, in the order `template.yaml` lists them.
        pub static SECRETS: &[&$crate::Secret] = &[$(&$name),+];
    };
}

/// Checks that `id` has one of the four forms KMS accepts for a key: key id (a UUID or a
/// multi-Region `mrk-` id), key ARN, `alias/NAME`, or alias ARN.
///
/// The check is syntactic only (no I/O): it catches typos and pasted whitespace before KMS
/// does, with a message that says which form was expected.
pub fn check_key_id(id: &str) -> Result<(), String> {
    const FORMS: &str = "expected a key id (UUID or mrk-…), a key ARN, alias/NAME or an alias ARN";
    if id.is_empty() || id.len() > 2048 {
        return Err(format!("must be 1 to 2048 characters; {FORMS}"));
    }
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:PARTITION:kms:REGION:ACCOUNT:key/ID | alias/NAME
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let ok = matches!(parts.as_slice(), [partition, "kms", region, account, resource]
            if is_partition(partition)
                && !region.is_empty()
                && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (resource.strip_prefix("key/").is_some_and(is_bare_key_id)
                    || resource.strip_prefix("alias/").is_some_and(is_alias_name)));
        return if ok {
            Ok(())
        } else {
            Err(format!("malformed ARN; {FORMS}"))
        };
    }
    if let Some(name) = id.strip_prefix("alias/") {
        return if is_alias_name(name) {
            Ok(())
        } else {
            Err(format!(
                "alias names use only letters, digits, '/', '_' and '-' (at most 250); {FORMS}"
            ))
        };
    }
    if is_bare_key_id(id) {
        Ok(())
    } else {
        Err(format!("not a key id; {FORMS}"))
    }
}

fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|s| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
}

fn is_alias_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 250
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
}

fn is_bare_key_id(id: &str) -> bool {
    if let Some(hex) = id.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Kinds of key for the kit's own unit tests (a copy's rows are in `ops::KEYS`).
#[cfg(test)]
pub(crate) mod test_kinds {
    use super::{Key, KeySpec, KeyUsageType};

    /// A symmetric encrypt/decrypt kind of key, `KMS_KEY_ID`, for tests of the kit alone (the
    /// copy's own rows are in `ops::KEYS`).
    pub static DATA: Key = Key {
        name: "DATA",
        variable: "KMS_KEY_ID",
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsageType::EncryptDecrypt,
        purpose: "",
    };

    /// An HMAC kind of key, `KMS_MAC_KEY_ID`: a second kind, for what differs between kinds.
    pub static MAC: Key = Key {
        name: "MAC",
        variable: "KMS_MAC_KEY_ID",
        spec: KeySpec::Hmac256,
        usage: KeyUsageType::GenerateVerifyMac,
        purpose: "",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    static WEBHOOK_MAC: Key = Key {
        name: "WEBHOOK_MAC",
        variable: "KMS_MAC_KEY_ID",
        spec: KeySpec::Hmac256,
        usage: KeyUsageType::GenerateVerifyMac,
        purpose: " Signs webhooks.",
    };

    #[test]
    fn a_kind_has_its_template_prefix_alias_and_advice() {
        assert_eq!(WEBHOOK_MAC.pascal(), "WebhookMac");
        assert_eq!(WEBHOOK_MAC.kebab(), "webhook-mac");
        assert_eq!(WEBHOOK_MAC.local_alias(), "alias/local/webhook-mac");
        assert!(check_key_id(&WEBHOOK_MAC.local_alias()).is_ok());
        assert!(!WEBHOOK_MAC.rotates());
        assert_eq!(
            WEBHOOK_MAC.to_string(),
            "a key of spec HMAC_256 and usage GENERATE_VERIFY_MAC (the WEBHOOK_MAC key, \
             KMS_MAC_KEY_ID)"
        );
    }

    #[test]
    fn every_key_form_kms_accepts_is_accepted() {
        for id in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/my-app/payments_key",
            "arn:aws:kms:eu-west-1:111122223333:alias/ExampleAlias",
        ] {
            assert_eq!(check_key_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn typos_in_key_ids_are_caught_before_kms_sees_them() {
        for id in [
            "1234abcd-12ab-34cd-56ef-1234567890a",  // one digit short
            "1234abcd-12ab-34cd-56ef-1234567890ag", // not hex
            "alias/",
            "alias/has space",
            "my-alias", // alias without the alias/ prefix
            "arn:aws:kms:us-east-2:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab", // 11-digit account
            "arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:111122223333:secret/x",
            "arn:aws:kms:us-east-2:111122223333:key/",
        ] {
            assert!(check_key_id(id).is_err(), "{id} should be rejected");
        }
    }
}
