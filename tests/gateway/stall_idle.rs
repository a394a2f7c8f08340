//! A gateway that was not running (SIGSTOP, a frozen cgroup, a VM pause)
//! must not blame its clients for the silence: on resume the idle timeout
//! is judged on the time the shard actually ran. Found by
//! tests/faults/env_faults.rs: about 1 run in 10 of a 5 s SIGSTOP ended
//! both a pipelining and a heartbeating session with IdleTimeout at the
//! first tick after SIGCONT, before their waiting bytes were read. Here the
//! same order of events is forced on an I/O-free shard core.

use std::rc::Rc;

use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output};
use tradsys::shard::notify::LocalNotify;

fn logon(core: &mut tradsys::shard::core::ShardCore, now: Now) -> tradsys::shard::mesh::SessionRef {
    let mut wire = [0u8; 128];
    let logon = LogonMsg::new(1, b"alice-demo-token", 1000, false).unwrap();
    let len = encode(&logon, 1, &mut wire).unwrap();
    match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), now) {
        FirstMessage::LoggedOn(id) => id,
        other => panic!("logon: {other:?}"),
    }
}

fn at(ms: u64) -> Now {
    Now {
        mono_ns: ms * 1_000_000,
        wall_ns: ms * 1_000_000,
    }
}

/// SessionEnd reasons queued for the session so far.
fn ended(
    core: &mut tradsys::shard::core::ShardCore,
    id: tradsys::shard::mesh::SessionRef,
) -> Vec<u16> {
    let mut out = Vec::new();
    let mut reasons = Vec::new();
    while core.take_output(id, &mut out) == Output::Data {
        let mut rest = &out[..];
        while let Ok(decoded) = decode_gateway(rest) {
            if let GatewayMessage::SessionEnd(m) = decoded.message {
                reasons.push(m.reason.get());
            }
            rest = &rest[decoded.len..];
        }
        out.clear();
    }
    reasons
}

#[test]
fn a_shard_that_was_stopped_does_not_end_sessions_for_its_own_silence() {
    let (mut core, _other, _keep) = crate::support::shards::two_shard_cores(64, |_| {});
    let id = logon(&mut core, at(1));
    // The shard ticks every few ms while the client heartbeats...
    for ms in (5..=1_000).step_by(5) {
        core.tick(at(ms));
    }
    let mut heartbeat = [0u8; 64];
    let len = encode(&ClientHeartbeatMsg::new(), 2, &mut heartbeat).unwrap();
    assert_eq!(
        core.on_bytes(id, &heartbeat[..len], at(1_000)).consumed,
        len
    );
    // ...then the process is stopped for 5 s. The first thing to run after
    // SIGCONT is the tick; the client's waiting bytes are read after it.
    core.tick(at(6_000));
    assert!(
        !ended(&mut core, id).contains(&SessionEndReason::IdleTimeout.code()),
        "ended for the gateway's own 5 s stop"
    );
    let len = encode(&ClientHeartbeatMsg::new(), 3, &mut heartbeat).unwrap();
    assert_eq!(
        core.on_bytes(id, &heartbeat[..len], at(6_001)).consumed,
        len
    );
    // A client that really goes quiet is still ended: 3 intervals of 1 s
    // with the shard running.
    for ms in (6_005..=9_100).step_by(5) {
        core.tick(at(ms));
    }
    assert!(
        ended(&mut core, id).contains(&SessionEndReason::IdleTimeout.code()),
        "a silent client is ended after three heartbeat intervals"
    );
}
