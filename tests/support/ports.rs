//! Ports for servers a test must start on a port it names before the
//! server runs (a gateway's admin endpoint in a config, a NATS node that is
//! killed and started again on the same port).
//!
//! Asking the kernel for a free port (bind port 0, read it, close) and
//! handing it to a server races with everything else on the host: that
//! port is in the ephemeral range (`ip_local_port_range`, 32768-60999 by
//! default), from which the kernel picks the local port of every outgoing
//! connection and every other port-0 bind, so between the close and the
//! server's bind it can be taken (seen in CI: a gateway failed with
//! "server.admin 127.0.0.1:34677: Address already in use"). These ports
//! come from below that range, where the kernel never picks on its own:
//! each test process gets its own block (by its pid) and walks it, skipping
//! a port something already listens on.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};

/// Below the kernel's default ephemeral range (32768 and up).
const FIRST: u16 = 20_000;
const BLOCK: u16 = 200;
const BLOCKS: u16 = 60;

const _: () = assert!(FIRST as u32 + (BLOCK as u32) * (BLOCKS as u32) <= 32_768);

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A loopback port no one listens on now, outside the ephemeral range.
pub fn free_port() -> u16 {
    let block = (std::process::id() % u32::from(BLOCKS)) as u16;
    let base = FIRST + block * BLOCK;
    for _ in 0..BLOCK {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % BLOCK;
        assert!((FIRST..32_768).contains(&port));
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{base}..{}", base + BLOCK);
}
