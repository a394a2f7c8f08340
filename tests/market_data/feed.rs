//! The feed model against the engine, under random order flow on two
//! symbols (proptest):
//! - a client that subscribes at a random point, loads the snapshot and
//!   applies only the binary messages of its stream rebuilds exactly the
//!   engine's book (whole book, or exactly the top N for a depth stream),
//!   after every command for `book`, after every tick for `book@100ms`;
//!   every checksum matches its own rebuilt book; every `prev` chains with
//!   no gap from the snapshot on;
//! - BBO, status and ticker messages agree with the engine and with a
//!   ticker recomputed from the trades;
//! - per symbol, the event sequences are 1, 2, 3, ... with no gap;
//! - the feed is a pure function of the events: a fresh feed fed only the
//!   recorded (event, journal time) log gives byte-identical messages;
//! - every message's JSON parses and carries the same seq as its binary;
//! - a sink that wants only some streams, or none for a while, gets from
//!   then on exactly the bytes a sink that wants all of them gets.

use crate::flow::*;
use crate::replica::{messages, Replica};
use proptest::prelude::*;
use tradsys::engine::*;
use tradsys::market_data::*;
use tradsys::protocol::market_data::*;

/// One input of the feed, as the shard would log it.
#[derive(Clone, Copy, Debug)]
enum Input {
    Event(Event, u64),
    EndOfDay(u64),
    Tick,
}

#[derive(Clone, Debug, PartialEq)]
struct Recorded {
    symbol: SymbolId,
    stream: (Channel, u16),
    seq: u64,
    binary: Vec<u8>,
    json: Vec<u8>,
}

#[derive(Default)]
struct Recorder {
    out: Vec<Recorded>,
}

impl FeedSink for Recorder {
    fn publish(&mut self, message: &FeedMessage<'_>) {
        let mut buf = vec![0u8; 1 << 20];
        let n = encode_feed_message(message, &mut buf).unwrap();
        let binary = buf[..n].to_vec();
        let n = render_feed_message(message, &mut buf).unwrap();
        let json = buf[..n].to_vec();
        self.out.push(Recorded {
            symbol: message.stamp().symbol,
            stream: message.stream(),
            seq: message.stamp().seq,
            binary,
            json,
        });
    }
}

/// A stream a test client subscribes to, and when.
#[derive(Debug)]
struct Client {
    symbol: SymbolId,
    channel: Channel,
    depth: u16,
    at: usize,
    replica: Replica,
    /// Messages of the stream consumed so far (index into the recording).
    cursor: usize,
    /// A heartbeat's `stream_last` right after the snapshot: the `prev`
    /// the next increment must carry (MARKET_DATA.md 4.3 step 5).
    heartbeat_last: Option<u64>,
}

fn engine_side(engine: &Engine, symbol: SymbolId, side: Side, depth: u16) -> Vec<(i64, u64, u32)> {
    let n = if depth == 0 {
        usize::MAX
    } else {
        depth as usize
    };
    engine
        .depth(symbol, side, n)
        .map(|l| (l.price, l.qty, l.order_count))
        .collect()
}

fn subscribe(client: &mut Client, feed: &Feed, recorded: usize) -> Result<(), String> {
    let snapshot = feed
        .snapshot(client.symbol, client.channel, client.depth)
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let n = encode_snapshot(&snapshot, &mut buf).unwrap();
    client.replica.load(&buf[..n])?;
    client.cursor = recorded;
    let stream_last = feed
        .stream_last(client.symbol, client.channel, client.depth)
        .unwrap();
    if stream_last > snapshot.seq {
        return Err(format!(
            "stream_last {stream_last} after a snapshot at {}",
            snapshot.seq
        ));
    }
    client.heartbeat_last = Some(stream_last);
    Ok(())
}

fn catch_up(client: &mut Client, recorded: &[Recorded]) -> Result<(), String> {
    for r in &recorded[client.cursor..] {
        if r.symbol == client.symbol && r.stream == (client.channel, client.depth) {
            // A BookUpdate's `prev` is at offset 24, after the header.
            let prev = u64::from_le_bytes(r.binary[24..32].try_into().unwrap());
            if let Some(last) = client.heartbeat_last.take() {
                if prev != last {
                    return Err(format!("first prev {prev}, heartbeat said {last}"));
                }
            }
            client.replica.update(&r.binary)?;
        }
    }
    client.cursor = recorded.len();
    Ok(())
}

