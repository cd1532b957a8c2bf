//! How memory is handed out for the megabyte-sized buffers of a large payload.
//!
//! An envelope event of a few MB passes through a handful of buffers of its size: the runtime's
//! read buffers and the event it gathers from them, the decoded payload, the sealed or opened
//! message, and the serialized response. The peak is set by how many of them are resident at
//! once, and a default glibc keeps many more than are alive: it raises its mmap threshold to the
//! largest buffer ever freed and then keeps freed buffers in the heap, where they stay resident
//! and fragment (a 4.7 MB round trip peaked at 6.3× its event). Returning every buffer to the
//! kernel the moment it is freed holds the peak down, but makes every invocation page-fault its
//! buffers in again, which for 1 MiB payloads costs more than the base64 and the cryptography
//! together. Measured in `make bench` (docs/envelope.md, "Memory"), this module keeps both:
//!
//! - [`LargeBuffersMapped`], the global allocator of the function: buffers of [`MMAP_THRESHOLD`]
//!   and more get pages of their own from the kernel and give them back when freed, always.
//!   (glibc's own threshold is not enough: it maps a large request only when no freed heap space
//!   fits it, and a freed hole in the heap stays resident after its buffer is gone.) A growing
//!   buffer of that size moves by `mremap`, without a copy;
//! - below that, glibc as usual, and up to [`TRIM_THRESHOLD`] of freed heap stays for the next
//!   invocation, so payloads around a megabyte reuse warm pages;
//! - one allocator arena when the sandbox serves one event at a time (classic Lambda): the
//!   runtime reads events on a worker thread, and a worker's arena keeps up to
//!   [`TRIM_THRESHOLD`] at its top that no call can hand back (`malloc_trim` trims only the main
//!   arena's top). With `AWS_LAMBDA_MAX_CONCURRENCY` above 1, the arenas stay, to spare
//!   concurrent invocations a shared lock;
//! - around a large event, [`release_freed`] hands back the freed heap: once the runtime has
//!   gathered it from its read buffers (`raw_event`), and once its response is sent.
//!
//! The 4.7 MB round trip then peaks at about 3.8× its event. Other targets (musl, macOS) get the
//! system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// Buffers this size and larger are mapped for themselves ([`LargeBuffersMapped`]; also glibc's
/// `M_MMAP_THRESHOLD`, which stops glibc raising it on its own).
pub const MMAP_THRESHOLD: usize = 2 << 20;

/// Freed heap memory kept at the top of the heap for reuse (glibc's `M_TRIM_THRESHOLD`).
pub const TRIM_THRESHOLD: usize = 4 << 20;

/// Applies the glibc settings above. Call once, first thing in `main`, before other threads
/// exist.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let one_at_a_time = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .is_none_or(|c| c <= 1);
        // SAFETY: mallopt only sets allocator parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
            if one_at_a_time {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}

/// Returns freed heap memory to the kernel. For after a large event has been gathered, and
/// after its response has been sent.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The function's global allocator: [`MMAP_THRESHOLD`] and more straight from the kernel,
/// everything else from the system allocator (see the module documentation for why).
#[derive(Debug, Default, Clone, Copy)]
pub struct LargeBuffersMapped;

/// Whether a block is mapped for itself. Fixed by its layout, so `dealloc` and `realloc` know
/// where a block came from. Mappings are page-aligned, and pages are at least 4 KiB.
#[cfg(target_os = "linux")]
fn mapped(size: usize, align: usize) -> bool {
    size >= MMAP_THRESHOLD && align <= 4096
}

#[cfg(not(target_os = "linux"))]
fn mapped(_: usize, _: usize) -> bool {
    false
}

