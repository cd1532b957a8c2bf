//! Where an envelope's data key comes from: KMS (`GenerateDataKey` to encrypt, `Decrypt` to
//! open, as the AWS Encryption SDK's KMS keyring does), or the optional data-key cache, like the
//! ESDK's caching materials manager (which its Rust version lacks).
//!
//! The cache is off by default. When `DATA_KEY_CACHE_MAX_AGE_SECONDS` and
//! `DATA_KEY_CACHE_MAX_MESSAGES` are both set (and optionally `DATA_KEY_CACHE_MAX_BYTES`), a
//! data key from `GenerateDataKey` seals further envelopes under the *same* requested key and
//! the *same* encryption context until it is older than the age limit, has sealed the message
//! limit, or would exceed the byte limit — the ESDK's three limits; each envelope still gets
//! its own message id, and so its own derived key. A data key decrypted by KMS is reused for
//! envelopes carrying the same encrypted data key, under the same key and context, within the
//! age and message limits. Fewer KMS calls, at the cost of a data key living longer in memory
//! (it is wiped when evicted).
//!
//! Entries are keyed by the key id *as requested* (so a pinned decrypt is never served a data
//! key KMS released for another pin) and by the canonical encryption context.

use crate::config::CacheLimits;
use crate::envelope::sign::PUBLIC_KEY;
use crate::envelope::suite::COMMITTING;
use crate::envelope::{canonical_context, DataKey, Message, KMS_PROVIDER_ID};
use crate::error::{Error, ErrorType};
use crate::kms::call::{non_empty, Kms};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Most entries kept per direction; beyond it, expired entries go first, then the oldest.
const MAX_ENTRIES: usize = 256;

/// Most KMS-encrypted data keys of one message tried on decrypt: each try is a KMS call.
pub const MAX_DATA_KEY_ATTEMPTS: usize = 10;

struct Entry<T> {
    value: T,
    created: Instant,
    uses: u64,
    bytes: u64,
}

type EncryptKey = (String, Vec<u8>); // (requested key id, canonical context)
type DecryptKey = (String, Vec<u8>, Vec<u8>); // (requested key id, encrypted data key, canonical context)

/// A data key from KMS `GenerateDataKey`.
#[derive(Clone)]
pub struct Generated {
    /// The plaintext AES-256 key (wiped on drop).
    pub key: DataKey,
    /// The same key encrypted by KMS, stored in the envelope header.
    pub encrypted: Vec<u8>,
    /// ARN of the KMS key.
    pub key_id: String,
}

/// A data key KMS decrypted from an envelope header.
#[derive(Clone)]
pub struct Decrypted {
    /// The plaintext AES-256 key (wiped on drop).
    pub key: DataKey,
    /// ARN of the KMS key.
    pub key_id: String,
}

/// The key's id and sizes, never key material: the data key is redacted ([`DataKey`]), and the
/// encrypted one is shown by its length.
impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("key", &self.key)
            .field("encrypted (bytes)", &self.encrypted.len())
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// The key's id, never key material (the data key is redacted, [`DataKey`]).
impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("key", &self.key)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// The cache; a disabled one stores nothing and always misses.
pub struct DataKeyCache {
    limits: Option<CacheLimits>,
    encrypt: Mutex<HashMap<EncryptKey, Entry<Generated>>>,
    decrypt: Mutex<HashMap<DecryptKey, Entry<Decrypted>>>,
}

impl DataKeyCache {
    /// A cache with these limits, or a disabled one for `None`.
    pub fn new(limits: Option<CacheLimits>) -> Self {
        DataKeyCache {
            limits,
            encrypt: Mutex::default(),
            decrypt: Mutex::default(),
        }
    }

