//! `tradsys doctor`'s `reactor` check: a shard ring is made as a shard
//! makes it; a failure names what the running kernel lacks, feature by
//! feature, and the fix.

use tradsys::doctor::reactor::{check_reactor, FEATURES, MIN_KERNEL};
use tradsys::doctor::Status;

#[test]
fn a_working_shard_ring_passes() {
    let check = check_reactor(Some((6, 18)), Ok(()));
    assert_eq!(check.status, Status::Ok, "{check:?}");
    assert!(check.fix.is_none());
}

#[test]
fn an_old_kernel_fails_naming_each_missing_feature() {
    let check = check_reactor(Some((5, 15)), Err("Invalid argument (os error 22)".into()));
    assert_eq!(check.status, Status::Fail, "{check:?}");
    for name in [
        "IORING_OP_MSG_RING (5.18)",
        "IORING_REGISTER_PBUF_RING (5.19)",
        "IORING_SETUP_SINGLE_ISSUER (6.0)",
        "IORING_SETUP_DEFER_TASKRUN (6.1)",
    ] {
        assert!(
            check.found.contains(name),
            "{name} missing: {}",
            check.found
        );
    }
    assert!(!check.found.contains("R_DISABLED"), "{}", check.found);
    assert!(check.fix.as_deref().unwrap_or("").contains("6.1"));
}

#[test]
fn a_failure_on_a_new_enough_kernel_says_what_failed() {
    // A seccomp filter or io_uring_disabled, not the version.
    let check = check_reactor(Some((6, 8)), Err("Operation not permitted".into()));
    assert_eq!(check.status, Status::Fail);
    assert!(check.found.contains("Operation not permitted"));
    assert!(!check.found.contains("lacks"), "{}", check.found);
    // The kernel is not the fix (a hostile pass found "Linux >= 6.1"
    // offered on 6.18).
    let fix = check.fix.as_deref().unwrap_or("");
    assert!(!fix.contains("Linux >= 6.1"), "{fix}");
    assert!(fix.contains("io_uring_disabled"), "{fix}");
}

#[test]
fn a_ring_refused_for_locked_memory_points_at_the_memlock_limit() {
    let error = "Cannot allocate memory (os error 12) (RLIMIT_MEMLOCK is too small for the shards' rings: run `tradsys doctor` (memlock), set LimitMEMLOCK=infinity or `ulimit -l unlimited`)";
    let check = check_reactor(Some((6, 18)), Err(error.into()));
    assert_eq!(check.status, Status::Fail);
    let fix = check.fix.as_deref().unwrap_or("");
    assert!(fix.contains("LimitMEMLOCK=infinity"), "{fix}");
    assert!(!fix.contains("Linux >= 6.1"), "{fix}");
}

#[test]
fn the_minimum_kernel_is_the_newest_feature() {
    let newest = FEATURES.iter().map(|&(_, since)| since).max().unwrap();
    assert_eq!(newest, MIN_KERNEL);
}

#[test]
fn this_host_makes_a_shard_ring() {
    // The development and CI hosts run 6.x kernels with io_uring on.
    tradsys::shard::reactor::ring::probe().expect("a shard ring on this host");
}
