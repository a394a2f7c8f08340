//! What a shard counts about itself: plain integers owned by the shard
//! thread and written only by it (the admin thread will read snapshots
//! handed over by the shard, never these fields directly).

/// Counters the admin thread will export.
#[derive(Default, Debug, Clone, Copy)]
pub struct ShardCounters {
    pub messages_in: u64,
    pub commands_local: u64,
    pub commands_remote: u64,
    pub mesh_in: u64,
    pub sessions_opened: u64,
    pub sessions_ended: u64,
    pub slow_consumers: u64,
    pub market_events: u64,
    /// Commands refused because the journal could not take them.
    pub journal_refusals: u64,
}