    /// A data key to seal one envelope under `key_id` with `context`: a cached one within the
    /// limits, or a fresh one from KMS `GenerateDataKey` (then cached, if caching is on). A
    /// signed message's context (with its own public key) is never cached: as in the ESDK's
    /// caching materials manager, its data key serves that message alone.
    pub async fn for_encrypt(
        &self,
        kms: &Kms,
        key_id: &str,
        context: &HashMap<String, String>,
        plaintext_len: usize,
    ) -> Result<Generated, Error> {
        let canonical = canonical_context(context);
        let len = plaintext_len as u64;
        let cacheable = !context.contains_key(PUBLIC_KEY);
        if let Some(cached) = cacheable
            .then(|| self.take_for_encrypt(key_id, &canonical, len, Instant::now()))
            .flatten()
        {
            return Ok(cached);
        }
        const OP: &str = "GenerateDataKey";
        let request = kms
            .client()
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context((!context.is_empty()).then(|| context.clone()));
        let out = kms.call(request).await?;
        // Straight into its wiped-on-drop wrapper (no copy).
        let key = DataKey::new(non_empty(
            out.plaintext.map(Blob::into_inner),
            OP,
            "Plaintext",
        )?);
        let wanted = COMMITTING.data_key_len();
        if key.bytes().len() != wanted {
            // An AES_256 data key was asked for: another length is KMS's answer at fault.
            return Err(Error::new(
                ErrorType::KmsInvalidResponse,
                format!(
                    "KMS {OP} returned a {}-byte data key where AES_256 takes {wanted}; check \
                     what answers at the KMS endpoint",
                    key.bytes().len()
                ),
            ));
        }
        let fresh = Generated {
            key,
            encrypted: non_empty(
                out.ciphertext_blob.map(Blob::into_inner),
                OP,
                "CiphertextBlob",
            )?,
            key_id: non_empty(out.key_id, OP, "KeyId")?,
        };
        if cacheable {
            self.put_for_encrypt(key_id, &canonical, &fresh, len, Instant::now());
        }
        Ok(fresh)
    }

    /// The data key of an envelope, as the ESDK's KMS keyring finds it: each data key the
    /// message carries for `aws-kms` is tried in order — only the one made by `pinned` when
    /// `pinned` is a key ARN; any otherwise, KMS refusing those of other keys — with KMS
    /// `Decrypt` pinned to `pinned` and bound to the message's stored encryption context (or
    /// from the cache). KMS's answer must name the key the message says made it. At most
    /// [`MAX_DATA_KEY_ATTEMPTS`] are tried.
    ///
    /// Only a data key KMS cannot open (`InvalidCiphertext`: made by another key, altered)
    /// sends it on to the next. Any other failure — access denied, the key disabled or missing,
    /// throttling, the deadline — is about the pinned key or KMS, not about this data key: it is
    /// the answer at once, naming the data key, rather than hidden behind the next one's
    /// `InvalidCiphertext`.
    pub async fn for_message(
        &self,
        kms: &Kms,
        pinned: &str,
        message: &Message<'_>,
    ) -> Result<Decrypted, Error> {
        let pinned_arn = pinned.contains(":key/").then_some(pinned);
        let candidates: Vec<(&[u8], &str)> = message
            .data_keys
            .iter()
            .filter(|k| k.provider_id == KMS_PROVIDER_ID)
            .filter_map(|k| Some((k.ciphertext, std::str::from_utf8(k.provider_info).ok()?)))
            .filter(|(_, arn)| arn.starts_with("arn:") && arn.contains(":kms:"))
            .filter(|(_, arn)| pinned_arn.is_none_or(|p| p == *arn))
            .take(MAX_DATA_KEY_ATTEMPTS)
            .collect();
        if candidates.is_empty() {
            return Err(Error::new(
                ErrorType::InvalidCiphertext,
                format!(
                    "the envelope carries no data key encrypted by KMS key {pinned} (of its {} \
                     data keys, none is an aws-kms key for it)",
                    message.data_keys.len()
                ),
            ));
        }
        let context: HashMap<String, String> = message.context.clone().into_iter().collect();
        let canonical = canonical_context(&context);
        let wanted = message.suite.data_key_len();
        let tried = candidates.len();
        let mut last = None;
        for (i, (encrypted, arn)) in candidates.into_iter().enumerate() {
            match self.one(kms, pinned, encrypted, &context, &canonical).await {
                Ok(d) if d.key.bytes().len() != wanted => {
                    // KMS decrypted what the message carries, faithfully: a genuine message's
                    // data key has its suite's length, so the message is at fault, not KMS.
                    last = Some(Error::new(
                        ErrorType::InvalidCiphertext,
                        format!(
                            "the envelope's data key decrypts to {} bytes, where its suite {} \
                             takes {wanted}: it was not made by an AWS Encryption SDK",
                            d.key.bytes().len(),
                            message.suite.name
                        ),
                    ))
                }
                Ok(d) if d.key_id == arn => return Ok(d),
                Ok(d) => {
                    last = Some(Error::new(
                        ErrorType::InvalidCiphertext,
                        format!(
                            "the envelope says its data key was encrypted by {arn}, but KMS \
                             decrypted it with {}",
                            d.key_id
                        ),
                    ))
                }
                Err(e) if e.kind() == ErrorType::InvalidCiphertext => last = Some(e),
                Err(e) if tried == 1 => return Err(e),
                Err(e) => {
                    return Err(Error::new(
                        e.kind(),
                        format!("data key {} of {tried}: {}", i + 1, e.message()),
                    ))
                }
            }
        }
        Err(last.expect("at least one candidate was tried"))
    }

