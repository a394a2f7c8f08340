//! The shard's provided buffer ring (`IORING_REGISTER_PBUF_RING`): receives
//! name buffer group 0 and the kernel picks a buffer when data arrives, so
//! an idle connection holds no receive buffer, and a receive needs no
//! buffer of its owner. The owner gets the buffer id in the completion,
//! reads the bytes in place and gives the buffer back.
//!
//! Memory: `count` buffers of `size` bytes, one allocation each for the
//! ring and the buffers, made once when the shard starts.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group every pooled receive names.
pub const GROUP: u16 = 0;

pub struct BufRing {
    entries: *mut BufRingEntry,
    ring_layout: Layout,
    buffers: Box<[u8]>,
    count: u16,
    size: usize,
    /// Our copy of the ring's tail (the kernel only reads it).
    tail: u16,
}

impl BufRing {
    /// `count` (a power of two, at most 32768) buffers of `size` bytes.
    pub fn new(count: u16, size: usize) -> BufRing {
        assert!(
            count.is_power_of_two() && count <= 32768,
            "buffer count {count}"
        );
        let ring_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .expect("buffer ring layout");
        // SAFETY: a non-zero-sized layout; checked for null below.
        let entries = unsafe { alloc_zeroed(ring_layout) } as *mut BufRingEntry;
        assert!(!entries.is_null(), "buffer ring allocation");
        let mut buffers = vec![0u8; usize::from(count) * size].into_boxed_slice();
        prefault(&mut buffers);
        let mut ring = BufRing {
            entries,
            ring_layout,
            buffers,
            count,
            size,
            tail: 0,
        };
        for bid in 0..count {
            ring.give_back(bid);
        }
        ring
    }

    /// Registers the ring as buffer group [`GROUP`] of `uring`.
    pub fn register(&self, uring: &IoUring) -> io::Result<()> {
        // SAFETY: the ring memory is page-aligned, `count` entries long, and
        // lives as long as this BufRing, which the shard's Ring owns and
        // drops after the io_uring (declared before it).
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                self.entries as u64,
                self.count,
                GROUP,
                0,
            )
        }
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "IORING_REGISTER_PBUF_RING: {e} ({})",
                    super::ring::setup_hint(&e, "needs Linux >= 5.19")
                ),
            )
        })
    }

    pub fn buffer_size(&self) -> usize {
        self.size
    }

    /// Every buffer's memory, back to back (for checks of its residency).
    pub fn memory(&self) -> &[u8] {
        debug_assert_eq!(self.buffers.len(), usize::from(self.count) * self.size);
        &self.buffers
    }

    /// The bytes a completion put in buffer `bid`.
    pub fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * self.size;
        &self.buffers[start..start + len.min(self.size)]
    }

    /// Hands buffer `bid` back to the kernel.
    pub fn give_back(&mut self, bid: u16) {
        assert!(bid < self.count, "buffer id {bid} out of range");
        let index = usize::from(self.tail & (self.count - 1));
        let addr = self.buffers[usize::from(bid) * self.size..].as_ptr() as u64;
        // SAFETY: `index` is within the ring's `count` entries; the kernel
        // reads an entry only between the old and the new tail, and this
        // one is beyond the tail it has seen.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(addr);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field lives in the first entry of the ring we
        // own; the kernel reads it with acquire, and the release store
        // publishes the entry written above.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }
}

/// Writes one byte of every page, so the pages exist before the first
/// receive: a large zeroed allocation is mapped lazily, and the kernel
/// would otherwise take a page fault on the shard, in the middle of the
/// order flow, for each page a receive first lands in (4 MiB of buffers:
/// 1,024 faults, most of the shard's minor faults in a 125k-order burst).
fn prefault(memory: &mut [u8]) {
    const PAGE: usize = 4096;
    if memory.is_empty() {
        return;
    }
    // The allocation need not start on a page: its first byte, then the
    // first byte of every page boundary inside it.
    let first_boundary = (PAGE - memory.as_ptr() as usize % PAGE) % PAGE;
    let offsets = std::iter::once(0).chain((first_boundary..memory.len()).step_by(PAGE));
    for offset in offsets {
        // SAFETY: `offset` is within `memory`; a volatile write so the
        // store of an unchanged 0 is not optimised away.
        unsafe { std::ptr::write_volatile(memory.as_mut_ptr().add(offset), 0) };
    }
    debug_assert_eq!(memory[0], 0);
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the io_uring that read
        // it is gone (the Ring drops its io_uring first).
        unsafe { dealloc(self.entries as *mut u8, self.ring_layout) };
    }
}
