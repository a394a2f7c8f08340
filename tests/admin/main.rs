//! The admin tests, one binary (`cargo test --test admin`): a real gateway
//! on loopback read and driven through its admin endpoint by real clients
//! (promtool, the Python prometheus_client and hdrh packages, headless
//! Chromium, the `tradsys admin` command line, the Dockerfile's
//! HEALTHCHECK). The capture's allocation test is in the `alloc` binary.

#[path = "../support/mod.rs"]
mod support;

mod backpressure;
mod cli;
mod dashboard;
mod endpoints;
mod give_up_io;
mod healthcheck;
mod http;
mod isolation;
mod operator;
mod since_reset;
mod slow_clients;
mod transports;
