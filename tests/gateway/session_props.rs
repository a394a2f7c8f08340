//! Nothing a client sends may panic a shard: random, well-sequenced
//! streams of every client message with random field values (and random
//! garbage) go through two shard cores joined by real rings; afterwards
//! every byte the gateway produced decodes, and both engines pass their
//! invariant checks.

use std::rc::Rc;

use crate::support::shards::two_shard_cores;
use proptest::prelude::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore, PRE_LOGON_END_BYTES};
use tradsys::shard::mesh::SessionRef;
use tradsys::shard::notify::LocalNotify;
use zerocopy::little_endian::{I64, U32, U64};

fn two_shards() -> (ShardCore, ShardCore, Vec<tradsys::shard::mesh::ShardRing>) {
    two_shard_cores(16, |config| {
        config.engine.order_capacity = 64;
        config.engine.max_levels_per_side = 8;
        config.session.send_buffer_bytes = 1 << 16;
    })
}

#[derive(Clone, Debug)]
enum Step {
    New {
        symbol: u32,
        side: u8,
        kind: u8,
        tif: u8,
        flags: u8,
        stp: u8,
        price: i64,
        qty: u64,
    },
    Cancel {
        symbol: u32,
        order_id: u64,
    },
    Replace {
        symbol: u32,
        order_id: u64,
        price: i64,
        qty: u64,
    },
    MassCancel {
        symbol: u32,
    },
    Status {
        symbol: u32,
        order_id: u64,
    },
    /// OrderQuery (kind 0), OpenOrdersRequest (1), PositionsRequest (2),
    /// with any cursor: a client may send one the gateway never made.
    Query {
        kind: u8,
        symbol: u32,
        place: u32,
        after: u64,
    },
    Heartbeat,
    Garbage(Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    let symbol = prop_oneof![Just(1u32), Just(2), Just(3), Just(0), any::<u32>()];
    let price = prop_oneof![
        4_500_000i64..5_500_000,
        270_000i64..330_000,
        12_000i64..18_000,
        any::<i64>()
    ];
    let qty = prop_oneof![1u64..50, (1u64..20).prop_map(|q| q * 100), any::<u64>()];
    let id = prop_oneof![1u64..40, any::<u64>()];
    prop_oneof![
        6 => (symbol.clone(), 0u8..4, 0u8..4, 0u8..6, 0u8..3, 0u8..5, price.clone(), qty.clone()).prop_map(
            |(symbol, side, kind, tif, flags, stp, price, qty)| Step::New { symbol, side, kind, tif, flags, stp, price, qty }
        ),
        2 => (symbol.clone(), id.clone()).prop_map(|(symbol, order_id)| Step::Cancel { symbol, order_id }),
        2 => (symbol.clone(), id.clone(), price, qty).prop_map(|(symbol, order_id, price, qty)| Step::Replace { symbol, order_id, price, qty }),
        1 => symbol.clone().prop_map(|symbol| Step::MassCancel { symbol }),
        1 => (symbol.clone(), id.clone()).prop_map(|(symbol, order_id)| Step::Status { symbol, order_id }),
        2 => (0u8..3, symbol, prop_oneof![Just(0u32), 0u32..3, Just(1u32 << 16), any::<u32>()], prop_oneof![id, Just(u64::MAX)])
            .prop_map(|(kind, symbol, place, after)| Step::Query { kind, symbol, place, after }),
        1 => Just(Step::Heartbeat),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Step::Garbage),
    ]
}

struct Client {
    id: SessionRef,
    seq: u32,
    spare: Vec<u8>,
}

impl Client {
    fn send<M: WireMessage>(&mut self, core: &mut ShardCore, msg: &M, now: Now) {
        let mut wire = [0u8; 256];
        let len = encode(msg, self.seq, &mut wire).unwrap();
        self.seq = self.seq.wrapping_add(1);
        core.on_bytes(self.id, &wire[..len], now);
    }

