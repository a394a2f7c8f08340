//! Large pre-allocated tables (the order slab, the order index) are touched
//! at random; on 4 KiB pages every touch of a cold order is also a TLB miss.
//! Asking for transparent huge pages before the first touch removes most of
//! them. The advice is best effort: with THP disabled the kernel ignores it.

/// Allocates a `Vec` of `len` copies of `value`, advising the kernel to back
/// it with huge pages before any page is written.
pub fn filled_vec<T: Copy>(len: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    let advised = v.as_ptr();
    advise_huge(v.as_mut_ptr() as *mut u8, len * std::mem::size_of::<T>());
    v.resize(len, value);
    // Filled in place: the advised allocation is the one kept.
    assert_eq!(v.as_ptr(), advised);
    v
}

const HUGE_PAGE: usize = 2 << 20;

fn advise_huge(ptr: *mut u8, bytes: usize) {
    // Only whole 2 MiB pages inside the buffer can be huge.
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + bytes) & !(HUGE_PAGE - 1);
    if end > start {
        // What the SAFETY comment below rests on.
        assert!(start >= ptr as usize && end <= ptr as usize + bytes);
        // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE
        // changes only how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}