// SAFETY: every block is either a private anonymous mapping of at least its size (page-aligned,
// so aligned for any `align <= 4096`), or comes from `System`; which one is decided by
// `mapped(size, align)` on both allocation and release, so a block always goes back where it
// came from.
unsafe impl GlobalAlloc for LargeBuffersMapped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout.size(), layout.align()) {
            map(layout.size()) // fresh anonymous pages are zero
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout.size(), layout.align()) {
            unmap(ptr, layout.size());
        } else {
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        match (mapped(layout.size(), align), mapped(new_size, align)) {
            (false, false) => System.realloc(ptr, layout, new_size),
            (true, true) => remap(ptr, layout.size(), new_size),
            _ => {
                // Crossing the threshold: a new block of the other kind, then a copy.
                let new_layout = Layout::from_size_align_unchecked(new_size, align);
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(target_os = "linux")]
unsafe fn map(size: usize) -> *mut u8 {
    let p = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

#[cfg(target_os = "linux")]
unsafe fn unmap(ptr: *mut u8, size: usize) {
    libc::munmap(ptr.cast(), size);
}

#[cfg(target_os = "linux")]
unsafe fn remap(ptr: *mut u8, size: usize, new_size: usize) -> *mut u8 {
    let p = libc::mremap(ptr.cast(), size, new_size, libc::MREMAP_MAYMOVE);
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

// Never called where `mapped` is always false.
#[cfg(not(target_os = "linux"))]
unsafe fn map(_: usize) -> *mut u8 {
    std::ptr::null_mut()
}
#[cfg(not(target_os = "linux"))]
unsafe fn unmap(_: *mut u8, _: usize) {}
#[cfg(not(target_os = "linux"))]
unsafe fn remap(_: *mut u8, _: usize, _: usize) -> *mut u8 {
    std::ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `len` bytes from `ptr` with a pattern that depends on the offset.
    unsafe fn fill(ptr: *mut u8, len: usize) {
        for i in (0..len).step_by(4093) {
            *ptr.add(i) = (i % 251) as u8;
        }
        *ptr.add(len - 1) = 7;
    }

    unsafe fn check(ptr: *const u8, len: usize) {
        for i in (0..len).step_by(4093) {
            assert_eq!(*ptr.add(i), (i % 251) as u8, "offset {i}");
        }
    }

    #[test]
    fn blocks_keep_their_bytes_through_every_realloc_across_the_threshold() {
        let a = LargeBuffersMapped;
        let sizes = [
            100,
            MMAP_THRESHOLD - 1,
            MMAP_THRESHOLD,
            3 * MMAP_THRESHOLD + 5,
            MMAP_THRESHOLD + 1,
            MMAP_THRESHOLD / 2,
            5 * MMAP_THRESHOLD,
            64,
        ];
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], 8).unwrap();
            let mut ptr = a.alloc(layout);
            assert!(!ptr.is_null());
            fill(ptr, layout.size());
            for &size in &sizes[1..] {
                let kept = layout.size().min(size);
                ptr = a.realloc(ptr, layout, size);
                assert!(!ptr.is_null(), "realloc to {size}");
                assert_eq!(ptr as usize % 8, 0);
                check(ptr, kept - 1);
                layout = Layout::from_size_align(size, 8).unwrap();
                fill(ptr, size);
            }
            a.dealloc(ptr, layout);
        }
    }

    #[test]
    fn large_blocks_are_zeroed_and_aligned_and_large_alignments_use_the_system() {
        let a = LargeBuffersMapped;
        for align in [1, 16, 4096, 8192] {
            let layout = Layout::from_size_align(MMAP_THRESHOLD + 3, align).unwrap();
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "align {align}");
                assert!((0..layout.size()).step_by(4096).all(|i| *p.add(i) == 0));
                assert_eq!(*p.add(layout.size() - 1), 0);
                a.dealloc(p, layout);
            }
        }
        #[cfg(target_os = "linux")]
        assert!(mapped(MMAP_THRESHOLD, 4096) && !mapped(MMAP_THRESHOLD, 8192));
        assert!(!mapped(MMAP_THRESHOLD - 1, 1));
    }

    #[test]
    fn a_freed_large_block_leaves_the_process() {
        // The property the design rests on: freeing a large buffer lowers the resident set at
        // once, whatever glibc would have done with it.
        #[cfg(target_os = "linux")]
        {
            let rss = || {
                let status = std::fs::read_to_string("/proc/self/status").unwrap();
                let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
                line.split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
                    * 1024
            };
            let a = LargeBuffersMapped;
            let layout = Layout::from_size_align(16 << 20, 1).unwrap();
            unsafe {
                let p = a.alloc(layout);
                std::ptr::write_bytes(p, 1, layout.size());
                let held = rss();
                a.dealloc(p, layout);
                let after = rss();
                // 16 MiB resident, then gone (other test threads may allocate meanwhile: a wide
                // margin, still far from what a retained block would show).
                assert!(held >= after + (12 << 20), "held {held}, after {after}");
            }
        }
    }
}
