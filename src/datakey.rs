//! Where an envelope's data key comes from: KMS (`GenerateDataKey` to encrypt, `Decrypt` to
//! open), or the optional data-key cache, like the AWS Encryption SDK's caching CMM (which its
//! Rust version lacks).
//!
//! The cache is off by default. When `DATA_KEY_CACHE_MAX_AGE_SECONDS` and `DATA_KEY_CACHE_MAX_MESSAGES` are
//! both set, a data key from `GenerateDataKey` is reused for further envelopes under the *same*
//! requested key and the *same* encryption context, until it is older than the age limit or has
//! sealed the message limit; a data key decrypted by KMS is reused for envelopes carrying the
//! same encrypted data key, under the same key and context, within the same limits. Fewer KMS
//! calls, at the cost of a data key living longer in memory (it is wiped when evicted).
//!
//! Entries are keyed by the key id *as requested* (so a pinned decrypt is never served a data
//! key KMS released for another pin) and by the canonical encryption context.

use crate::envelope::{canonical_context, DataKey};
use crate::error::Error;
use crate::kms::{non_empty, Kms};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries kept per direction; beyond it, expired entries go first, then the oldest.
const MAX_ENTRIES: usize = 256;

/// The two limits; a cache exists only when both are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// A cached data key is not used once this old.
    pub max_age: Duration,
    /// A cached data key is used for at most this many messages (first use included).
    pub max_messages: u64,
}

struct Entry<T> {
    value: T,
    created: Instant,
    uses: u64,
}

type EncryptKey = (String, Vec<u8>); // (requested key id, canonical context)
type DecryptKey = (String, Vec<u8>, Vec<u8>); // (requested key id, encrypted data key, canonical context)

/// A data key from KMS `GenerateDataKey`.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The plaintext AES-256 key (wiped on drop).
    pub key: DataKey,
    /// The same key encrypted by KMS, stored in the envelope header.
    pub encrypted: Vec<u8>,
    /// ARN of the KMS key.
    pub key_id: String,
}

