//! The questions a client author asked of `docs/PROTOCOL.md`, each answered
//! by a sentence there and checked here on two I/O-free shard cores (BTC on
//! shard 0; ETH and SOL on shard 1): what `SessionEnd.expected_seq` is for
//! every reason, where the per-account session limit sits among the logon
//! checks, which refusals reach only the requester, and in which order one
//! session's requests are answered.

use crate::support::core_client::{CoreClient, Got, NOW};
use crate::support::shards::two_shard_cores;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, ShardCore};
use tradsys::shard::notify::LocalNotify;

const BTC: SymbolId = 1;
const ETH: SymbolId = 2;
const ALICE: (u32, &[u8]) = (1, b"alice-demo-token");
const VIEWER: (u32, &[u8]) = (3, b"viewer-demo-token");

fn cores() -> (ShardCore, ShardCore, Vec<tradsys::shard::mesh::ShardRing>) {
    two_shard_cores(64, |_| {})
}

fn logon(core: &mut ShardCore, (account, token): (u32, &[u8])) -> CoreClient {
    CoreClient::logon(core, account, token)
}

fn buy(symbol: SymbolId, client_order_id: u64, price: Price, qty: Qty) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: 0, // not on the wire: the session's account
        symbol,
        client_order_id,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty,
    })
}

fn end(reason: SessionEndReason, expected_seq: u32) -> Got {
    Got::SessionEnd {
        reason: reason.code(),
        expected_seq,
    }
}

