//! A socket read's order commands run through the engine as one batch
//! (`shard/core/engine_batch.rs`): what a client sees must be exactly what
//! it saw when they ran one by one. Answers keep the order of the
//! requests, whatever is interleaved; a session's end runs the commands
//! read before it, then its cancel-on-disconnect; a read longer than a
//! batch is answered whole and in order.

use std::rc::Rc;

use crate::support::core_client::{CoreClient, Got, NOW};
use crate::support::shards::two_shard_cores;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, ShardCore, BATCH_MAX};
use tradsys::shard::notify::LocalNotify;

const BTC: SymbolId = 1; // shard 0
const ETH: SymbolId = 2; // shard 1
const ACCEPTED: u16 = 0;

fn order(client_order_id: u64, symbol: SymbolId, price: Price, tif: TimeInForce) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: 1,
        symbol,
        client_order_id,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty: 1,
    })
}

/// Messages encoded one after another, with the client's sequence, to be
/// handed to the core as one read.
struct Read {
    bytes: Vec<u8>,
}

impl Read {
    fn new() -> Read {
        Read { bytes: Vec::new() }
    }

    fn add<M: WireMessage>(&mut self, client: &mut CoreClient, msg: &M) -> &mut Read {
        let mut wire = [0u8; 256];
        let len = encode(msg, client.seq, &mut wire).unwrap();
        client.seq += 1;
        self.bytes.extend_from_slice(&wire[..len]);
        self
    }

    fn send(&self, core: &mut ShardCore, client: &CoreClient) {
        let intake = core.on_bytes(client.id, &self.bytes, NOW);
        assert_eq!((intake.consumed, intake.blocked), (self.bytes.len(), false));
    }
}

#[test]
fn answers_keep_the_order_of_the_requests_of_one_read() {
    let (mut core, _other, _keep) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut core, 1, b"alice-demo-token");
    let mut read = Read::new();
    read.add(&mut alice, &order(1, BTC, 4_900_000, TimeInForce::Gtc))
        // Refused by the gateway itself, between two batched orders.
        .add(&mut alice, &order(2, 99, 4_900_000, TimeInForce::Gtc))
        .add(&mut alice, &order(3, BTC, 4_800_000, TimeInForce::Ioc))
        // Answered from the book the orders before it changed.
        .add(&mut alice, &OrderStatusRequestMsg::new(4, 1, BTC))
        .add(&mut alice, &order(5, BTC, 4_900_000, TimeInForce::Gtc))
        .add(&mut alice, &MassCancelMsg::new(6, Some(BTC)));
    read.send(&mut core, &alice);
    assert_eq!(core.counters.commands_remote, 0, "BTC is shard 0's");
    let unknown_symbol = RejectReason::UnknownSymbol as u16;
    let got = alice.read(&mut core);
    assert_eq!(
        got[..5],
        [
            Got::Accepted { client_order_id: 1 },
            Got::Rejected {
                client_order_id: 2,
                reason: unknown_symbol
            },
            Got::Accepted { client_order_id: 3 },
            Got::Canceled {
                client_order_id: 3,
                reason: CancelReason::ImmediateRemainder as u8
            },
            Got::Status {
                request_id: 4,
                state: OrderState::Open as u8,
                reason: ACCEPTED
            },
        ]
    );
    assert_eq!(got[5], Got::Accepted { client_order_id: 5 });
    let canceled: Vec<_> = got[6..8].to_vec();
    assert!(canceled.iter().all(|g| matches!(g, Got::Canceled { .. })));
    assert_eq!(
        got[8..],
        [Got::MassCancelDone {
            request_id: 6,
            reason: ACCEPTED
        }]
    );
    assert_eq!(core.engine().resting_orders(), 0);
}

#[test]
fn a_session_end_runs_the_commands_read_before_it_then_cancels_on_disconnect() {
    let (mut core, _other, _keep) = two_shard_cores(64, |_| {});
    let mut wire = [0u8; 256];
    let logon = LogonMsg::new(1, b"alice-demo-token", 0, true).unwrap();
    let len = encode(&logon, 1, &mut wire).unwrap();
    let FirstMessage::LoggedOn(id) =
        core.first_message(&wire[..len], Rc::new(LocalNotify::default()), NOW)
    else {
        panic!("logon refused");
    };
    let mut alice = CoreClient { id, seq: 2 };
    assert_eq!(alice.read(&mut core), vec![Got::LogonAccepted]);
    let mut read = Read::new();
    read.add(&mut alice, &order(1, BTC, 4_900_000, TimeInForce::Gtc))
        .add(&mut alice, &order(2, BTC, 4_900_000, TimeInForce::Gtc));
    alice.seq += 1; // a gap: the session ends at the third message
    read.add(&mut alice, &order(3, BTC, 4_900_000, TimeInForce::Gtc));
    read.send(&mut core, &alice);
    assert_eq!(
        alice.read(&mut core),
        vec![
            Got::Accepted { client_order_id: 1 },
            Got::Accepted { client_order_id: 2 },
            Got::SessionEnd {
                reason: SessionEndReason::SequenceGap as u16,
                expected_seq: 4
            },
        ]
    );
    assert_eq!(
        core.engine().resting_orders(),
        0,
        "cancel-on-disconnect ran after both orders"
    );
}

#[test]
fn a_read_longer_than_a_batch_is_answered_whole_and_in_order() {
    let (mut core, mut other, _keep) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut core, 1, b"alice-demo-token");
    let orders = 2 * BATCH_MAX as u64 + 5;
    let mut read = Read::new();
    for i in 0..orders {
        // Every fourth order goes to the other shard's symbol.
        let msg = match i % 4 {
            3 => order(i, ETH, 290_000, TimeInForce::Gtc),
            _ => order(i, BTC, 4_900_000 - i as i64, TimeInForce::Gtc),
        };
        read.add(&mut alice, &msg);
    }
    read.send(&mut core, &alice);
    while other.poll_mesh(NOW) + core.poll_mesh(NOW) > 0 {}
    let got = alice.read(&mut core);
    let local: Vec<_> = got
        .iter()
        .filter_map(|g| match g {
            Got::Accepted { client_order_id } if client_order_id % 4 != 3 => Some(*client_order_id),
            _ => None,
        })
        .collect();
    let expected: Vec<_> = (0..orders).filter(|i| i % 4 != 3).collect();
    assert_eq!(local, expected, "this shard's answers in request order");
    assert_eq!(got.len() as u64, orders, "every order answered once");
    assert_eq!(core.engine().resting_orders() as u64, expected.len() as u64);
}
