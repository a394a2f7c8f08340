//! The shard's receive buffers are resident before the first receive: a
//! receive into a page never touched takes a page fault on the shard in
//! the middle of the order flow (a 125k-order burst took about 200 minor
//! faults, half of them in the kernel's copy into a fresh receive buffer,
//! `perf record -e page-faults` on the shard thread). `mincore` says which
//! pages of the buffers' memory are resident.

use tradsys::shard::reactor::bufring::BufRing;

#[test]
fn every_page_of_the_receive_buffers_is_resident_from_the_start() {
    const PAGE: usize = 4096;
    let ring = BufRing::new(64, 64 * 1024);
    let memory = ring.memory();
    let start = memory.as_ptr() as usize & !(PAGE - 1);
    let end = memory.as_ptr() as usize + memory.len();
    let pages = (end - start).div_ceil(PAGE);
    let mut resident = vec![0u8; pages];
    // SAFETY: the range covers `memory`, which is mapped for as long as
    // `ring` lives; `resident` has one byte per page.
    let rc = unsafe {
        libc::mincore(
            start as *mut libc::c_void,
            end - start,
            resident.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    let missing = resident.iter().filter(|&&r| r & 1 == 0).count();
    assert_eq!(missing, 0, "{missing} of {pages} pages not resident");
}
