//! What an operation's fields hold, in events and in answers: each type reads itself from the
//! event with a message naming the rule it broke, writes itself into the answer, and never
//! shows a secret value.
//!
//! - [`Bytes`]: bytes that are not secret (a ciphertext, a MAC), base64 both ways;
//! - [`SecretBytes`]: a plaintext, base64 both ways, wiped when dropped, shown by its length;
//! - [`Context`]: an encryption context — an object of string values, at most
//!   [`MAX_CONTEXT_BYTES`], no empty key;
//! - [`KeyId`]: a KMS key reference, checked for one of the four forms KMS takes;
//! - [`Limit`]: a size an operation holds a field to, in its `check`.

use crate::error::{Error, ErrorType};
use crate::event::base64::{decode_base64, Base64};
use crate::key::check_key_id;
use crate::secret::SecretBytes;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

/// Largest encryption context accepted: keys and values together, in UTF-8 bytes. A context
/// travels in every KMS request and lands in CloudTrail; 8 KiB is generous for non-secret
/// labels and keeps it within what KMS accepts.
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// Bytes that are not secret (a ciphertext, a MAC, a public key): standard base64 with padding
/// in events and answers. In an answer it is written piece by piece into the response, never
/// held as base64 text of its own.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(bytes)
    }
}

/// Its length: an event's bytes are the caller's business, not the logs'.
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Base64(&self.0).serialize(serializer)
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Base64(self).serialize(serializer)
    }
}

/// Reads base64 text strictly, or takes the bytes the event decoded while parsing.
struct Base64Visitor;

impl<'de> Visitor<'de> for Base64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        decode_base64(text).map_err(|why| {
            E::custom(format!(
                "not valid standard base64 (RFC 4648 with padding): {why}"
            ))
        })
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        d.deserialize_byte_buf(Base64Visitor).map(Bytes)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretBytes, D::Error> {
        // Into its wiped-on-drop wrapper at once (no copy).
        d.deserialize_byte_buf(Base64Visitor).map(SecretBytes::from)
    }
}

/// An encryption context: non-secret labels bound to a ciphertext (KMS checks them on
/// decrypt). In an event, an object of string values with no empty key, at most
/// 8,192 bytes of keys and values; absent or `null`, empty (with
/// `#[serde(default)]`). Shown by its keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Context(pub HashMap<String, String>);

impl Deref for Context {
    type Target = HashMap<String, String>;
    fn deref(&self) -> &HashMap<String, String> {
        &self.0
    }
}

impl DerefMut for Context {
    fn deref_mut(&mut self) -> &mut HashMap<String, String> {
        &mut self.0
    }
}

impl From<HashMap<String, String>> for Context {
    fn from(map: HashMap<String, String>) -> Context {
        Context(map)
    }
}

impl Context {
    /// The context, or `None` when empty: what the SDK's `set_encryption_context` takes.
    pub fn into_option(self) -> Option<HashMap<String, String>> {
        (!self.0.is_empty()).then_some(self.0)
    }

    /// Refuses keys the AWS Encryption SDK reserves for itself (beginning `aws-crypto-`), as
    /// its encrypt does: a caller's `aws-crypto-public-key` would pass for a signed message's.
    pub fn refuse_esdk_reserved(&self) -> Result<(), Error> {
        refuse_reserved_keys(&self.0)
    }
}

/// The prefix of the encryption-context keys the AWS Encryption SDK reserves for itself.
pub(crate) const ESDK_RESERVED_PREFIX: &str = "aws-crypto-";

