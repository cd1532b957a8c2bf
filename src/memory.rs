//! How the C allocator treats the megabyte-sized buffers of a large payload.
//!
//! An envelope event of a few MB passes through a handful of buffers of its size: the runtime's
//! read buffers and the event it gathers from them, the parsed event, the decoded payload, the
//! sealed message, the base64 text and the serialized response. Left to its defaults, glibc's
//! `malloc` raises its mmap threshold to the largest buffer ever freed, after which such buffers
//! live in the heap, where freed ones are kept and fragment: a 4.7 MB round trip then peaks at
//! 6.3× its event. Returning every large buffer to the kernel instead holds the peak to the
//! buffers alive at once, but makes every invocation page-fault its buffers in again, which for
//! 1 MiB payloads costs more than the base64 and the cryptography together. Measured in
//! `make bench` (docs/envelope.md, "Memory"), the settings below keep most of both: envelope
//! throughput at 1 MiB stays that of warm pages, and the 4.7 MB round trip peaks at about 4.2×
//! its event (exact mapping of everything would give 3.9×, at a quarter of the throughput):
//!
//! - buffers of [`MMAP_THRESHOLD`] and more are mapped for themselves and unmapped when freed,
//!   so the largest events cost exactly what they hold;
//! - below that, up to [`TRIM_THRESHOLD`] of freed heap stays for the next invocation, so
//!   payloads around a megabyte reuse warm pages;
//! - when the runtime has gathered a large event, [`release_freed`] hands back the read
//!   buffers it was gathered from before the event is copied again (`raw_event`).
//!
//! Other allocators and C libraries (musl, macOS) are left alone.

/// Buffers this size and larger are mapped for themselves (glibc's `M_MMAP_THRESHOLD`; setting
/// it also stops glibc raising it on its own).
pub const MMAP_THRESHOLD: usize = 2 << 20;

/// Freed heap memory kept at the top of the heap for reuse (glibc's `M_TRIM_THRESHOLD`).
pub const TRIM_THRESHOLD: usize = 4 << 20;

/// Applies the settings above. Call once, first thing in `main`, before other threads exist.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
    }
}

/// Returns freed heap memory to the kernel. For after a large event has been gathered: its
/// read buffers are freed, each too small to be mapped for itself.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is free.
    unsafe {
        libc::malloc_trim(0);
    }
}