fn check_book(client: &Client, engine: &Engine, when: &str) -> Result<(), String> {
    let r = &client.replica;
    let bids = engine_side(engine, client.symbol, Side::Buy, client.depth);
    let asks = engine_side(engine, client.symbol, Side::Sell, client.depth);
    if r.bids_best_first() != bids || r.asks_best_first() != asks {
        return Err(format!(
            "{when}: {:?} depth {} of {} differs from the engine\nreplica bids {:?}\nengine  bids {:?}\nreplica asks {:?}\nengine  asks {:?}",
            client.channel, client.depth, client.symbol,
            r.bids_best_first(), bids, r.asks_best_first(), asks
        ));
    }
    Ok(())
}

struct Run {
    log: Vec<Input>,
    recorded: Vec<Recorded>,
}

fn book_clients(ats: &[usize]) -> Vec<Client> {
    let mut clients = Vec::new();
    let mut i = 0;
    for symbol in SYMBOLS {
        for channel in [Channel::Book, Channel::BookConflated] {
            for depth in BOOK_DEPTHS {
                clients.push(Client {
                    symbol,
                    channel,
                    depth,
                    at: ats[i % ats.len()],
                    replica: Replica::default(),
                    cursor: 0,
                    heartbeat_last: None,
                });
                i += 1;
            }
        }
    }
    clients
}

fn step_clients(
    clients: &mut [Client],
    index: usize,
    feed: &Feed,
    engine: &Engine,
    recorded: &[Recorded],
    ticked: bool,
) -> Result<(), String> {
    for client in clients.iter_mut() {
        if client.at == index {
            subscribe(client, feed, recorded.len())?;
        }
        if !client.replica.loaded {
            continue;
        }
        catch_up(client, recorded)?;
        // A conflated book equals the engine's only right after a tick.
        if client.channel == Channel::Book || ticked {
            check_book(client, engine, &format!("after op {index}"))?;
        }
    }
    Ok(())
}

fn check_live_state(feed: &Feed, engine: &Engine) -> Result<(), String> {
    for symbol in SYMBOLS {
        let state = feed.state(symbol).unwrap();
        let bid = engine.depth(symbol, Side::Buy, 1).next();
        let ask = engine.depth(symbol, Side::Sell, 1).next();
        let bbo = state.bbo;
        if (bbo.bid_price, bbo.bid_qty) != bid.map_or((0, 0), |l| (l.price, l.qty))
            || (bbo.ask_price, bbo.ask_qty) != ask.map_or((0, 0), |l| (l.price, l.qty))
        {
            return Err(format!(
                "bbo of {symbol} differs: {bbo:?} vs {bid:?} {ask:?}"
            ));
        }
        let halted = engine.is_halted(symbol).unwrap();
        if (state.status == TradingStatus::Halted) != halted {
            return Err(format!("status of {symbol} differs"));
        }
    }
    Ok(())
}

fn run(ops: &[FlowOp], ats: &[usize]) -> Result<Run, String> {
    let mut engine = Engine::new(&config());
    let mut feed = Feed::new(FeedEpoch(77), &SYMBOLS, LEVELS);
    let mut recorder = Recorder::default();
    let mut log = Vec::new();
    let mut orders = Vec::new();
    let mut clients = book_clients(ats);
    for (index, op) in ops.iter().enumerate() {
        step_clients(&mut clients, index, &feed, &engine, &recorder.out, false)?;
        let ts = 1_000 * (index as u64 + 1);
        let Some(command) = command(op, &orders) else {
            feed.tick_now(&mut recorder);
            log.push(Input::Tick);
            step_clients(
                &mut clients,
                usize::MAX,
                &feed,
                &engine,
                &recorder.out,
                true,
            )?;
            continue;
        };
        let mut events = Vec::new();
        engine.process(&command, &mut events);
        for event in &events {
            if let Event::Accepted {
                order_id,
                account,
                symbol,
                tif,
                ..
            } = *event
            {
                if tif.rests() {
                    orders.push((order_id, account, symbol));
                }
            }
            feed.apply(event, ts, &mut recorder)
                .map_err(|e| format!("{e:?}"))?;
            log.push(Input::Event(*event, ts));
        }
        if command == Command::EndOfDay {
            feed.end_of_day(ts, &mut recorder);
            log.push(Input::EndOfDay(ts));
        }
        check_live_state(&feed, &engine)?;
    }
    step_clients(
        &mut clients,
        ops.len(),
        &feed,
        &engine,
        &recorder.out,
        false,
    )?;
    feed.tick_now(&mut recorder);
    log.push(Input::Tick);
    step_clients(
        &mut clients,
        usize::MAX,
        &feed,
        &engine,
        &recorder.out,
        true,
    )?;
    Ok(Run {
        log,
        recorded: recorder.out,
    })
}

