//! The zero-allocation tests, one binary (`cargo test --test alloc`) because
//! they install a counting global allocator. It counts only the allocations
//! of the thread that opened a measurement (`support::alloc_counter`), so
//! these tests can run in parallel threads without counting each other's.

#[path = "../support/mod.rs"]
mod support;

mod engine;
mod gateway;
mod interval_log;
mod journal;
mod market_data;
mod md_fanout;
mod md_relay;
mod replay;
mod telemetry;

use support::alloc_counter::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;
