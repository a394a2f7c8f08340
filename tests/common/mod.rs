pub mod alloc_counter;
pub mod core_client;
pub mod engine_fixture;
pub mod gateway;
pub mod shards;