fn replay(log: &[Input]) -> Vec<Recorded> {
    let mut feed = Feed::new(FeedEpoch(77), &SYMBOLS, LEVELS);
    let mut recorder = Recorder::default();
    for input in log {
        match *input {
            Input::Event(event, ts) => feed.apply(&event, ts, &mut recorder).unwrap(),
            Input::EndOfDay(ts) => feed.end_of_day(ts, &mut recorder),
            Input::Tick => feed.tick_now(&mut recorder),
        }
    }
    recorder.out
}

/// A sink that wants only some streams, and nothing before input `from`,
/// then in turns of `period` inputs (wanted, not wanted, wanted again):
/// a shard whose clients come and go. It keeps what it wants of what it is
/// given (`FeedSink::wants` lets a feed leave messages out, never makes it
/// send them).
struct Choosy {
    recorder: Recorder,
    at: usize,
    from: usize,
    period: usize,
    /// Bit `channel - 1` of entry `symbol - 1`.
    wanted: [u8; SYMBOLS.len()],
}

impl FeedSink for Choosy {
    fn publish(&mut self, message: &FeedMessage<'_>) {
        let (symbol, channel) = (message.stamp().symbol, message.stream().0);
        if self.wants(symbol, channel) {
            self.recorder.publish(message);
        }
    }

    fn wants(&self, symbol: SymbolId, channel: Channel) -> bool {
        let row = SYMBOLS.iter().position(|&s| s == symbol).unwrap();
        let on = self.at >= self.from && ((self.at - self.from) / self.period).is_multiple_of(2);
        on && self.wanted[row] & (1 << (channel as u8 - 1)) != 0
    }
}

/// The log replayed into a sink that wants `wanted` from input `from` on
/// in turns of `period`, and what a sink that wants everything got in
/// those turns for those streams.
fn replay_choosy(
    log: &[Input],
    (from, period): (usize, usize),
    wanted: [u8; SYMBOLS.len()],
) -> (Vec<Recorded>, Vec<Recorded>) {
    let mut feed = Feed::new(FeedEpoch(77), &SYMBOLS, LEVELS);
    let mut all = Feed::new(FeedEpoch(77), &SYMBOLS, LEVELS);
    let mut choosy = Choosy {
        recorder: Recorder::default(),
        at: 0,
        from,
        period,
        wanted,
    };
    let mut expected = Vec::new();
    for (at, input) in log.iter().enumerate() {
        choosy.at = at;
        let mut recorder = Recorder::default();
        match *input {
            Input::Event(event, ts) => {
                feed.apply(&event, ts, &mut choosy).unwrap();
                all.apply(&event, ts, &mut recorder).unwrap();
            }
            Input::EndOfDay(ts) => {
                feed.end_of_day(ts, &mut choosy);
                all.end_of_day(ts, &mut recorder);
            }
            Input::Tick => {
                feed.tick_now(&mut choosy);
                all.tick_now(&mut recorder);
            }
        }
        expected.extend(
            recorder
                .out
                .into_iter()
                .filter(|r| choosy.wants(r.symbol, r.stream.0)),
        );
    }
    (choosy.recorder.out, expected)
}

fn check_sequences(recorded: &[Recorded]) -> Result<(), String> {
    for symbol in SYMBOLS {
        let mut last = 0;
        for r in recorded.iter().filter(|r| r.symbol == symbol) {
            if r.stream.0 == Channel::BookConflated {
                if r.seq > last {
                    return Err(format!(
                        "conflated seq {} ahead of the events ({last})",
                        r.seq
                    ));
                }
                continue;
            }
            if r.seq != last && r.seq != last + 1 {
                return Err(format!("symbol {symbol}: seq {} after {last}", r.seq));
            }
            last = r.seq;
        }
    }
    Ok(())
}