    async fn one(
        &self,
        kms: &Kms,
        pinned: &str,
        encrypted_key: &[u8],
        context: &HashMap<String, String>,
        canonical: &[u8],
    ) -> Result<Decrypted, Error> {
        if let Some(cached) =
            self.take_for_decrypt(pinned, encrypted_key, canonical, Instant::now())
        {
            return Ok(cached);
        }
        const OP: &str = "Decrypt";
        let request = kms
            .client()
            .decrypt()
            .key_id(pinned)
            .ciphertext_blob(Blob::new(encrypted_key))
            .set_encryption_context((!context.is_empty()).then(|| context.clone()));
        let out = kms.call(request).await?;
        let fresh = Decrypted {
            key: DataKey::new(non_empty(
                out.plaintext.map(Blob::into_inner),
                OP,
                "Plaintext",
            )?),
            key_id: non_empty(out.key_id, OP, "KeyId")?,
        };
        self.put_for_decrypt(pinned, encrypted_key, canonical, &fresh, Instant::now());
        Ok(fresh)
    }

    /// A cached data key for one more message of `bytes` bytes under `key_id` and `context`.
    fn take_for_encrypt(
        &self,
        key_id: &str,
        context: &[u8],
        bytes: u64,
        now: Instant,
    ) -> Option<Generated> {
        let limits = self.limits?;
        take(
            &self.encrypt,
            &(key_id.to_string(), context.to_vec()),
            limits,
            bytes,
            now,
        )
    }

    /// Remembers a freshly generated data key, counted as used once.
    fn put_for_encrypt(
        &self,
        key_id: &str,
        context: &[u8],
        value: &Generated,
        bytes: u64,
        now: Instant,
    ) {
        if let Some(limits) = self.limits {
            put(
                &self.encrypt,
                (key_id.to_string(), context.to_vec()),
                value.clone(),
                limits,
                bytes,
                now,
            );
        }
    }

    /// The decrypted data key for `encrypted_key`, if cached and within the limits.
    fn take_for_decrypt(
        &self,
        key_id: &str,
        encrypted_key: &[u8],
        context: &[u8],
        now: Instant,
    ) -> Option<Decrypted> {
        let limits = self.limits?;
        take(
            &self.decrypt,
            &(key_id.to_string(), encrypted_key.to_vec(), context.to_vec()),
            limits,
            0,
            now,
        )
    }

    /// Remembers a data key KMS decrypted, counted as used once.
    fn put_for_decrypt(
        &self,
        key_id: &str,
        encrypted_key: &[u8],
        context: &[u8],
        value: &Decrypted,
        now: Instant,
    ) {
        if let Some(limits) = self.limits {
            let key = (key_id.to_string(), encrypted_key.to_vec(), context.to_vec());
            put(&self.decrypt, key, value.clone(), limits, 0, now);
        }
    }

