//! The market-data path allocates nothing per event once warmed up: engine
//! events through the feed model (every stream, conflation ticks, end of
//! day), binary and JSON encoding into pre-allocated buffers, snapshots,
//! current values, heartbeats, control-message parsing and answers, a
//! connection's subscribe and unsubscribe, all
//! under a counting allocator that must read 0.

use crate::support::alloc_counter::allocations_in;
use tradsys::engine::*;
use tradsys::market_data::*;
use tradsys::protocol::market_data::*;

const LEVELS: u32 = 64;

/// Encodes every message twice (binary, JSON) into fixed buffers, as the
/// shard's framing stage will.
struct Encoder {
    binary: Vec<u8>,
    json: Vec<u8>,
    messages: u64,
    bytes: u64,
}

impl FeedSink for Encoder {
    fn publish(&mut self, message: &FeedMessage<'_>) {
        let b = encode_feed_message(message, &mut self.binary)
            .expect("buffer sized for the worst case");
        let j =
            render_feed_message(message, &mut self.json).expect("buffer sized for the worst case");
        self.messages += 1;
        self.bytes += (b + j) as u64;
    }
}

/// Hands each engine event to the feed, as the shard will.
struct Publish<'a> {
    feed: &'a mut Feed,
    encoder: &'a mut Encoder,
    ts: u64,
}

impl EventSink for Publish<'_> {
    fn emit(&mut self, event: &Event) {
        self.feed.apply(event, self.ts, self.encoder).unwrap();
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        symbols: vec![SymbolSpec {
            id: 1,
            tick_size: 1,
            lot_size: 1,
            reference_price: 1_000,
            price_band_bps: 5_000,
        }],
        accounts: (1..=2)
            .map(|id| AccountSpec {
                id,
                limits: RiskLimits::UNLIMITED,
                default_stp: StpMode::CancelResting,
            })
            .collect(),
        order_capacity: 1_024,
        max_levels_per_side: LEVELS,
    }
}

/// One round of order flow: levels across both sides, a sweep, a halt and
/// resume, mass cancels, a conflation tick.
fn round(engine: &mut Engine, publish: &mut Publish<'_>, i: u64) {
    for k in 0..30i64 {
        let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = if side == Side::Buy {
            990 - k
        } else {
            1_010 + k
        };
        let order = NewOrder {
            account: 1 + (k as u32 % 2),
            symbol: 1,
            client_order_id: i,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price,
            qty: 1 + k as u64 % 5,
        };
        publish.ts += 1;
        engine.process(&Command::New(order), publish);
    }
    let sweep = NewOrder {
        account: 1,
        symbol: 1,
        client_order_id: i,
        side: Side::Buy,
        kind: OrderKind::Market,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: Some(StpMode::CancelIncoming),
        price: 0,
        qty: 20,
    };
    engine.process(&Command::New(sweep), publish);
    engine.process(
        &Command::Halt {
            symbol: 1,
            on: true,
        },
        publish,
    );
    engine.process(
        &Command::Halt {
            symbol: 1,
            on: false,
        },
        publish,
    );
    for account in 1..=2 {
        let mass = Command::MassCancel {
            account,
            symbol: None,
            reason: CancelReason::MassCancel,
        };
        engine.process(&mass, publish);
    }
    publish.feed.tick_now(publish.encoder);
}

/// Snapshots, current values, heartbeats and control traffic.
fn reads(feed: &Feed, out: &mut [u8]) -> usize {
    let mut bytes = 0;
    for channel in [Channel::Book, Channel::BookConflated] {
        for depth in BOOK_DEPTHS {
            let snapshot = feed.snapshot(1, channel, depth).unwrap();
            bytes += encode_snapshot(&snapshot, out).unwrap();
            bytes += render_snapshot(&snapshot, out).unwrap();
        }
    }
    let state = feed.state(1).unwrap();
    for channel in Channel::ALL {
        bytes += encode_current(&state, channel, out).unwrap();
        bytes += render_current(&state, channel, out).unwrap();
        let info = HeartbeatInfo {
            channel,
            depth: 10,
            stream_last: feed.stream_last(1, channel, 10).unwrap(),
            send_ts_ns: 5,
        };
        bytes += encode_heartbeat(&state, &info, out).unwrap();
        bytes += render_heartbeat(&state, &info, out).unwrap();
    }
    let request = br#"{"op":"subscribe","req_id":7,"symbols":["BTC-USD",1],"channels":["book","trades"],"depth":25}"#;
    let parsed = parse_control(request).unwrap();
    for channel in parsed.channels.iter() {
        bytes += render_subscribed(
            parsed.req_id,
            (1, Some("BTC-USD")),
            channel,
            parsed.depth,
            state.seq,
            state.epoch,
            out,
        )
        .unwrap();
    }
    let error =
        parse_control(br#"{"op":"subscribe","symbols":[1],"channels":["nope"]}"#).unwrap_err();
    bytes += render_error(&error, None, None, out).unwrap();
    bytes
}

#[test]
fn the_feed_path_allocates_nothing_after_warm_up() {
    let mut engine = Engine::new(&config());
    let mut feed = Feed::new(FeedEpoch(9), &[1], LEVELS);
    // Worst case: a conflated tick of the whole book replacing every level.
    let worst = book_message_len::<BookUpdateMsg>(4 * LEVELS as usize) * 8;
    let mut encoder = Encoder {
        binary: vec![0; worst],
        json: vec![0; worst],
        messages: 0,
        bytes: 0,
    };
    let mut out = vec![0u8; worst];
    {
        let mut publish = Publish {
            feed: &mut feed,
            encoder: &mut encoder,
            ts: 0,
        };
        round(&mut engine, &mut publish, 0);
    }
    reads(&feed, &mut out);
    let before = encoder.messages;
    let (allocations, bytes) = allocations_in(|| {
        let mut bytes = 0;
        for i in 1..=50 {
            let mut publish = Publish {
                feed: &mut feed,
                encoder: &mut encoder,
                ts: i * 1_000,
            };
            round(&mut engine, &mut publish, i);
            engine.process(&Command::EndOfDay, &mut publish);
            publish.feed.end_of_day(i * 1_000 + 999, publish.encoder);
            bytes += reads(&feed, &mut out);
        }
        bytes
    });
    assert!(
        encoder.messages - before > 5_000,
        "the rounds published {}",
        encoder.messages - before
    );
    assert!(bytes > 0);
    assert_eq!(allocations, 0, "allocations on the market-data path");
}