/// Trades, BBO, ticker and status streams: `prev` chains, and the ticker
/// equals one recomputed from the trades of the session.
fn check_other_streams(recorded: &[Recorded]) -> Result<(), String> {
    for symbol in SYMBOLS {
        let mut last = [0u64; 4];
        let mut ticker = Ticker::default();
        for r in recorded.iter().filter(|r| r.symbol == symbol) {
            let slot = match r.stream.0 {
                Channel::Trades => 0,
                Channel::Bbo => 1,
                Channel::Ticker => 2,
                Channel::Status => 3,
                _ => continue,
            };
            let view = messages(&r.binary)[0];
            let prev = match view {
                MdView::Trade(m) => {
                    ticker.on_trade(m.price.get(), m.qty.get());
                    m.prev.get()
                }
                MdView::Bbo(m) => m.prev.get(),
                MdView::Status(m) => {
                    if m.event == StatusEvent::EndOfDay as u8 {
                        ticker.reset();
                    }
                    m.prev.get()
                }
                MdView::Ticker(m) => {
                    let volume_ok = m.volume.get() == ticker.volume
                        && m.trade_count.get() == ticker.trade_count
                        && m.vwap.get() == ticker.vwap().unwrap_or(0)
                        && (m.notional_lo.get() as u128 | (m.notional_hi.get() as u128) << 64)
                            as i128
                            == ticker.notional;
                    if !volume_ok {
                        return Err(format!("ticker differs: {m:?} vs {ticker:?}"));
                    }
                    m.prev.get()
                }
                other => return Err(format!("unexpected {other:?}")),
            };
            if prev != last[slot] {
                return Err(format!(
                    "{:?} of {symbol}: prev {prev}, last {}",
                    r.stream, last[slot]
                ));
            }
            last[slot] = r.seq;
        }
    }
    Ok(())
}

fn check_json(recorded: &[Recorded]) -> Result<(), String> {
    for r in recorded {
        let value: serde_json::Value = serde_json::from_slice(&r.json)
            .map_err(|e| format!("bad JSON {e}: {}", String::from_utf8_lossy(&r.json)))?;
        if value["seq"] != serde_json::Value::String(r.seq.to_string())
            || value["symbol"] != r.symbol
        {
            return Err(format!("JSON differs from binary: {value}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96),
        )
    })]

    #[test]
    fn clients_rebuild_the_engine_book_and_replay_is_identical(
        ops in prop::collection::vec(op(), 1..250),
        ats in prop::collection::vec(0..250usize, 1..8),
    ) {
        let ats: Vec<usize> = ats.iter().map(|a| a % (ops.len() + 1)).collect();
        let run = run(&ops, &ats).map_err(TestCaseError::fail)?;
        check_sequences(&run.recorded).map_err(TestCaseError::fail)?;
        check_other_streams(&run.recorded).map_err(TestCaseError::fail)?;
        check_json(&run.recorded).map_err(TestCaseError::fail)?;
        prop_assert!(replay(&run.log) == run.recorded, "replay gave different messages");
    }

    /// A feed whose sink wants few streams, or none for a while, skips
    /// messages (and their checksums, and the depth views' upkeep) but no
    /// state: what it sends once wanted, and again after a while unwanted,
    /// is byte for byte what a feed that always sent would send.
    #[test]
    fn unwanted_streams_are_skipped_without_changing_the_wanted_ones(
        ops in prop::collection::vec(op(), 1..250),
        from in 0..300usize,
        period in prop_oneof![1..40usize, Just(usize::MAX)],
        wanted in prop::array::uniform2(0u8..64),
    ) {
        let run = run(&ops, &[0]).map_err(TestCaseError::fail)?;
        let (got, expected) = replay_choosy(&run.log, (from, period), wanted);
        prop_assert!(got == expected, "a skipped message changed what followed");
    }
}

