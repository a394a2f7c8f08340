//! The matching engine tests, one binary (`cargo test --test engine`): every
//! order type and reject path, the engine against a naive reference model on
//! random streams, and reconfiguration keeping state.

#[path = "../support/mod.rs"]
mod support;

mod account_queries;
mod done_orders;
mod home_nodes;
mod model;
mod orders;
mod reconfigure;
mod report_numbers;