    /// Every byte the gateway wrote must decode as well-formed messages.
    fn drain(&mut self, core: &mut ShardCore) -> bool {
        let mut ended = false;
        while core.take_output(self.id, &mut self.spare) == Output::Data {
            let mut at = 0;
            while at < self.spare.len() {
                let decoded = decode_gateway(&self.spare[at..]).expect("gateway output decodes");
                ended |= matches!(decoded.message, GatewayMessage::SessionEnd(_));
                at += decoded.len;
            }
            self.spare.clear();
        }
        ended
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_client_streams_never_panic_a_shard(steps in proptest::collection::vec(step(), 1..120), account in 1u32..3) {
        let (mut a, mut b, _keep) = two_shards();
        let mut now = Now { mono_ns: 1, wall_ns: 1 };
        let token: &[u8] = if account == 1 { b"alice-demo-token" } else { b"bob-demo-token" };
        let mut wire = [0u8; 256];
        let len = encode(&LogonMsg::new(account, token, 0, false).unwrap(), 1, &mut wire).unwrap();
        let id = match a.first_message(&wire[..len], Rc::new(LocalNotify::default()), now) {
            FirstMessage::LoggedOn(id) => id,
            other => panic!("logon: {other:?}"),
        };
        let mut client = Client { id, seq: 2, spare: Vec::new() };
        for step in steps {
            now.mono_ns += 10_000;
            match step {
                Step::New { symbol, side, kind, tif, flags, stp, price, qty } => {
                    let mut m = <NewOrderMsg as zerocopy::FromZeros>::new_zeroed();
                    m.client_order_id = U64::new(now.mono_ns);
                    m.symbol = U32::new(symbol);
                    m.side = side;
                    m.order_kind = kind;
                    m.tif = tif;
                    m.flags = flags;
                    m.stp = stp;
                    m.price = I64::new(price);
                    m.qty = U64::new(qty);
                    client.send(&mut a, &m, now);
                }
                Step::Cancel { symbol, order_id } => client.send(&mut a, &CancelOrderMsg::new(1, order_id, symbol), now),
                Step::Replace { symbol, order_id, price, qty } => {
                    client.send(&mut a, &ReplaceOrderMsg::new(2, order_id, symbol, price, qty), now)
                }
                Step::MassCancel { symbol } => {
                    client.send(&mut a, &MassCancelMsg::new(3, (symbol != 0).then_some(symbol)), now)
                }
                Step::Status { symbol, order_id } => {
                    client.send(&mut a, &OrderStatusRequestMsg::new(4, order_id, symbol), now)
                }
                Step::Query { kind, symbol, place, after } => {
                    let cursor = QueryCursor { place, after };
                    let symbol_or_all = (symbol != 0).then_some(symbol);
                    match kind {
                        0 => client.send(&mut a, &OrderQueryMsg::new(5, after, symbol), now),
                        1 => client.send(&mut a, &OpenOrdersRequestMsg::new(6, symbol_or_all, cursor), now),
                        _ => client.send(&mut a, &PositionsRequestMsg::new(7, symbol_or_all, cursor), now),
                    }
                }
                Step::Heartbeat => client.send(&mut a, &ClientHeartbeatMsg::new(), now),
                Step::Garbage(bytes) => {
                    a.on_bytes(client.id, &bytes, now);
                }
            }
            while a.poll_mesh(now) + b.poll_mesh(now) > 0 {}
            if client.drain(&mut a) {
                break; // the session ended (framing error, sequence...)
            }
        }
        a.engine().check_invariants();
        b.engine().check_invariants();
    }

    /// Whatever a connection sends first, it is a session only if it was
    /// a valid Logon; otherwise what it is told decodes, and no session
    /// slot was taken.
    #[test]
    fn random_first_bytes_never_make_a_session(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let (mut a, _b, _keep) = two_shards();
        let now = Now { mono_ns: 1, wall_ns: 1 };
        match a.first_message(&bytes, Rc::new(LocalNotify::default()), now) {
            FirstMessage::LoggedOn(_) => panic!("a session from random bytes"),
            FirstMessage::Incomplete { needed } => prop_assert!(needed > bytes.len()),
            FirstMessage::Refused(end) => {
                let mut out = [0u8; PRE_LOGON_END_BYTES];
                let len = end.encode(&mut out);
                let mut at = 0;
                let mut last = None;
                while at < len {
                    let decoded = decode_gateway(&out[at..len]).expect("the refusal decodes");
                    last = Some(matches!(decoded.message, GatewayMessage::SessionEnd(_)));
                    at += decoded.len;
                }
                prop_assert_eq!(last, Some(true), "SessionEnd comes last");
            }
        }
        prop_assert_eq!(a.live_sessions(), 0);
    }
}