#[test]
fn a_sweep_publishes_each_level_once_per_stream_with_explicit_depth_edges() {
    let mut engine = Engine::new(&config());
    let mut feed = Feed::new(FeedEpoch(1), &SYMBOLS, LEVELS);
    let mut recorder = Recorder::default();
    let mut events = Vec::new();
    for i in 0..12 {
        let order = NewOrder {
            account: 1,
            symbol: 1,
            client_order_id: i,
            side: Side::Sell,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price: 1_000 + i as i64,
            qty: 1,
        };
        engine.process(&Command::New(order), &mut events);
    }
    for event in events.drain(..) {
        feed.apply(&event, 5, &mut recorder).unwrap();
    }
    // 12 levels: the depth-10 stream saw 10 inserts, the whole book 12.
    let count = |depth| {
        recorder
            .out
            .iter()
            .filter(|r| r.stream == (Channel::Book, depth))
            .count()
    };
    assert_eq!((count(0), count(10), count(25)), (12, 10, 12));
    recorder.out.clear();
    // A buy that takes the best ask: depth 10 gets the delete and the 11th level.
    let take = NewOrder {
        account: 2,
        symbol: 1,
        client_order_id: 99,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: None,
        price: 1_000,
        qty: 1,
    };
    engine.process(&Command::New(take), &mut events);
    for event in events.drain(..) {
        feed.apply(&event, 6, &mut recorder).unwrap();
    }
    let depth10: Vec<_> = recorder
        .out
        .iter()
        .filter(|r| r.stream == (Channel::Book, 10))
        .collect();
    assert_eq!(depth10.len(), 1);
    let MdView::BookUpdate(_, entries) = messages(&depth10[0].binary)[0] else {
        panic!()
    };
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.price.get(), e.qty.get()))
        .collect();
    assert_eq!(got, [(1_000, 0), (1_010, 1)]);
    let kinds: Vec<_> = recorder.out.iter().map(|r| r.stream.0).collect();
    assert_eq!(
        kinds,
        [
            Channel::Trades,
            Channel::Ticker,
            Channel::Book,
            Channel::Book,
            Channel::Book,
            Channel::Book,
            Channel::Bbo
        ]
    );
}

#[test]
fn books_over_1024_levels_travel_in_parts_and_rebuild_exactly() {
    let levels = 700u32;
    let mut feed = Feed::new(FeedEpoch(3), &[1], levels);
    let mut recorder = Recorder::default();
    for i in 0..levels as i64 {
        let bid = Event::BookLevel {
            symbol: 1,
            side: Side::Buy,
            price: 10_000 - i,
            qty: 1 + i as u64,
            order_count: 1,
        };
        let ask = Event::BookLevel {
            symbol: 1,
            side: Side::Sell,
            price: 10_001 + i,
            qty: 2 + i as u64,
            order_count: 2,
        };
        feed.apply(&bid, 1, &mut NullSink).unwrap();
        feed.apply(&ask, 1, &mut NullSink).unwrap();
    }
    // The conflated whole-book stream's first tick carries 1,400 changes.
    feed.tick_now(&mut recorder);
    let conflated = recorder
        .out
        .iter()
        .find(|r| r.stream == (Channel::BookConflated, FULL_DEPTH))
        .unwrap();
    let parts = messages(&conflated.binary);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].header().flags, flags::CONTINUED);
    assert_eq!(parts[1].header().flags, 0);
    assert_eq!(
        parts
            .iter()
            .map(|p| p.header().entry_count.get())
            .collect::<Vec<_>>(),
        [1024, 376]
    );
    let mut from_updates = Replica {
        loaded: true,
        ..Replica::default()
    };
    from_updates.update(&conflated.binary).unwrap();
    // The whole-book snapshot: 700 bids then 700 asks, split after 1,024.
    let snapshot = feed.snapshot(1, Channel::Book, FULL_DEPTH).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let n = encode_snapshot(&snapshot, &mut buf).unwrap();
    let snapshot_parts = messages(&buf[..n]);
    let counts: Vec<_> = snapshot_parts
        .iter()
        .map(|p| match p {
            MdView::BookSnapshot(m, _) => (m.bid_count.get(), m.ask_count.get()),
            _ => panic!("not a snapshot part"),
        })
        .collect();
    assert_eq!(counts, [(700, 324), (0, 376)]);
    let mut from_snapshot = Replica::default();
    from_snapshot.load(&buf[..n]).unwrap();
    assert_eq!(
        from_snapshot.bids_best_first(),
        from_updates.bids_best_first()
    );
    assert_eq!(
        from_snapshot.asks_best_first(),
        from_updates.asks_best_first()
    );
    assert_eq!(from_snapshot.bids.len() + from_snapshot.asks.len(), 1_400);
    // And the JSON snapshot is one object with every level.
    let n = render_snapshot(&snapshot, &mut buf).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(
        (
            v["bids"].as_array().unwrap().len(),
            v["asks"].as_array().unwrap().len()
        ),
        (700, 700)
    );
}