/// A data key KMS decrypted from an envelope header.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The plaintext AES-256 key (wiped on drop).
    pub key: DataKey,
    /// ARN of the KMS key.
    pub key_id: String,
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
    /// limits, or a fresh one from KMS `GenerateDataKey` (then cached, if caching is on).
    pub async fn for_encrypt(
        &self,
        kms: &Kms,
        key_id: &str,
        context: &HashMap<String, String>,
    ) -> Result<Generated, Error> {
        let canonical = canonical_context(context);
        if let Some(cached) = self.take_for_encrypt(key_id, &canonical, Instant::now()) {
            return Ok(cached);
        }
        const OP: &str = "GenerateDataKey";
        let request = kms
            .client()
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context((!context.is_empty()).then(|| context.clone()))
            .send();
        let out = kms.call(OP, key_id, request).await?;
        let fresh = Generated {
            // Straight into its wiped-on-drop wrapper (no copy).
            key: DataKey::new(non_empty(
                out.plaintext.map(Blob::into_inner),
                OP,
                "Plaintext",
            )?),
            encrypted: non_empty(
                out.ciphertext_blob.map(Blob::into_inner),
                OP,
                "CiphertextBlob",
            )?,
            key_id: non_empty(out.key_id, OP, "KeyId")?,
        };
        self.put_for_encrypt(key_id, &canonical, &fresh, Instant::now());
        Ok(fresh)
    }

    /// The data key of an envelope: cached within the limits, or decrypted by KMS `Decrypt`,
    /// pinned to `key_id` and bound to `context` (then cached, if caching is on).
    pub async fn for_decrypt(
        &self,
        kms: &Kms,
        key_id: &str,
        encrypted_key: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Decrypted, Error> {
        let canonical = canonical_context(context);
        if let Some(cached) =
            self.take_for_decrypt(key_id, encrypted_key, &canonical, Instant::now())
        {
            return Ok(cached);
        }
        const OP: &str = "Decrypt";
        let request = kms
            .client()
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(encrypted_key))
            .set_encryption_context((!context.is_empty()).then(|| context.clone()))
            .send();
        let out = kms.call(OP, key_id, request).await?;
        let fresh = Decrypted {
            key: DataKey::new(non_empty(
                out.plaintext.map(Blob::into_inner),
                OP,
                "Plaintext",
            )?),
            key_id: non_empty(out.key_id, OP, "KeyId")?,
        };
        self.put_for_decrypt(key_id, encrypted_key, &canonical, &fresh, Instant::now());
        Ok(fresh)
    }

    /// A data key for one more envelope under `key_id` and `context`, if a usable one is cached.
    fn take_for_encrypt(&self, key_id: &str, context: &[u8], now: Instant) -> Option<Generated> {
        let limits = self.limits?;
        take(
            &self.encrypt,
            &(key_id.to_string(), context.to_vec()),
            limits,
            now,
        )
    }

    /// Remembers a freshly generated data key, counted as used once.
    fn put_for_encrypt(&self, key_id: &str, context: &[u8], value: &Generated, now: Instant) {
        if let Some(limits) = self.limits {
            put(
                &self.encrypt,
                (key_id.to_string(), context.to_vec()),
                value.clone(),
                limits,
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
            put(&self.decrypt, key, value.clone(), limits, now);
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

fn usable<T>(e: &Entry<T>, limits: CacheLimits, now: Instant) -> bool {
    now.saturating_duration_since(e.created) < limits.max_age && e.uses < limits.max_messages
}

fn take<K, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: &K,
    limits: CacheLimits,
    now: Instant,
) -> Option<T>
where
    K: std::hash::Hash + Eq,
    T: Clone,
{
    let mut map = lock(map);
    match map.get_mut(key) {
        Some(e) if usable(e, limits, now) => {
            e.uses += 1;
            Some(e.value.clone())
        }
        Some(_) => {
            map.remove(key);
            None
        }
        None => None,
    }
}

fn put<K, T>(map: &Mutex<HashMap<K, Entry<T>>>, key: K, value: T, limits: CacheLimits, now: Instant)
where
    K: std::hash::Hash + Eq + Clone,
{
    if limits.max_messages <= 1 {
        return; // a key usable once is never reused
    }
    let mut map = lock(map);
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, e| usable(e, limits, now));
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
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }))
    }

    #[test]
    fn a_disabled_cache_always_misses() {
        let c = DataKeyCache::new(None);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), now);
        assert!(c.take_for_encrypt("k", b"ctx", now).is_none());
    }

    #[test]
    fn a_key_is_reused_up_to_the_message_limit_then_dropped() {
        let c = cache(60, 3);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), now); // use 1
        assert_eq!(
            c.take_for_encrypt("k", b"ctx", now).unwrap().encrypted,
            vec![1]
        ); // use 2
        assert!(c.take_for_encrypt("k", b"ctx", now).is_some()); // use 3
        assert!(
            c.take_for_encrypt("k", b"ctx", now).is_none(),
            "a fourth message needs a new key"
        );
    }

    #[test]
    fn a_key_is_not_used_once_older_than_the_age_limit() {
        let c = cache(10, 100);
        let t0 = Instant::now();
        c.put_for_encrypt("k", b"ctx", &generated(1), t0);
        assert!(c
            .take_for_encrypt("k", b"ctx", t0 + Duration::from_secs(9))
            .is_some());
        assert!(c
            .take_for_encrypt("k", b"ctx", t0 + Duration::from_secs(10))
            .is_none());
    }

    #[test]
    fn a_key_is_only_reused_for_the_same_key_id_and_context() {
        let c = cache(60, 100);
        let now = Instant::now();
        c.put_for_encrypt("k", b"ctx-a", &generated(1), now);
        assert!(c.take_for_encrypt("k", b"ctx-b", now).is_none());
        assert!(c.take_for_encrypt("other", b"ctx-a", now).is_none());
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
    fn the_cache_stays_bounded() {
        let c = cache(60, 100);
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES + 50) {
            c.put_for_encrypt(
                "k",
                i.to_string().as_bytes(),
                &generated(1),
                now + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(lock(&c.encrypt).len(), MAX_ENTRIES);
        assert!(
            c.take_for_encrypt("k", b"0", now).is_none(),
            "the oldest went first"
        );
        c.clear();
        assert!(lock(&c.encrypt).is_empty());
    }
}
