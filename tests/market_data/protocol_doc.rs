//! `docs/MARKET_DATA.md` promises layouts, codes, bytes and JSON; these
//! tests hold it to them, as `protocol_layout.rs` and `protocol_doc.rs` do
//! for `docs/PROTOCOL.md`: every message table equals its struct (offsets,
//! sizes, types, names, no gaps), the header, entry and index tables, every
//! enumeration and code table, the limits, every hex dump is what the
//! encoder writes for the worked example, and every JSON example is what
//! the renderer writes (requests: what the parser accepts).

use crate::doc_tables;

use core::mem::{offset_of, size_of};

use tradsys::engine::*;
use tradsys::market_data::checksum::{checksum_input, CHECKSUM_INPUT_MAX};
use tradsys::market_data::*;
use tradsys::protocol::market_data::*;
use tradsys::websocket::close::code;

const DOC: &str = include_str!("../../docs/MARKET_DATA.md");

struct Field {
    name: &'static str,
    offset: usize,
    size: usize,
    rust_type: &'static str,
}

fn field_of<T, F>(_: fn(&T) -> &F) -> (usize, &'static str) {
    (size_of::<F>(), std::any::type_name::<F>())
}

macro_rules! fields {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        vec![$({
            let (size, rust_type) = field_of(|m: &$ty| &m.$field);
            Field {
                name: stringify!($field).trim_start_matches('_'),
                offset: offset_of!($ty, $field),
                size,
                rust_type,
            }
        }),*]
    };
}

fn doc_type_matches(doc_type: &str, rust_type: &str) -> bool {
    let le = |t: &str| rust_type.contains(&format!("::{t}<")) && rust_type.contains("LittleEndian");
    match doc_type {
        "header" => rust_type.ends_with("::MdHeader"),
        "u8" => rust_type == "u8",
        "u16" => le("U16"),
        "u32" => le("U32"),
        "u64" => le("U64"),
        "i64" => le("I64"),
        bytes => bytes
            .strip_prefix("bytes[")
            .and_then(|b| b.strip_suffix(']'))
            .is_some_and(|n| rust_type == format!("[u8; {n}]")),
    }
}

fn check_table(heading: &str, fields: &[Field], size: usize) {
    let rows = doc_tables::table_after(DOC, heading);
    assert_eq!(rows.len(), fields.len(), "{heading}: row count");
    let mut end = 0;
    for (row, field) in rows.iter().zip(fields) {
        let context = format!("{heading}, field {}", field.name);
        assert_eq!(field.offset, end, "{context}: gap before it");
        assert_eq!(row[0], field.offset.to_string(), "{context}: offset");
        assert_eq!(row[1], field.size.to_string(), "{context}: size");
        assert!(
            doc_type_matches(&row[2], field.rust_type),
            "{context}: {} vs {}",
            row[2],
            field.rust_type
        );
        assert_eq!(row[3], field.name, "{context}: name");
        end = field.offset + field.size;
    }
    assert_eq!(end, size, "{heading}: fields do not cover the struct");
}

struct Layout {
    name: &'static str,
    msg_type: u8,
    size: usize,
    entries: bool,
    fields: Vec<Field>,
}

fn layout<M: MdMessage>(fields: Vec<Field>) -> Layout {
    Layout {
        name: M::NAME,
        msg_type: M::MSG_TYPE,
        size: M::LEN,
        entries: M::HAS_ENTRIES,
        fields,
    }
}