/// What a connection's first message got, when it did not log on.
fn refused_first(core: &mut ShardCore, bytes: &[u8]) -> Vec<Got> {
    match core.first_message(bytes, std::rc::Rc::new(LocalNotify::default()), NOW) {
        FirstMessage::Refused(end) => {
            let mut out = [0u8; tradsys::shard::core::PRE_LOGON_END_BYTES];
            let len = end.encode(&mut out);
            crate::support::core_client::decode_all(&out[..len])
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// PROTOCOL.md 5.3: `expected_seq` is the `seq` of the client message the
/// gateway would have processed next. A message that ended the session by
/// being processed (Logout, a second Logon, a first message that is not a
/// Logon, a refused Logon) counts; one refused by framing or by its `seq`
/// does not.
#[test]
fn session_end_expected_seq_is_the_next_seq_the_gateway_would_process() {
    let (mut a, _b, _bells) = cores();
    let mut wire = [0u8; 256];

    // Before a session exists.
    let len = encode(&ClientHeartbeatMsg::new(), 1, &mut wire).unwrap();
    assert_eq!(
        refused_first(&mut a, &wire[..len]),
        vec![end(SessionEndReason::NotLoggedOn, 2)]
    );
    let len = encode(&LogonMsg::new(1, ALICE.1, 0, false).unwrap(), 3, &mut wire).unwrap();
    assert_eq!(
        refused_first(&mut a, &wire[..len]),
        vec![end(SessionEndReason::SequenceGap, 1)]
    );
    let mut bad_length = wire;
    bad_length[0..2].copy_from_slice(&4u16.to_le_bytes());
    assert_eq!(
        refused_first(&mut a, &bad_length[..8]),
        vec![end(SessionEndReason::BadLength, 1)]
    );
    assert_eq!(
        CoreClient::try_logon(&mut a, 1, b"wrong-token")
            .err()
            .unwrap(),
        vec![
            Got::LogonRejected {
                reason: LogonRejectReason::InvalidCredentials.code()
            },
            end(SessionEndReason::LogonRejected, 2)
        ]
    );

    // In a session: one heartbeat (seq 2) is processed first each time.
    type Ender = fn(&mut CoreClient, &mut ShardCore);
    let cases: [(SessionEndReason, u32, Ender); 6] = [
        (SessionEndReason::Logout, 4, |c, core| {
            c.send(core, &LogoutMsg::new());
        }),
        (SessionEndReason::DuplicateLogon, 4, |c, core| {
            c.send(core, &LogonMsg::new(1, ALICE.1, 0, false).unwrap());
        }),
        (SessionEndReason::SequenceGap, 3, |c, core| {
            c.seq += 5;
            c.send(core, &ClientHeartbeatMsg::new());
        }),
        (SessionEndReason::LengthMismatch, 3, |c, core| {
            let mut wire = [0u8; 64];
            let len = encode(&ClientHeartbeatMsg::new(), c.seq, &mut wire).unwrap();
            wire[0..2].copy_from_slice(&16u16.to_le_bytes());
            c.send_raw(core, &wire[..len + 8]);
        }),
        (SessionEndReason::Shutdown, 3, |_, core| {
            core.shut_down_sessions()
        }),
        (SessionEndReason::IdleTimeout, 3, |_, core| {
            // Three granted intervals (1 s) without a message.
            core.tick(Now {
                mono_ns: 1 + 3_000_000_000,
                wall_ns: 1,
            })
        }),
    ];
    for (reason, expected_seq, ender) in cases {
        let (mut a, _b, _bells) = cores();
        let mut client = logon(&mut a, ALICE);
        client.send(&mut a, &ClientHeartbeatMsg::new());
        ender(&mut client, &mut a);
        let got = client.read(&mut a);
        assert_eq!(
            got.last(),
            Some(&end(reason, expected_seq)),
            "{reason:?}: {got:?}"
        );
    }
}

/// PROTOCOL.md 5.1: the per-account limit is checked after the
/// credentials, so a wrong token is `InvalidCredentials` whatever the
/// account's sessions, and the limit is `SessionLimit` (then
/// `SessionEnd(LogonRejected)`) only for a logon that would otherwise
/// succeed.
#[test]
fn the_per_account_session_limit_comes_after_the_credential_check() {
    let (mut a, _b, _bells) = cores();
    let sessions: Vec<CoreClient> = (0..4).map(|_| logon(&mut a, ALICE)).collect();
    assert_eq!(
        sessions.len(),
        4,
        "the demo config's max_sessions_per_account"
    );
    assert_eq!(
        CoreClient::try_logon(&mut a, 1, b"wrong-token")
            .err()
            .unwrap()[0],
        Got::LogonRejected {
            reason: LogonRejectReason::InvalidCredentials.code()
        }
    );
    assert_eq!(
        CoreClient::try_logon(&mut a, ALICE.0, ALICE.1)
            .err()
            .unwrap(),
        vec![
            Got::LogonRejected {
                reason: LogonRejectReason::SessionLimit.code()
            },
            end(SessionEndReason::LogonRejected, 2)
        ]
    );
}

/// PROTOCOL.md 5.1: refusals made before a request reaches an engine go to
/// the requesting session only; an engine's report (a reject included) goes
/// to every session of the account.
#[test]
fn gateway_refusals_reach_only_the_requester_and_engine_reports_every_session() {
    let (mut a, mut b, _bells) = cores();
    let mut trader = logon(&mut a, ALICE);
    let mut monitor = logon(&mut b, ALICE);
    let mut viewer = logon(&mut a, VIEWER);
    let mut viewer_monitor = logon(&mut b, VIEWER);
    let poll =
        |a: &mut ShardCore, b: &mut ShardCore| while a.poll_mesh(NOW) + b.poll_mesh(NOW) > 0 {};

    // NotAuthorized (a viewer's order) and UnknownSymbol (no shard owns 99):
    // the gateway's own refusals.
    viewer.send(&mut a, &buy(BTC, 1, 5_000_000, 1));
    trader.send(&mut a, &buy(99, 2, 5_000_000, 1));
    poll(&mut a, &mut b);
    assert_eq!(
        viewer.read(&mut a),
        vec![Got::Rejected {
            client_order_id: 1,
            reason: RejectReason::NotAuthorized.code()
        }]
    );
    assert_eq!(viewer_monitor.read(&mut b), vec![]);
    assert_eq!(
        trader.read(&mut a),
        vec![Got::Rejected {
            client_order_id: 2,
            reason: RejectReason::UnknownSymbol.code()
        }]
    );
    assert_eq!(monitor.read(&mut b), vec![]);

    // PriceBand is the engine's (ETH's engine, on the other shard): every
    // session of the account gets it.
    trader.send(&mut a, &buy(ETH, 3, 1_000_000, 10));
    poll(&mut a, &mut b);
    let band = Got::Rejected {
        client_order_id: 3,
        reason: RejectReason::PriceBand.code(),
    };
    assert_eq!(trader.read(&mut a), vec![band.clone()]);
    assert_eq!(monitor.read(&mut b), vec![band]);
}

/// PROTOCOL.md 5.1: one session's messages are processed in the order sent;
/// the reports of its requests on one symbol come back in that order, but
/// requests on symbols matched on different cores may be answered in
/// another order than they were sent.
#[test]
fn one_sessions_answers_keep_request_order_per_symbol_only() {
    let (mut a, mut b, _bells) = cores();
    let mut trader = logon(&mut a, ALICE);
    // ETH (shard 1), BTC (this shard), ETH again, in one read.
    let mut wire = Vec::new();
    for (i, msg) in [
        buy(ETH, 1, 290_000, 10),
        buy(BTC, 2, 4_900_000, 1),
        buy(ETH, 3, 290_000, 10),
    ]
    .iter()
    .enumerate()
    {
        let mut one = [0u8; 64];
        let len = encode(msg, 2 + i as u32, &mut one).unwrap();
        wire.extend_from_slice(&one[..len]);
    }
    assert_eq!(trader.send_raw(&mut a, &wire).consumed, wire.len());
    while a.poll_mesh(NOW) + b.poll_mesh(NOW) > 0 {}
    let accepted: Vec<u64> = trader
        .read(&mut a)
        .into_iter()
        .map(|got| match got {
            Got::Accepted { client_order_id } => client_order_id,
            other => panic!("{other:?}"),
        })
        .collect();
    // BTC ran inline before the ETH orders came back over the ring.
    assert_eq!(accepted, vec![2, 1, 3]);
}