    /// Drops (and wipes) every cached key.
    pub fn clear(&self) {
        lock(&self.encrypt).clear();
        lock(&self.decrypt).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the entry may serve one more message of `bytes` plaintext bytes.
fn usable<T>(e: &Entry<T>, limits: CacheLimits, bytes: u64, now: Instant) -> bool {
    now.saturating_duration_since(e.created) < limits.max_age
        && e.uses < limits.max_messages
        && e.bytes.saturating_add(bytes) <= limits.max_bytes
}

fn take<K, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: &K,
    limits: CacheLimits,
    bytes: u64,
    now: Instant,
) -> Option<T>
where
    K: std::hash::Hash + Eq,
    T: Clone,
{
    let mut map = lock(map);
    match map.get_mut(key) {
        Some(e) if usable(e, limits, bytes, now) => {
            e.uses += 1;
            e.bytes += bytes;
            Some(e.value.clone())
        }
        Some(_) => {
            map.remove(key);
            None
        }
        None => None,
    }
}

fn put<K, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: K,
    value: T,
    limits: CacheLimits,
    bytes: u64,
    now: Instant,
) where
    K: std::hash::Hash + Eq + Clone,
{
    if limits.max_messages <= 1 || bytes > limits.max_bytes {
        return; // never reused: usable once, or this message alone exceeds the byte limit
    }
    let mut map = lock(map);
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, e| usable(e, limits, 0, now));
    }
    if map.len() >= MAX_ENTRIES {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.created)
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.insert(
        key,
        Entry {
            value,
            created: now,
            uses: 1,
            bytes,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn generated(tag: u8) -> Generated {
        Generated {
            key: DataKey::new(vec![tag; 32]),
            encrypted: vec![tag],
            key_id: format!("arn:{tag}"),
        }
    }

    fn cache(age_s: u64, messages: u64) -> DataKeyCache {
        DataKeyCache::new(Some(CacheLimits {
            max_age: Duration::from_secs(age_s),
            max_messages: messages,
            max_bytes: u64::MAX,
        }))
    }

    #[test]
    fn a_disabled_cache_always_misses() {
        let c = DataKeyCache::new(None);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), 10, now);
        assert!(c.take_for_encrypt("k", b"ctx", 10, now).is_none());
    }

    #[test]
    fn a_key_is_reused_up_to_the_message_limit_then_dropped() {
        let c = cache(60, 3);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), 10, now); // use 1
        assert_eq!(
            c.take_for_encrypt("k", b"ctx", 10, now).unwrap().encrypted,
            vec![1]
        ); // use 2
        assert!(c.take_for_encrypt("k", b"ctx", 10, now).is_some()); // use 3
        assert!(
            c.take_for_encrypt("k", b"ctx", 10, now).is_none(),
            "a fourth message needs a new key"
        );
    }

    #[test]
    fn a_key_is_not_used_once_older_than_the_age_limit() {
        let c = cache(10, 100);
        let t0 = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), 10, t0);
        assert!(c
            .take_for_encrypt("k", b"ctx", 10, t0 + Duration::from_secs(9))
            .is_some());
        assert!(c
            .take_for_encrypt("k", b"ctx", 10, t0 + Duration::from_secs(10))
            .is_none());
    }

    #[test]
    fn a_key_is_only_reused_for_the_same_key_id_and_context() {
        let c = cache(60, 100);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx-a", &generated(1), 10, now);
        assert!(c.take_for_encrypt("k", b"ctx-b", 10, now).is_none());
        assert!(c.take_for_encrypt("other", b"ctx-a", 10, now).is_none());
        c.put_for_decrypt(
            "k",
            b"edk",
            b"ctx",
            &Decrypted {
                key: DataKey::new(vec![2; 32]),
                key_id: "arn".into(),
            },
            now,
        );
        assert!(c.take_for_decrypt("k", b"edk", b"ctx", now).is_some());
        assert!(c
            .take_for_decrypt("pinned-elsewhere", b"edk", b"ctx", now)
            .is_none());
        assert!(c.take_for_decrypt("k", b"edk", b"other", now).is_none());
    }

    #[test]
    fn a_key_seals_at_most_the_byte_limit_in_all() {
        let c = DataKeyCache::new(Some(CacheLimits {
            max_age: Duration::from_secs(60),
            max_messages: 100,
            max_bytes: 25,
        }));
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), 10, now); // 10 bytes
        assert!(c.take_for_encrypt("k", b"ctx", 10, now).is_some()); // 20
        assert!(
            c.take_for_encrypt("k", b"ctx", 10, now).is_none(),
            "30 bytes would pass the limit"
        );
        c.put_for_encrypt("k", b"big", &generated(2), 26, now);
        assert!(
            c.take_for_encrypt("k", b"big", 0, now).is_none(),
            "a message over the limit on its own is never cached"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = cache(60, 100);
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES + 50) {
            c.put_for_encrypt(
                "k",
                i.to_string().as_bytes(),
                &generated(1),
                10,
                now + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(lock(&c.encrypt).len(), MAX_ENTRIES);
        assert!(
            c.take_for_encrypt("k", b"0", 10, now).is_none(),
            "the oldest went first"
        );
        c.clear();
        assert!(lock(&c.encrypt).is_empty());
    }
}