fn layouts() -> Vec<Layout> {
    vec![
        layout::<BookUpdateMsg>(fields!(BookUpdateMsg {
            header,
            prev,
            ts_ns,
            checksum,
            channel,
            _reserved,
            depth
        })),
        layout::<BookSnapshotMsg>(fields!(BookSnapshotMsg {
            header,
            epoch,
            ts_ns,
            checksum,
            channel,
            status,
            depth,
            bid_count,
            ask_count
        })),
        layout::<TradeMsg>(fields!(TradeMsg {
            header,
            prev,
            ts_ns,
            trade_id,
            price,
            qty,
            aggressor_side,
            _reserved
        })),
        layout::<BboMsg>(fields!(BboMsg {
            header,
            prev,
            ts_ns,
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            bid_orders,
            ask_orders
        })),
        layout::<TickerMsg>(fields!(TickerMsg {
            header,
            prev,
            ts_ns,
            trade_count,
            open,
            high,
            low,
            last,
            last_qty,
            volume,
            notional_lo,
            notional_hi,
            vwap
        })),
        layout::<StatusMsg>(fields!(StatusMsg {
            header,
            prev,
            ts_ns,
            status,
            event,
            _reserved
        })),
        layout::<HeartbeatMsg>(fields!(HeartbeatMsg {
            header,
            epoch,
            send_ts_ns,
            stream_last,
            channel,
            status,
            depth,
            _reserved
        })),
    ]
}

#[test]
fn header_and_level_entry_tables_match_the_structs() {
    let header = fields!(MdHeader {
        length,
        msg_type,
        version,
        flags,
        _reserved,
        symbol,
        entry_count,
        _reserved2,
        seq
    });
    check_table("### 5.1 Header", &header, MD_HEADER_LEN);
    let entry = fields!(LevelEntry {
        price,
        qty,
        order_count,
        side,
        _reserved
    });
    check_table("### LevelEntry — 24 bytes", &entry, LEVEL_ENTRY_LEN);
    assert_eq!(MD_VERSION, 1);
}

#[test]
fn every_message_table_matches_its_struct() {
    let headings: Vec<&str> = DOC.lines().filter(|l| l.starts_with("### 0xC")).collect();
    let layouts = layouts();
    assert_eq!(headings.len(), layouts.len());
    for (heading, layout) in headings.iter().zip(&layouts) {
        let suffix = if layout.entries {
            " + 24 per entry"
        } else {
            ""
        };
        let expected = format!(
            "### 0x{:02X} {} — {} bytes{suffix}",
            layout.msg_type, layout.name, layout.size
        );
        assert_eq!(*heading, expected);
        check_table(heading, &layout.fields, layout.size);
        let note = &doc_tables::table_after(DOC, heading)[0][4];
        assert!(
            note.starts_with(&format!("msg_type 0x{:02X}", layout.msg_type)),
            "{heading}: {note}"
        );
    }
}

#[test]
fn message_index_matches_the_structs() {
    let rows = doc_tables::table_after(DOC, "### 5.3 Message index");
    let layouts = layouts();
    assert_eq!(rows.len(), layouts.len());
    for (row, l) in rows.iter().zip(&layouts) {
        let entries = if l.entries { "yes" } else { "no" };
        assert_eq!(
            row[..4],
            [
                format!("0x{:02X}", l.msg_type),
                l.name.to_string(),
                l.size.to_string(),
                entries.to_string()
            ]
        );
    }
}

