//! `append` allocates nothing in steady state, whatever the sync policy;
//! neither do the per-tick calls the gateway makes around it.

use crate::support::alloc_counter::allocations_in;
use crate::support::journal::*;
use tradsys::config::SyncPolicy;

#[test]
fn append_in_steady_state_does_not_allocate() {
    for sync in [SyncPolicy::None, SyncPolicy::Interval, SyncPolicy::Every] {
        let tmp = TempDir::new("alloc");
        // Big enough that 600 records do not roll over; the spare asked
        // for at open is installed first, so no request is pending.
        let cfg = config(tmp.path(), 1024 * KIB, sync);
        let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
        let spare = writer.spare_needed().expect("asked for at open");
        writer.install_spare(spare.create().unwrap());
        let commands = mixed_commands(64);
        append_all(&mut writer, 0, &commands[..8]);
        let (allocations, appended) = allocations_in(|| {
            let mut appended = 0u64;
            for i in 0..600u64 {
                let ts = i * 100_000;
                writer
                    .append(ts, &commands[i as usize % commands.len()])
                    .unwrap();
                writer.sync_if_due(ts).unwrap();
                assert!(writer.spare_needed().is_none());
                appended += 1;
            }
            appended
        });
        assert_eq!(appended, 600);
        assert_eq!(allocations, 0, "{sync:?}: append allocated");
    }
}
