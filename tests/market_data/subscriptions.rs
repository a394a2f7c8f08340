//! One connection's subscriptions under random order flow (proptest):
//! random subscribes, resubscribes (resyncs, at other depths) and
//! unsubscribes of every channel between random commands; the connection
//! gets, in order, the answers and snapshots `Subscriptions::apply` writes
//! and the stream frames a fan-out forwards for the streams it `wants`.
//! A client reading only those frames keeps every stream gap-free across
//! subscribe, unsubscribe and resubscribe (every `prev` from the answer's
//! or snapshot's `seq` on), and its books equal the engine's (`book` after
//! every command, `book@100ms` after every tick). Also: the per-connection
//! limit, `not_subscribed`, `unknown_symbol`, and the JSON format.

use std::collections::BTreeMap;

use crate::flow::*;
use crate::replica::{messages, Replica};
use proptest::prelude::*;
use tradsys::engine::*;
use tradsys::market_data::*;
use tradsys::protocol::market_data::*;

struct Directory;

impl SymbolDirectory for Directory {
    fn by_name(&self, name: &[u8]) -> Option<u32> {
        match name {
            b"BTC-USD" => Some(1),
            b"ETH-USD" => Some(2),
            b"SOL-USD" => Some(3), // configured, but not in this feed
            _ => None,
        }
    }

    fn name_of(&self, id: u32) -> Option<&str> {
        ["BTC-USD", "ETH-USD", "SOL-USD"]
            .get((id as usize).wrapping_sub(1))
            .copied()
    }
}

#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// The connection: its subscriptions and what it was sent, in order.
struct Connection {
    subs: Subscriptions,
    sent: Vec<Frame>,
    format: DataFormat,
}

impl Connection {
    fn request(&mut self, feed: &Feed, text: &str) {
        let mut scratch = vec![0u8; 1 << 20];
        let sent = &mut self.sent;
        let mut answer = Answer {
            format: self.format,
            scratch: &mut scratch,
            write: |o: Outgoing<'_>| {
                sent.push(match o {
                    Outgoing::Text(t) => Frame::Text(String::from_utf8(t.to_vec()).unwrap()),
                    Outgoing::Binary(b) => Frame::Binary(b.to_vec()),
                })
            },
        };
        match parse_control(text.as_bytes()) {
            Ok(request) => self
                .subs
                .apply(&request, feed, &Directory, &mut answer)
                .unwrap(),
            Err(e) => answer.refuse(&e).unwrap(),
        }
    }
}

/// The fan-out: forwards a stream's frames to a connection that wants them.
struct FanOut<'a> {
    conn: &'a mut Connection,
}

impl FeedSink for FanOut<'_> {
    fn publish(&mut self, m: &FeedMessage<'_>) {
        let (channel, depth) = m.stream();
        if !self.conn.subs.wants(m.stamp().symbol, channel, depth) {
            return;
        }
        let mut buf = vec![0u8; 1 << 20];
        let n = encode_feed_message(m, &mut buf).unwrap();
        self.conn.sent.push(Frame::Binary(buf[..n].to_vec()));
    }
}

/// The client: per (symbol, channel), its replica (books) or chain (others).
#[derive(Default)]
struct Client {
    streams: BTreeMap<(u32, u8), (u16, Replica)>,
    /// A book stream whose snapshot is the next binary frame.
    awaiting: Option<(u32, u8, u16)>,
    read: usize,
}

impl Client {
    fn read(&mut self, sent: &[Frame]) -> Result<(), String> {
        for frame in &sent[self.read..] {
            match frame {
                Frame::Text(t) => self.answer(t)?,
                Frame::Binary(b) => self.data(b)?,
            }
        }
        self.read = sent.len();
        Ok(())
    }

