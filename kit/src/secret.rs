//! Plaintext buffers that are wiped when dropped, at the speed of `memset`.
//!
//! A decrypted payload should not linger in freed memory. `zeroize::Zeroizing` does that with a
//! volatile write per byte, which at megabyte sizes costs a sizeable part of a whole envelope
//! decrypt (measured in kms-lambda's docs/envelope.md, "Throughput"). glibc's `explicit_bzero`
//! is a `memset` the compiler is not allowed to remove, an order of magnitude faster. Other C
//! libraries get `zeroize`.

use std::ops::{Deref, DerefMut};

/// Bytes wiped (their whole allocation) when dropped. Never printed: `Debug` shows the length.
#[derive(Default, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// `len` zero bytes (fresh pages when large: nothing to wipe yet, nothing written).
    pub fn zeroed(len: usize) -> SecretBytes {
        SecretBytes(vec![0; len])
    }

    /// Overwrites every byte of the allocation with zeros; the length stays.
    pub fn wipe(&mut self) {
        wipe_vec(&mut self.0);
    }

    /// The bytes, handed on unwiped to an owner that is not secret (a ciphertext the event
    /// carried, decoded while parsing before anyone knew what it was).
    pub(crate) fn into_public(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Overwrites every byte of `v`'s allocation with zeros; the length stays.
pub(crate) fn wipe_vec(v: &mut Vec<u8>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let capacity = v.capacity();
        if capacity > 0 {
            // SAFETY: the pointer is valid for writes of `capacity` bytes (the Vec's
            // allocation); zeros are valid `u8`s.
            unsafe { libc::explicit_bzero(v.as_mut_ptr().cast(), capacity) };
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        // `Vec::zeroize` wipes the whole allocation and empties the vector: put the length back.
        let len = v.len();
        zeroize::Zeroize::zeroize(v);
        v.resize(len, 0);
    }
}

/// Overwrites `s`'s allocation with zeros (it stays valid UTF-8: NUL characters).
pub(crate) fn wipe_str(s: &mut String) {
    // SAFETY: zero bytes are valid UTF-8, so the string stays a valid `String`.
    wipe_vec(unsafe { s.as_mut_vec() });
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiping_zeroes_the_whole_allocation_and_keeps_the_length() {
        let mut v = Vec::with_capacity(5000);
        v.extend_from_slice(&[0xa5u8; 4000]);
        let mut s = SecretBytes::from(v);
        s.wipe();
        assert_eq!(s.len(), 4000);
        assert!(s.iter().all(|b| *b == 0));
        // The spare capacity too (read through the Vec's own allocation).
        let spare = s.0.spare_capacity_mut();
        assert!(spare.len() >= 1000);
        // SAFETY: wipe wrote every byte of the allocation.
        assert!(spare.iter().all(|b| unsafe { b.assume_init() } == 0));
        assert_eq!(format!("{s:?}"), "SecretBytes(4000 bytes)");
        SecretBytes::default().wipe();
        let mut text = String::with_capacity(64);
        text.push_str("attack at dawn");
        wipe_str(&mut text);
        assert_eq!(text, "\0".repeat(14));
    }
}
