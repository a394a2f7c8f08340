//! The gateway tests, one binary (`cargo test --test gateway`): the real
//! binary on loopback (orders, sessions, crashes, limits, restarts, logs, the
//! Python client) and the shard cores driven without sockets. The slow
//! environment and storage fault tests are the `faults` binary.

#[path = "../support/mod.rs"]
mod support;

mod account_queries;
mod answer_order;
mod bulk_cancel;
mod capture_sampling;
mod close_after_send;
mod config_epoch;
mod crash;
mod done_orders;
mod doorbell;
mod engine_batch;
mod example_bot;
mod fd_limit;
mod give_up_send;
mod journal_full;
mod logs;
mod lost_segment;
mod md_stale_replica;
mod memory;
mod order_entry_signal;
mod orders;
mod park_overflow;
mod port;
mod prelogon;
mod protocol_answers;
mod python_conformance;
mod python_replay;
mod reactor_failure;
mod receive_buffers;
mod replay;
mod replay_bounds;
mod report_budget;
mod session_props;
mod sessions;
mod shutdown_wake;
mod stall_idle;
mod start_failure;
mod websocket_orders;