    fn answer(&mut self, text: &str) -> Result<(), String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let symbol = v["symbol"].as_u64().unwrap_or(0) as u32;
        let channel = v["channel"]
            .as_str()
            .and_then(|c| Channel::from_name(c.as_bytes()));
        match v["type"].as_str() {
            Some("subscribed") => {
                let channel = channel.unwrap();
                let seq: u64 = v["seq"].as_str().unwrap().parse().unwrap();
                let depth = v["depth"].as_u64().unwrap_or(0) as u16;
                let replica = Replica {
                    last: seq,
                    loaded: true,
                    ..Replica::default()
                };
                self.streams
                    .insert((symbol, channel as u8), (depth, replica));
                if channel.is_book() {
                    self.awaiting = Some((symbol, channel as u8, depth));
                }
            }
            Some("unsubscribed") => {
                self.streams.remove(&(symbol, channel.unwrap() as u8));
            }
            Some("error") if v["code"] == "not_subscribed" => {
                if self.streams.contains_key(&(symbol, channel.unwrap() as u8)) {
                    return Err(format!("not_subscribed to a stream it has: {text}"));
                }
            }
            other => return Err(format!("unexpected answer {other:?}: {text}")),
        }
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), String> {
        let view = messages(bytes)[0];
        let header = view.header();
        let symbol = header.symbol.get();
        if let MdView::BookSnapshot(msg, _) = view {
            let key = self.awaiting.take().ok_or("a snapshot nobody waits for")?;
            if (key.0, key.1, key.2) != (symbol, msg.channel, msg.depth.get()) {
                return Err("snapshot of another stream".into());
            }
            return self
                .streams
                .get_mut(&(symbol, msg.channel))
                .unwrap()
                .1
                .load(bytes);
        }
        let (channel, prev) = match view {
            MdView::BookUpdate(m, _) => (m.channel, None),
            MdView::Trade(m) => (Channel::Trades as u8, Some(m.prev.get())),
            MdView::Bbo(m) => (Channel::Bbo as u8, Some(m.prev.get())),
            MdView::Ticker(m) => (Channel::Ticker as u8, Some(m.prev.get())),
            MdView::Status(m) => (Channel::Status as u8, Some(m.prev.get())),
            other => return Err(format!("unexpected {other:?}")),
        };
        let (_, stream) = self
            .streams
            .get_mut(&(symbol, channel))
            .ok_or_else(|| format!("a frame of a stream not subscribed: {symbol} {channel}"))?;
        match prev {
            None => stream.update(bytes),
            Some(_) if header.flags & flags::SNAPSHOT != 0 => {
                stream.last = header.seq.get();
                Ok(())
            }
            Some(prev) => stream.chain(header.seq.get(), prev),
        }
    }

    fn check_books(&self, engine: &Engine, conflated: bool) -> Result<(), String> {
        for (&(symbol, channel), (depth, replica)) in &self.streams {
            let book = channel == Channel::Book as u8;
            if !(book || conflated && channel == Channel::BookConflated as u8) {
                continue;
            }
            let n = if *depth == 0 {
                usize::MAX
            } else {
                *depth as usize
            };
            let side = |s| {
                engine
                    .depth(symbol, s, n)
                    .map(|l| (l.price, l.qty, l.order_count))
                    .collect::<Vec<_>>()
            };
            if replica.bids_best_first() != side(Side::Buy)
                || replica.asks_best_first() != side(Side::Sell)
            {
                return Err(format!(
                    "book {symbol} channel {channel} depth {depth} differs from the engine"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Action {
    Flow(FlowOp),
    Subscribe {
        sym: usize,
        channel: u8,
        depth: usize,
    },
    Unsubscribe {
        sym: usize,
        channel: u8,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => op().prop_map(Action::Flow),
        2 => (0..2usize, 1..=6u8, 0..4usize).prop_map(|(sym, channel, depth)| Action::Subscribe { sym, channel, depth }),
        1 => (0..2usize, 1..=6u8).prop_map(|(sym, channel)| Action::Unsubscribe { sym, channel }),
    ]
}

fn request_text(action: &Action) -> Option<String> {
    let name = |sym: usize| ["BTC-USD", "ETH-USD"][sym];
    Some(match action {
        Action::Subscribe {
            sym,
            channel,
            depth,
        } => format!(
            r#"{{"op":"subscribe","symbols":["{}"],"channels":["{}"],"depth":{}}}"#,
            name(*sym),
            Channel::from_u8(*channel).unwrap().name(),
            BOOK_DEPTHS[*depth]
        ),
        Action::Unsubscribe { sym, channel } => format!(
            r#"{{"op":"unsubscribe","symbols":[{}],"channels":["{}"]}}"#,
            SYMBOLS[*sym],
            Channel::from_u8(*channel).unwrap().name()
        ),
        Action::Flow(_) => return None,
    })
}

fn run(actions: &[Action]) -> Result<(), String> {
    let mut engine = Engine::new(&config());
    let mut feed = Feed::new(FeedEpoch(5), &SYMBOLS, LEVELS);
    let mut conn = Connection {
        subs: Subscriptions::default(),
        sent: Vec::new(),
        format: DataFormat::Binary,
    };
    let mut client = Client::default();
    let mut orders = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        let ts = 1_000 * (index as u64 + 1);
        let mut ticked = false;
        if let Some(text) = request_text(action) {
            conn.request(&feed, &text);
        } else if let Action::Flow(op) = action {
            match command(op, &orders) {
                None => {
                    feed.tick_now(&mut FanOut { conn: &mut conn });
                    ticked = true;
                }
                Some(command) => {
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
                        feed.apply(event, ts, &mut FanOut { conn: &mut conn })
                            .unwrap();
                    }
                    if command == Command::EndOfDay {
                        feed.end_of_day(ts, &mut FanOut { conn: &mut conn });
                    }
                }
            }
        }
        client
            .read(&conn.sent)
            .map_err(|e| format!("after action {index}: {e}"))?;
        client
            .check_books(&engine, ticked)
            .map_err(|e| format!("after action {index}: {e}"))?;
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
    fn streams_stay_gap_free_across_subscribe_unsubscribe_and_resubscribe(
        actions in prop::collection::vec(action(), 1..250)
    ) {
        run(&actions).map_err(TestCaseError::fail)?;
    }
}

fn texts(conn: &Connection) -> Vec<String> {
    conn.sent
        .iter()
        .filter_map(|f| match f {
            Frame::Text(t) => Some(t.clone()),
            Frame::Binary(_) => None,
        })
        .collect()
}

#[test]
fn limits_unknown_symbols_and_not_subscribed_are_answered_per_stream() {
    let feed = Feed::new(FeedEpoch(5), &SYMBOLS, LEVELS);
    let mut conn = Connection {
        subs: Subscriptions::default(),
        sent: Vec::new(),
        format: DataFormat::Binary,
    };
    conn.request(&feed, r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","NOPE","SOL-USD",2],"channels":["trades"]}"#);
    let t = texts(&conn);
    assert_eq!(t.len(), 4);
    assert!(t[0]
        .starts_with(r#"{"type":"subscribed","req_id":1,"symbol":1,"channel":"trades","seq":"0""#));
    assert!(t[1].contains(r#""code":"unknown_symbol","field":"symbols","symbol":"NOPE""#));
    assert!(t[2].contains(r#""code":"unknown_symbol","field":"symbols","symbol":"SOL-USD""#));
    assert!(t[3].contains(r#""symbol":2,"channel":"trades""#));
    // A symbol named twice in one request (by name, by id, or both) is
    // answered once, as a channel named twice is (a hostile pass found
    // each repeat answered, with a snapshot each).
    conn.sent.clear();
    conn.request(
        &feed,
        r#"{"op":"subscribe","req_id":9,"symbols":[2,"ETH-USD",2],"channels":["book","book"]}"#,
    );
    let t = texts(&conn);
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(conn.sent.len(), 2, "one answer and one snapshot");
    conn.request(
        &feed,
        r#"{"op":"unsubscribe","req_id":10,"symbols":[2,2],"channels":["book"]}"#,
    );
    assert_eq!(texts(&conn).len(), 2, "one more answer: unsubscribed");
    conn.sent.clear();
    conn.request(
        &feed,
        r#"{"op":"unsubscribe","req_id":2,"symbols":[1],"channels":["trades","bbo"]}"#,
    );
    // Channels are answered in channel-code order: bbo (3) before trades (4).
    let t = texts(&conn);
    assert!(
        t[0].contains(r#""code":"not_subscribed","field":"channels","symbol":1,"channel":"bbo""#)
    );
    assert_eq!(
        t[1],
        r#"{"type":"unsubscribed","req_id":2,"symbol":1,"channel":"trades"}"#
    );
    assert_eq!(conn.subs.len(), 1);
    // 11 symbols x 6 channels = 66 streams asked for: 64 granted, 2 refused.
    let ids: Vec<u32> = (1..=11).collect();
    let wide = Feed::new(FeedEpoch(5), &ids, 8);
    let mut conn = Connection {
        subs: Subscriptions::default(),
        sent: Vec::new(),
        format: DataFormat::Binary,
    };
    let all: Vec<String> = ids.iter().map(u32::to_string).collect();
    let request = format!(
        r#"{{"op":"subscribe","req_id":3,"symbols":[{}],"channels":["book","book@100ms","bbo","trades","ticker","status"]}}"#,
        all.join(",")
    );
    conn.request(&wide, &request);
    assert_eq!(conn.subs.len(), MAX_SUBSCRIPTIONS);
    let t = texts(&conn);
    let refused: Vec<_> = t
        .iter()
        .filter(|t| t.contains("too_many_subscriptions"))
        .collect();
    assert_eq!(refused.len(), 66 - MAX_SUBSCRIPTIONS);
    // A resubscribe at the limit is a resync, not a new subscription.
    conn.sent.clear();
    conn.request(
        &wide,
        r#"{"op":"subscribe","symbols":[1],"channels":["book"],"depth":25}"#,
    );
    assert!(texts(&conn)[0].contains(r#""channel":"book","depth":25"#));
    assert!(conn.subs.wants(1, Channel::Book, 25) && !conn.subs.wants(1, Channel::Book, 10));
}

#[test]
fn json_connections_get_json_snapshots_and_refusals() {
    let mut feed = Feed::new(FeedEpoch(5), &SYMBOLS, LEVELS);
    let level = Event::BookLevel {
        symbol: 1,
        side: Side::Buy,
        price: 990,
        qty: 4,
        order_count: 1,
    };
    feed.apply(&level, 7, &mut NullSink).unwrap();
    let mut conn = Connection {
        subs: Subscriptions::default(),
        sent: Vec::new(),
        format: DataFormat::Json,
    };
    conn.request(
        &feed,
        r#"{"op":"subscribe","req_id":1,"symbols":[1],"channels":["book","bbo"]}"#,
    );
    let t = texts(&conn);
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(t[1].starts_with(r#"{"type":"snapshot","symbol":1,"seq":"1""#));
    assert!(t[1].contains(r#""bids":[{"price":"990","qty":"4","orders":1}],"asks":[]"#));
    assert!(t[3].starts_with(r#"{"type":"bbo","symbol":1,"seq":"1","prev":"0""#));
    conn.sent.clear();
    conn.request(
        &feed,
        r#"{"op":"subscribe","symbols":[1],"channels":["book"],"depth":3}"#,
    );
    assert_eq!(
        texts(&conn),
        [
            r#"{"type":"error","req_id":null,"code":"bad_depth","field":"depth","message":"depth is not 10, 25, 100 or 0"}"#
        ]
    );
}