/// Refuses encryption-context keys the ESDK reserves ([`ESDK_RESERVED_PREFIX`]), as its encrypt
/// does.
pub(crate) fn refuse_reserved_keys(context: &HashMap<String, String>) -> Result<(), Error> {
    let mut reserved: Vec<&String> = context
        .keys()
        .filter(|k| k.starts_with(ESDK_RESERVED_PREFIX))
        .collect();
    reserved.sort();
    match reserved.first() {
        None => Ok(()),
        Some(key) => Err(Error::invalid_request(format!(
            "encryption context key \"{}\" begins with \"{ESDK_RESERVED_PREFIX}\", which the AWS \
             Encryption SDK reserves for itself",
            key.escape_debug()
        ))),
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        f.debug_tuple("Context (keys)").field(&keys).finish()
    }
}

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sorted: std::collections::BTreeMap<&String, &String> = self.0.iter().collect();
        sorted.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Context, D::Error> {
        struct ContextVisitor;
        impl<'de> Visitor<'de> for ContextVisitor {
            type Value = Context;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
                let mut out = HashMap::new();
                let mut total = 0usize;
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if k.is_empty() {
                        return Err(de::Error::custom("has an empty key"));
                    }
                    total += k.len() + v.len();
                    out.insert(k, v);
                }
                if total > MAX_CONTEXT_BYTES {
                    return Err(de::Error::custom(format!(
                        "is {total} bytes (keys and values); the limit is {MAX_CONTEXT_BYTES}"
                    )));
                }
                Ok(Context(out))
            }
        }
        d.deserialize_map(ContextVisitor)
    }
}

/// A KMS key reference — key id, key ARN, `alias/NAME` or alias ARN — checked for its form
/// before KMS sees it, so a typo is answered with the forms KMS takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId(String);

impl Deref for KeyId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = Error;
    fn try_from(id: String) -> Result<KeyId, Error> {
        check_key_id(&id).map_err(Error::invalid_request)?;
        Ok(KeyId(id))
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyId, D::Error> {
        struct KeyIdVisitor;
        impl<'de> Visitor<'de> for KeyIdVisitor {
            type Value = KeyId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string: a key id, key ARN, alias/NAME or alias ARN")
            }
            fn visit_str<E: de::Error>(self, id: &str) -> Result<KeyId, E> {
                check_key_id(id).map_err(E::custom)?;
                Ok(KeyId(id.to_string()))
            }
        }
        d.deserialize_str(KeyIdVisitor)
    }
}

/// A size an operation holds a field to, in its [`check`](crate::Operation::check), and what
/// exceeding it is.
///
/// ```
/// use kms_lambda_kit::{ErrorType, Limit};
///
/// const MESSAGE: Limit = Limit { max: 4096, kind: ErrorType::PayloadTooLarge, why: "what KMS GenerateMac takes" };
/// assert!(MESSAGE.check("message", 4096).is_ok());
/// let e = MESSAGE.check("message", 4097).unwrap_err();
/// assert_eq!(e.message(), "field \"message\" is 4097 bytes; the limit is 4096 bytes (what KMS GenerateMac takes)");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Largest size, in bytes.
    pub max: usize,
    /// The error type of a larger value (e.g. `PayloadTooLarge` for a plaintext).
    pub kind: ErrorType,
    /// Why the limit is what it is, for the message.
    pub why: &'static str,
}

impl Limit {
    /// `Ok` when `len` bytes of `field` are within the limit; else its error, naming the field,
    /// the size and the limit.
    pub fn check(&self, field: &str, len: usize) -> Result<(), Error> {
        if len <= self.max {
            return Ok(());
        }
        Err(Error::new(
            self.kind,
            format!(
                "field \"{field}\" is {len} bytes; the limit is {} bytes ({})",
                self.max, self.why
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_contexts_are_shown_by_size_and_keys_never_by_value() {
        let b = Bytes(b"attack at dawn".to_vec());
        assert_eq!(format!("{b:?}"), "Bytes(14 bytes)");
        let c = Context(HashMap::from([("tenant".into(), "secret-acme".into())]));
        let shown = format!("{c:?}");
        assert!(
            shown.contains("tenant") && !shown.contains("secret"),
            "{shown}"
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"tenant": "secret-acme"})
        );
        assert_eq!(serde_json::to_value(&b).unwrap(), "YXR0YWNrIGF0IGRhd24=");
        assert_eq!(
            serde_json::to_value(SecretBytes::from(b"hi".to_vec())).unwrap(),
            "aGk="
        );
    }

    #[test]
    fn a_key_id_is_checked_for_its_form() {
        assert_eq!(&*KeyId::try_from("alias/x".to_string()).unwrap(), "alias/x");
        assert!(KeyId::try_from("my-key".to_string()).is_err());
        assert!(Context::default().into_option().is_none());
    }
}
