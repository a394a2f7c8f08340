//! Shards: one pinned thread per configured core, each running its own
//! io_uring reactor, with its sessions, its engine and its ends of the SPSC
//! mesh.
//!
//! - `core`: the shard's logic, I/O-free (sessions, routing, engine, mesh),
//!   one file per concern.
//! - `session`, `outbox`, `rate_limit`: one session's state.
//! - `session_table`: the shard's sessions in slots with generations.
//! - `router`: engine events to sessions (the engine's event sink).
//! - `mesh`: the rtrb rings between shards and the doorbells.
//! - `sender`: the one way to send to another shard (ring, then doorbell).
//! - `counters`: what a shard counts about itself.
//! - `lifecycle_log`: the bound on per-session log lines.
//! - `park`: the doorbell's park/ring decision (atomics only; model-checked
//!   with loom in `checks/loom/`).
//! - `directory`: which sessions each account has (lock-free table).
//! - `shared`: config-derived lookups every shard reads.
//! - `quiescence`: graceful shutdown's termination check (atomics only;
//!   model-checked with loom in `checks/loom/`).
//! - `runtime`: the tasks that move bytes between sockets and core.
//! - `reactor`: the shard's io_uring (SINGLE_ISSUER | DEFER_TASKRUN), its
//!   buffer ring and its task executor.
//! - `admission`: connections before they are sessions: the acceptor's
//!   back-off, the bounds on connections waiting to log on (per shard and
//!   per peer address), and the counted, rate-limited log of refusals.
//! - `peer_counts`: connections per peer address in a fixed table (the
//!   per-address bounds of order entry's admission and of market data's
//!   unsubscribed connections).
//! - `notify`: a single-threaded wake-up flag, and the doorbell (MSG_RING)
//!   that wakes a parked shard.
//! - `md`: market data on the shard: the replica feed, WebSocket clients
//!   and the fan-out (I/O-free; its tasks are `runtime/md.rs`).
//! - `operator`: the ring that brings operator commands from the admin
//!   thread.
//! - `ws_session`: WebSocket order entry's framing and close codes
//!   (I/O-free; its tasks are `runtime/ws_trade.rs`, the session is the
//!   TCP one in `core`).

pub mod admission;
pub mod core;
pub mod counters;
pub mod directory;
pub mod lifecycle_log;
pub mod md;
pub mod mesh;
pub mod notify;
pub mod operator;
pub mod outbox;
pub mod park;
pub mod peer_counts;
pub mod quiescence;
pub mod rate_limit;
pub mod reactor;
pub mod replay_source;
pub mod router;
pub mod runtime;
pub mod sender;
pub mod session;
pub mod session_table;
pub mod shared;
pub mod ws_session;