fn code_rows(heading: &str) -> Vec<(String, String)> {
    doc_tables::table_after(DOC, heading)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn defined<T: core::fmt::Debug>(from: impl Fn(u8) -> Option<T>) -> Vec<(String, String)> {
    (0..=u8::MAX)
        .filter_map(|v| from(v).map(|t| (v.to_string(), format!("{t:?}"))))
        .collect()
}

#[test]
fn enumeration_tables_list_every_code() {
    assert_eq!(code_rows("### Channel"), defined(Channel::from_u8));
    let json: Vec<String> = doc_tables::table_after(DOC, "### Channel")
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(json, Channel::ALL.map(|c| c.name().to_string()));
    assert_eq!(code_rows("### Side"), defined(Side::from_u8));
    assert_eq!(
        code_rows("### TradingStatus"),
        defined(TradingStatus::from_u8)
    );
    assert_eq!(code_rows("### StatusEvent"), defined(StatusEvent::from_u8));
    let depths: Vec<String> = doc_tables::table_after(DOC, "### Depths")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(depths, BOOK_DEPTHS.map(|d| d.to_string()));
    let flag_rows = code_rows("### 5.2 Flags");
    assert_eq!(
        flag_rows,
        [
            ("0x01".to_string(), "CONTINUED".to_string()),
            ("0x02".to_string(), "SNAPSHOT".to_string())
        ]
    );
    assert_eq!((flags::CONTINUED, flags::SNAPSHOT), (0x01, 0x02));
}

#[test]
fn error_and_close_code_tables_list_every_code() {
    let errors: Vec<String> = doc_tables::table_after(DOC, "### Error codes")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(errors, ErrorCode::ALL.map(|c| c.name().to_string()));
    let closes: Vec<(String, String)> = code_rows("### 9.1 Close codes");
    let expected = [
        (code::NORMAL, "NORMAL"),
        (code::GOING_AWAY, "GOING_AWAY"),
        (code::PROTOCOL_ERROR, "PROTOCOL_ERROR"),
        (code::INVALID_PAYLOAD, "INVALID_PAYLOAD"),
        (code::POLICY, "POLICY"),
        (code::TOO_BIG, "TOO_BIG"),
        (code::INTERNAL_ERROR, "INTERNAL_ERROR"),
        (code::SLOW_CONSUMER, "SLOW_CONSUMER"),
        (code::FEED_RESYNC, "FEED_RESYNC"),
    ]
    .map(|(c, n)| (c.to_string(), n.to_string()));
    assert_eq!(closes, expected);
}

#[test]
fn limits_in_the_doc_are_the_constants() {
    let limits = doc_tables::table_after(DOC, "### 9.2 Limits");
    let value = |name: &str| limits.iter().find(|r| r[0] == name).unwrap()[1].clone();
    assert_eq!(
        value("client frame and message (control messages)"),
        "4096 bytes"
    );
    assert_eq!(tradsys::websocket::Limits::MARKET_DATA.max_frame, 4096);
    assert_eq!(tradsys::websocket::Limits::MARKET_DATA.max_message, 4096);
    assert_eq!(MAX_CONTROL_LEN, 4096);
    assert_eq!(
        value("symbols per request"),
        MAX_SYMBOLS_PER_REQUEST.to_string()
    );
    assert_eq!(
        value("entries per binary message part"),
        MAX_ENTRIES_PER_MESSAGE.to_string()
    );
    assert_eq!(
        value("conflation interval (book@100ms)"),
        format!("{} ms", CONFLATION_INTERVAL_NS / 1_000_000)
    );
    assert_eq!(
        value("upgrade request"),
        format!(
            "{} bytes, {} header lines",
            tradsys::websocket::handshake::MAX_REQUEST_LEN,
            tradsys::websocket::handshake::MAX_HEADERS
        )
    );
    assert_eq!(
        value("fan-out backlog per shard"),
        format!("{} bytes", tradsys::shard::md::fanout::BACKLOG_BYTES)
    );
    // Section 9.3's prose names the per-turn shares.
    use tradsys::shard::md::send_budget::{SEND_BYTES_PER_TURN, SEND_COST_FLOOR_BYTES};
    assert_eq!(tradsys::shard::md::fanout::PUMP_BYTES_PER_TURN, 64 * 1024);
    assert_eq!(
        (SEND_BYTES_PER_TURN, SEND_COST_FLOOR_BYTES),
        (64 * 1024, 2048)
    );
    assert!(
        DOC.contains("about 64 KiB per\nturn")
            && DOC.contains("at most\n64 KiB a turn (a send counting as at least 2 KiB)")
    );
    // And the larger pump share of a turn with order entry quiet.
    use tradsys::shard::md::turn_share::{IDLE, ORDER_ENTRY_QUIET};
    assert_eq!(ORDER_ENTRY_QUIET, std::time::Duration::from_millis(1));
    assert_eq!(
        (IDLE.pump_bytes, IDLE.send_bytes),
        (1 << 20, SEND_BYTES_PER_TURN)
    );
    assert_eq!(
        IDLE.pump_bytes / tradsys::shard::md::fanout::PUMP_BYTES_PER_TURN,
        16
    );
    assert!(
        DOC.contains("a turn that begins within 1 ms of\norder-entry input")
            && DOC.contains(
                "the pump copies 16 times more, 1 MiB a turn;\nthe sends keep their 64 KiB"
            )
    );
    // And the sends of a quiet turn once the pump is done.
    use tradsys::shard::md::turn_share::FLUSH;
    assert_eq!((FLUSH.send_bytes, FLUSH.send_floor), (1 << 20, 1024));
    assert_eq!(FLUSH.send_bytes / FLUSH.send_floor, 1024);
    assert!(DOC.contains(
        "order-entry input (a fan-out shard, below) the sends take up to 1 MiB a\nturn: a message to each of 1,024 clients"
    ));
    use tradsys::shard::md::turn_share::{
        FLUSH_BESIDE_ORDER_ENTRY, FLUSH_SENDS_BESIDE_ORDER_ENTRY,
    };
    assert_eq!(FLUSH_SENDS_BESIDE_ORDER_ENTRY, 128);
    assert_eq!(FLUSH_BESIDE_ORDER_ENTRY.send_bytes, 128 << 10);
    assert!(
        DOC.contains("shard that has had order entry they take at most 128 KiB a turn, 128\nsends")
    );
    assert_eq!(MAX_REQ_ID, (1 << 53) - 1);
    assert_eq!(MAX_MD_MESSAGE_LEN, 24_632);
    assert!(DOC.contains("`24 <= length <= 24,632`"));
    assert_eq!(tradsys::market_data::epoch::FEED_EPOCH_RECORD_KIND, 10);
    assert!(DOC.contains("a `feed_epoch` record, kind 10"));
}

/// Every ```` ```json ```` block, in document order.
fn json_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if line == "```json" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push(body.join("\n"));
        }
    }
    blocks
}

#[derive(Default)]
struct Rec {
    binary: Vec<Vec<u8>>,
    json: Vec<String>,
    streams: Vec<(Channel, u16)>,
}

impl FeedSink for Rec {
    fn publish(&mut self, m: &FeedMessage<'_>) {
        let mut buf = vec![0u8; 8192];
        let n = encode_feed_message(m, &mut buf).unwrap();
        self.binary.push(buf[..n].to_vec());
        let n = render_feed_message(m, &mut buf).unwrap();
        self.json
            .push(String::from_utf8(buf[..n].to_vec()).unwrap());
        self.streams.push(m.stream());
    }
}

const T0: u64 = 1_700_000_000_123_456_789;

/// The worked example: every byte dump and JSON text of section 10 and 8,
/// in document order.
fn worked_example() -> (Vec<Vec<u8>>, Vec<String>) {
    let mut feed = Feed::new(FeedEpoch(1_700_000_000_000_000_000), &[1], 64);
    let mut rec = Rec::default();
    let level = |side, price, qty, order_count| Event::BookLevel {
        symbol: 1,
        side,
        price,
        qty,
        order_count,
    };
    feed.apply(&level(Side::Sell, 10_050, 3, 1), T0, &mut rec)
        .unwrap();
    feed.apply(&level(Side::Buy, 10_040, 5, 2), T0 + 1, &mut rec)
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let mut hex = Vec::new();
    let mut json = Vec::new();
    let mut input = [0u8; CHECKSUM_INPUT_MAX];
    let n = checksum_input([(10_040, 5)], [(10_050, 3)], &mut input);
    hex.push(input[..n].to_vec());
    let snapshot = feed.snapshot(1, Channel::Book, 10).unwrap();
    assert_eq!(snapshot.checksum, 3_836_372_188);
    let n = encode_snapshot(&snapshot, &mut buf).unwrap();
    hex.push(buf[..n].to_vec());
    let n = render_snapshot(&snapshot, &mut buf).unwrap();
    json.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    let mut rec = Rec::default();
    let trade = Event::Trade {
        exec_id: 17,
        symbol: 1,
        price: 10_050,
        qty: 2,
        aggressor_side: Side::Buy,
    };
    feed.apply(&trade, T0 + 1_000, &mut rec).unwrap();
    feed.apply(&level(Side::Sell, 10_050, 1, 1), T0 + 1_000, &mut rec)
        .unwrap();
    for wanted in [(Channel::Trades, 0), (Channel::Book, 10)] {
        let i = rec.streams.iter().position(|s| *s == wanted).unwrap();
        hex.push(rec.binary[i].clone());
    }
    for wanted in [
        (Channel::Trades, 0),
        (Channel::Ticker, 0),
        (Channel::Book, 10),
        (Channel::Bbo, 0),
    ] {
        let i = rec.streams.iter().position(|s| *s == wanted).unwrap();
        json.push(rec.json[i].clone());
    }
    let state = feed.state(1).unwrap();
    let info = HeartbeatInfo {
        channel: Channel::Book,
        depth: 10,
        stream_last: feed.stream_last(1, Channel::Book, 10).unwrap(),
        send_ts_ns: T0 + 999_000_000,
    };
    let n = encode_heartbeat(&state, &info, &mut buf).unwrap();
    hex.push(buf[..n].to_vec());
    let n = render_heartbeat(&state, &info, &mut buf).unwrap();
    json.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    for channel in [Channel::Bbo, Channel::Status] {
        let n = render_current(&state, channel, &mut buf).unwrap();
        json.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    let mut rec = Rec::default();
    feed.apply(
        &Event::HaltSet {
            symbol: 1,
            on: true,
        },
        T0 + 2_000,
        &mut rec,
    )
    .unwrap();
    feed.end_of_day(T0 + 3_000, &mut rec);
    json.extend(rec.json);
    (hex, json)
}

#[test]
fn worked_hex_dumps_are_what_the_encoder_writes() {
    let (hex, _) = worked_example();
    let blocks = doc_tables::hex_blocks(DOC);
    // The checksum input comes first (section 7), then section 10 in order.
    assert_eq!(blocks, hex);
    for block in &blocks[1..] {
        let mut at = 0;
        while at < block.len() {
            at += decode_md(&block[at..]).expect("a dump decodes").len;
        }
    }
}

fn answers() -> Vec<String> {
    let mut buf = [0u8; 512];
    let epoch = FeedEpoch(1_700_000_000_000_000_000);
    let request = br#"{"op":"subscribe","req_id":7,"symbols":["BTC-USD","DOGE-USD"],"channels":["book","trades"],"depth":10}"#;
    let parsed = parse_control(request).unwrap();
    let mut out = Vec::new();
    let mut text = |n: usize, buf: &[u8]| out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    for channel in parsed.channels.iter() {
        let symbol = (1, Some("BTC-USD"));
        let n = render_subscribed(
            parsed.req_id,
            symbol,
            channel,
            parsed.depth,
            2,
            epoch,
            &mut buf,
        )
        .unwrap();
        text(n, &buf);
    }
    let error = ControlError {
        code: ErrorCode::UnknownSymbol,
        field: Some("symbols"),
        unknown_field: None,
        req_id: parsed.req_id,
    };
    let n = render_error(&error, Some(parsed.symbols()[1]), None, &mut buf).unwrap();
    text(n, &buf);
    let n = render_unsubscribed(Some(8), 1, Channel::Book, &mut buf).unwrap();
    text(n, &buf);
    // Section 3's unknown field: the format belongs to the handshake.
    let newcomer = br#"{"op":"subscribe","symbols":[1],"channels":["trades"],"format":"json"}"#;
    let error = parse_control(newcomer).unwrap_err();
    let n = render_error(&error, None, None, &mut buf).unwrap();
    text(n, &buf);
    out
}

#[test]
fn json_examples_are_what_the_renderer_writes_and_requests_parse() {
    let blocks = json_blocks();
    let (requests, messages): (Vec<&String>, Vec<&String>) =
        blocks.iter().partition(|b| b.starts_with("{\"op\""));
    assert_eq!(requests.len(), 2);
    for request in &requests {
        parse_control(request.as_bytes()).unwrap_or_else(|e| panic!("{request}: {e:?}"));
    }
    let (_, example) = worked_example();
    let expected: Vec<String> = answers().into_iter().chain(example).collect();
    assert_eq!(messages.into_iter().cloned().collect::<Vec<_>>(), expected);
}
