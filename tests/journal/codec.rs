//! The record payload codec: every command and config epoch round-trips,
//! any bytes decode to an entry or a typed error (never a panic), and
//! `src/journal/FORMAT.md`, the one written copy of the journal's byte
//! format, is what the code writes: every table there (segment header,
//! record frame, payloads, config file and body) is parsed and each row's
//! offset, size and field checked against the `layout`, `codec` and
//! `config_file` constants and against bytes the code wrote, so a change
//! on either side fails here until the other follows.

use std::path::Path;

use crate::support::journal::{config, TempDir, KIB};
use proptest::prelude::*;
use tradsys::config::SyncPolicy;
use tradsys::engine::*;
use tradsys::journal::codec::{self, CodecError, KINDS, MAX_PAYLOAD};
use tradsys::journal::{self, config_file, layout, ConfigEpoch, Entry, StateChecksum};
use tradsys::market_data::FeedEpoch;

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn new_order() -> impl Strategy<Value = Command> {
    (
        (any::<u32>(), any::<u32>(), any::<u64>(), side()),
        (1u8..=2, 1u8..=4, any::<bool>(), 0u8..=3),
        (any::<i64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (account, symbol, client_order_id, side),
                (kind, tif, post_only, stp),
                (price, qty),
            )| {
                Command::New(NewOrder {
                    account,
                    symbol,
                    client_order_id,
                    side,
                    kind: OrderKind::from_u8(kind).unwrap(),
                    tif: TimeInForce::from_u8(tif).unwrap(),
                    post_only,
                    stp: StpMode::from_u8(stp),
                    price,
                    qty,
                })
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        new_order(),
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(a, s, o, c)| {
            Command::Cancel(CancelOrder {
                account: a,
                symbol: s,
                order_id: o,
                client_order_id: c,
            })
        }),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<i64>(),
            any::<u64>()
        )
            .prop_map(|(a, s, o, c, p, q)| {
                Command::Replace(ReplaceOrder {
                    account: a,
                    symbol: s,
                    order_id: o,
                    client_order_id: c,
                    new_price: p,
                    new_qty: q,
                })
            }),
        (any::<u32>(), proptest::option::of(any::<u32>()), 1u8..=8).prop_map(|(a, s, r)| {
            Command::MassCancel {
                account: a,
                symbol: s,
                reason: CancelReason::from_u8(r).unwrap(),
            }
        }),
        (any::<u32>(), any::<bool>()).prop_map(|(account, on)| Command::KillSwitch { account, on }),
        (any::<u32>(), any::<bool>()).prop_map(|(symbol, on)| Command::Halt { symbol, on }),
        (any::<u32>(), any::<i64>())
            .prop_map(|(symbol, price)| Command::SetReferencePrice { symbol, price }),
        Just(Command::EndOfDay),
    ]
}

fn config_epoch() -> impl Strategy<Value = Entry> {
    (any::<u64>(), any::<u32>()).prop_map(|(digest, config_bytes)| {
        Entry::ConfigEpoch(ConfigEpoch {
            digest,
            config_bytes,
        })
    })
}

fn feed_epoch() -> impl Strategy<Value = Entry> {
    (1..=u64::MAX).prop_map(|epoch| Entry::FeedEpoch(FeedEpoch(epoch)))
}

fn state_checksum() -> impl Strategy<Value = Entry> {
    (any::<u64>(), any::<u32>()).prop_map(|(digest, resting_orders)| {
        Entry::StateChecksum(StateChecksum {
            digest,
            resting_orders,
        })
    })
}

/// Every kind of record payload.
fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        8 => command().prop_map(Entry::Command),
        1 => config_epoch(),
        1 => feed_epoch(),
        1 => state_checksum(),
    ]
}

fn encode(entry: &Entry) -> (u16, Vec<u8>) {
    let kind = codec::kind_of(entry);
    let mut payload = vec![0xAA; codec::payload_len(kind).unwrap()];
    assert_eq!(codec::encode(entry, &mut payload), kind);
    (kind, payload)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_entry_round_trips(entry in entry()) {
        let (kind, payload) = encode(&entry);
        prop_assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
        prop_assert_eq!(codec::decode(kind, &payload), Ok(entry));
    }

    #[test]
    fn any_bytes_decode_to_an_entry_or_an_error(kind in 0u16..12, bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(entry) = codec::decode(kind, &bytes) {
            // Whatever decodes re-encodes to the same bytes: one encoding per entry.
            prop_assert_eq!(encode(&entry), (kind, bytes));
        }
    }

    #[test]
    fn a_changed_byte_never_decodes_to_the_same_entry(entry in entry(), at in any::<usize>(), delta in 1u8..=255) {
        let (kind, mut payload) = encode(&entry);
        let at = at % payload.len();
        payload[at] = payload[at].wrapping_add(delta);
        prop_assert_ne!(codec::decode(kind, &payload), Ok(entry));
    }
}

#[test]
fn bad_payloads_are_typed_errors() {
    assert_eq!(codec::decode(0, &[]), Err(CodecError::UnknownKind(0)));
    assert_eq!(codec::decode(99, &[0; 8]), Err(CodecError::UnknownKind(99)));
    assert_eq!(
        codec::decode(codec::kind::CANCEL, &[0; 23]),
        Err(CodecError::BadLength {
            kind: 2,
            expected: 24,
            actual: 23
        })
    );
    let (kind, mut payload) = encode(&Entry::Command(Command::KillSwitch {
        account: 1,
        on: true,
    }));
    payload[4] = 2;
    assert_eq!(
        codec::decode(kind, &payload),
        Err(CodecError::BadField {
            field: "on",
            value: 2
        })
    );
    payload[4] = 1;
    payload[6] = 1;
    assert_eq!(
        codec::decode(kind, &payload),
        Err(CodecError::BadField {
            field: "reserved",
            value: 1
        })
    );
    let (kind, mut payload) = encode(&Entry::Command(Command::MassCancel {
        account: 1,
        symbol: None,
        reason: CancelReason::MassCancel,
    }));
    payload[4] = 7; // a symbol value with has_symbol = 0
    assert_eq!(
        codec::decode(kind, &payload),
        Err(CodecError::BadField {
            field: "symbol",
            value: 7
        })
    );
}

// ---- FORMAT.md against the code -------------------------------------

const FORMAT: &str = include_str!("../../src/journal/FORMAT.md");
const OPERATIONS: &str = include_str!("../../docs/OPERATIONS.md");

/// The heading line that starts with `prefix`, and the cells of every row
/// of the table under it (header and separator rows left out).
fn table(prefix: &str) -> (&'static str, Vec<Vec<&'static str>>) {
    let mut lines = FORMAT.lines().skip_while(|l| !l.starts_with(prefix));
    let heading = lines
        .next()
        .unwrap_or_else(|| panic!("no heading {prefix:?} in FORMAT.md"));
    let rows: Vec<Vec<&str>> = lines
        .take_while(|l| !l.starts_with('#'))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(!rows.is_empty(), "no table under {heading:?}");
    (heading, rows)
}

/// The value of an offset or size expression of the tables: `28`, `len`,
/// `28+len`, `16+32S`, `32 x S`.
fn eval(expr: &str, vars: &[(&str, usize)]) -> usize {
    if let Some((a, b)) = expr.split_once(" x ") {
        return eval(a, vars) * eval(b, vars);
    }
    expr.split('+')
        .map(|term| {
            let term = term.trim();
            let digits = term.len() - term.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (number, var) = term.split_at(digits);
            let factor = if number.is_empty() {
                1
            } else {
                number.parse().unwrap()
            };
            let value = if var.is_empty() {
                1
            } else {
                vars.iter()
                    .find(|(name, _)| *name == var)
                    .unwrap_or_else(|| panic!("unknown {var:?} in {expr:?}"))
                    .1
            };
            factor * value
        })
        .sum()
}

/// `(offset, name, size)` of each item of a layout cell such as `0 account
/// u32, 4 symbol u32 (0 if all), 8 reserved[4]`, after an optional `per
/// symbol: ` label; parenthesised notes are left out.
fn layout_items(cell: &str) -> Vec<(usize, String, usize)> {
    let cell = match cell.split_once(": ") {
        Some((label, items)) if label.starts_with("per ") => items,
        _ => cell,
    };
    let mut plain = String::new();
    let mut depth = 0;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain
        .split(',')
        .map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            let offset = words[0]
                .parse()
                .unwrap_or_else(|_| panic!("offset in {item:?}"));
            if let Some(n) = words[1]
                .strip_prefix("reserved[")
                .and_then(|w| w.strip_suffix(']'))
            {
                assert_eq!(words.len(), 2, "{item:?}");
                return (offset, "reserved".to_string(), n.parse().unwrap());
            }
            assert_eq!(words.len(), 3, "offset name type: {item:?}");
            let size = match words[2] {
                "u8" => 1,
                "u16" => 2,
                "u32" => 4,
                "u64" | "i64" => 8,
                "u128" => 16,
                other => panic!("unknown type {other:?} in {item:?}"),
            };
            (offset, words[1].to_string(), size)
        })
        .collect()
}

/// Checks a layout cell against `bytes` (the encoding of one thing):
/// the items tile `bytes` exactly, every reserved byte is zero, and every
/// named field holds its value in `expected` (and no other field is named).
fn check_layout(what: &str, cell: &str, bytes: &[u8], expected: &[(&str, u128)]) {
    let mut next = 0;
    let mut named = Vec::new();
    for (offset, name, size) in layout_items(cell) {
        assert_eq!(offset, next, "{what}: {name} follows the field before it");
        next = offset + size;
        let field = &bytes[offset..next];
        if name == "reserved" {
            assert!(field.iter().all(|&b| b == 0), "{what}: reserved bytes");
            continue;
        }
        let value = expected
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| {
                panic!("{what}: FORMAT.md names {name:?}, the code has no such field")
            })
            .1;
        assert_eq!(le(field), value, "{what}: {name} at {offset}, {size} bytes");
        named.push(name);
    }
    assert_eq!(next, bytes.len(), "{what}: the fields cover every byte");
    let mut expected_names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    let mut named: Vec<&str> = named.iter().map(String::as_str).collect();
    expected_names.sort_unstable();
    named.sort_unstable();
    assert_eq!(named, expected_names, "{what}: fields named in FORMAT.md");
}

/// Little-endian value of up to 16 bytes.
fn le(bytes: &[u8]) -> u128 {
    assert!(bytes.len() <= 16);
    bytes
        .iter()
        .rev()
        .fold(0u128, |value, &b| (value << 8) | u128::from(b))
}

/// The `a..b` range a CRC row names (`CRC32C of bytes 0..60`).
fn crc_range(text: &str, vars: &[(&str, usize)]) -> std::ops::Range<usize> {
    let range = text
        .split("bytes ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no byte range in {text:?}"));
    let (from, to) = range.split_once("..").unwrap();
    eval(from, vars)..eval(to, vars)
}

/// One entry of every kind, with values in which every byte of a field
/// differs from its neighbours' (so a field read at the wrong offset or
/// width cannot pass), and the value of each field FORMAT.md names.
fn sample_entries() -> Vec<(Entry, Vec<(&'static str, u128)>)> {
    const ACCOUNT: u32 = 0xA1A2_A3A4;
    const SYMBOL: u32 = 0xB1B2_B3B4;
    const ORDER_ID: u64 = 0xC1C2_C3C4_C5C6_C7C8;
    const CLIENT_ORDER_ID: u64 = 0xD1D2_D3D4_D5D6_D7D8;
    const PRICE: i64 = -0x1112_1314_1516_1718;
    const QTY: u64 = 0xE1E2_E3E4_E5E6_E7E8;
    let price = u128::from(PRICE as u64);
    let new = NewOrder {
        account: ACCOUNT,
        symbol: SYMBOL,
        client_order_id: CLIENT_ORDER_ID,
        side: Side::Sell,
        kind: OrderKind::Market,
        tif: TimeInForce::Ioc,
        post_only: true,
        stp: Some(StpMode::CancelBoth),
        price: PRICE,
        qty: QTY,
    };
    let common = |symbol: u32| {
        vec![
            ("account", u128::from(ACCOUNT)),
            ("symbol", u128::from(symbol)),
        ]
    };
    let with = |mut fields: Vec<(&'static str, u128)>, more: &[(&'static str, u128)]| {
        fields.extend_from_slice(more);
        fields
    };
    vec![
        (
            Entry::Command(Command::New(new)),
            with(
                common(SYMBOL),
                &[
                    ("client_order_id", u128::from(CLIENT_ORDER_ID)),
                    ("side", new.side as u128),
                    ("order_kind", new.kind as u128),
                    ("tif", new.tif as u128),
                    ("post_only", 1),
                    ("stp", StpMode::CancelBoth as u128),
                    ("price", price),
                    ("qty", u128::from(QTY)),
                ],
            ),
        ),
        (
            Entry::Command(Command::Cancel(CancelOrder {
                account: ACCOUNT,
                symbol: SYMBOL,
                order_id: ORDER_ID,
                client_order_id: CLIENT_ORDER_ID,
            })),
            with(
                common(SYMBOL),
                &[
                    ("order_id", u128::from(ORDER_ID)),
                    ("client_order_id", u128::from(CLIENT_ORDER_ID)),
                ],
            ),
        ),
        (
            Entry::Command(Command::Replace(ReplaceOrder {
                account: ACCOUNT,
                symbol: SYMBOL,
                order_id: ORDER_ID,
                client_order_id: CLIENT_ORDER_ID,
                new_price: PRICE,
                new_qty: QTY,
            })),
            with(
                common(SYMBOL),
                &[
                    ("order_id", u128::from(ORDER_ID)),
                    ("client_order_id", u128::from(CLIENT_ORDER_ID)),
                    ("new_price", price),
                    ("new_qty", u128::from(QTY)),
                ],
            ),
        ),
        (
            Entry::Command(Command::MassCancel {
                account: ACCOUNT,
                symbol: Some(SYMBOL),
                reason: CancelReason::KillSwitch,
            }),
            with(
                common(SYMBOL),
                &[
                    ("has_symbol", 1),
                    ("reason", CancelReason::KillSwitch as u128),
                ],
            ),
        ),
        (
            Entry::Command(Command::KillSwitch {
                account: ACCOUNT,
                on: true,
            }),
            vec![("account", u128::from(ACCOUNT)), ("on", 1)],
        ),
        (
            Entry::Command(Command::Halt {
                symbol: SYMBOL,
                on: true,
            }),
            vec![("symbol", u128::from(SYMBOL)), ("on", 1)],
        ),
        (
            Entry::Command(Command::SetReferencePrice {
                symbol: SYMBOL,
                price: PRICE,
            }),
            vec![("symbol", u128::from(SYMBOL)), ("price", price)],
        ),
        (Entry::Command(Command::EndOfDay), vec![]),
        (
            Entry::ConfigEpoch(ConfigEpoch {
                digest: ORDER_ID,
                config_bytes: ACCOUNT,
            }),
            vec![
                ("digest", u128::from(ORDER_ID)),
                ("config_bytes", u128::from(ACCOUNT)),
            ],
        ),
        (
            Entry::FeedEpoch(FeedEpoch(ORDER_ID)),
            vec![("epoch", u128::from(ORDER_ID))],
        ),
        (
            Entry::StateChecksum(StateChecksum {
                digest: ORDER_ID,
                resting_orders: ACCOUNT,
            }),
            vec![
                ("digest", u128::from(ORDER_ID)),
                ("resting_orders", u128::from(ACCOUNT)),
            ],
        ),
    ]
}

#[test]
fn format_md_payload_table_matches_the_codec() {
    let (_, rows) = table("## Payloads");
    let samples = sample_entries();
    let mut kinds = Vec::new();
    for row in &rows {
        // | kind | name | len | layout |
        let kind: u16 = row[0].parse().unwrap();
        let len: usize = row[2].parse().unwrap();
        assert_eq!(codec::kind_name(kind), row[1], "kind {kind}");
        assert_eq!(codec::payload_len(kind), Some(len), "kind {kind}");
        let (entry, fields) = samples
            .iter()
            .find(|(entry, _)| codec::kind_of(entry) == kind)
            .unwrap_or_else(|| panic!("no sample entry of kind {kind}"));
        let mut payload = vec![0xAA; len];
        assert_eq!(codec::encode(entry, &mut payload), kind);
        check_layout(row[1], row[3], &payload, fields);
        kinds.push(kind);
    }
    let every: Vec<u16> = KINDS.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, every, "one row per kind, in number order");
    assert_eq!(samples.len(), KINDS.len());
}

/// A field of a fixed-layout table: its name in FORMAT.md, the offset the
/// code writes it at, and the value the code wrote.
type Field = (&'static str, usize, u128);

/// Holds one fixed-layout table of FORMAT.md (the one under the heading
/// `## {section} ({len} bytes)`) to `bytes` the code wrote: the rows tile
/// the bytes in order, each field in `fields` is at the code's offset with
/// the code's value, `magic` and `version` rows name theirs, the `crc` row's
/// range holds that CRC32C, `reserved` bytes are 0, and every field of
/// `fields` has a row.
fn check_fixed_table(section: &str, bytes: &[u8], fields: &[Field]) {
    let (heading, rows) = table(&format!("## {section}"));
    assert_eq!(heading, format!("## {section} ({} bytes)", bytes.len()));
    let mut next = 0;
    let mut named = Vec::new();
    for row in &rows {
        let (offset, size) = (eval(row[0], &[]), eval(row[1], &[]));
        let (name, text) = row[2].split_once(": ").expect("`name: text`");
        assert_eq!(
            offset, next,
            "{section}: {name} follows the field before it"
        );
        next = offset + size;
        let field = &bytes[offset..next];
        if name == "reserved" {
            assert!(
                field.iter().all(|&b| b == 0),
                "{section}: reserved at {offset}"
            );
            continue;
        }
        let &(_, at, value) = fields
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| {
                panic!("FORMAT.md names {section} field {name:?}, the code has none")
            });
        match name {
            "magic" => assert!(text.contains(std::str::from_utf8(field).unwrap()), "{text}"),
            "version" => assert!(text.ends_with(&format!(", {value}")), "{text}"),
            "crc" => assert_eq!(
                u128::from(crc32c::crc32c(&bytes[crc_range(text, &[])])),
                value,
                "{section}: the crc row's range"
            ),
            _ => {}
        }
        assert_eq!(offset, at, "{section}: {name}: offset");
        assert_eq!(
            le(field),
            value,
            "{section}: {name} at {offset}, {size} bytes"
        );
        named.push(name);
    }
    assert_eq!(next, bytes.len(), "the rows of {section} cover it");
    for (name, _, _) in fields {
        assert!(
            named.contains(name),
            "FORMAT.md has no {section} row {name:?}"
        );
    }
}

#[test]
fn format_md_segment_header_table_is_what_the_writer_writes() {
    const SHARD: u16 = 0xA1B2;
    const SEGMENT_BYTES: u64 = 0x0102_0304_0506_0708;
    const CREATED_NS: u64 = 0x1112_1314_1516_1718;
    const FIRST_SEQ: u64 = 0x2122_2324_2526_2728;
    let mut header = [0xEE; layout::HEADER_BYTES];
    layout::write_header_prefix(&mut header, SHARD, SEGMENT_BYTES, CREATED_NS);
    layout::seal_header(&mut header, FIRST_SEQ);
    let crc = crc32c::crc32c(&header[..layout::H_CRC]);
    check_fixed_table(
        "Segment header",
        &header,
        &[
            ("magic", layout::H_MAGIC, le(&layout::MAGIC)),
            (
                "version",
                layout::H_VERSION,
                u128::from(journal::FORMAT_VERSION),
            ),
            ("shard", layout::H_SHARD, u128::from(SHARD)),
            ("first_seq", layout::H_FIRST_SEQ, u128::from(FIRST_SEQ)),
            (
                "segment_bytes",
                layout::H_SEGMENT_BYTES,
                u128::from(SEGMENT_BYTES),
            ),
            ("created_ns", layout::H_CREATED_NS, u128::from(CREATED_NS)),
            ("crc", layout::H_CRC, u128::from(crc)),
        ],
    );
    let read = layout::read_header(&header).unwrap();
    assert_eq!(
        (
            read.shard,
            read.first_seq,
            read.segment_bytes,
            read.created_ns
        ),
        (SHARD, FIRST_SEQ, SEGMENT_BYTES, CREATED_NS)
    );
}

#[test]
fn format_md_head_marker_table_is_what_the_writer_writes() {
    use tradsys::journal::head;
    const SHARD: u16 = 0xA1B2;
    const NEWEST: u64 = 0x2122_2324_2526_2728;
    let marker = head::encode(SHARD, NEWEST);
    let crc = crc32c::crc32c(&marker[..head::HD_CRC]);
    check_fixed_table(
        "Head marker",
        &marker,
        &[
            ("magic", head::HD_MAGIC, le(&head::HEAD_MAGIC)),
            ("version", head::HD_VERSION, u128::from(head::HEAD_VERSION)),
            ("shard", head::HD_SHARD, u128::from(SHARD)),
            (
                "newest_first_seq",
                head::HD_NEWEST_FIRST_SEQ,
                u128::from(NEWEST),
            ),
            ("crc", head::HD_CRC, u128::from(crc)),
        ],
    );
    assert_eq!(head::decode(&marker, Some(SHARD)), Ok(NEWEST));
}

#[test]
fn format_md_record_table_is_what_the_writer_writes() {
    const SEQ: u64 = 0x3132_3334_3536_3738;
    const TS_NS: u64 = 0x4142_4344_4546_4748;
    let (heading, rows) = table("## Record");
    assert_eq!(
        heading,
        format!(
            "## Record (from offset {}; each starts on an {}-byte boundary)",
            layout::HEADER_BYTES,
            layout::RECORD_ALIGN
        )
    );
    for (entry, _) in sample_entries() {
        let kind = codec::kind_of(&entry);
        let len = codec::payload_len(kind).unwrap();
        let vars = [("len", len)];
        let mut frame = vec![0xEE; layout::record_bytes(len)];
        assert_eq!(layout::write_record(&mut frame, SEQ, TS_NS, &entry), kind);
        let mut payload = vec![0; len];
        codec::encode(&entry, &mut payload);

        let mut next = 0;
        for row in &rows {
            let (name, text) = row[2].split_once(": ").expect("`name: text`");
            let offset = eval(row[0], &vars);
            assert_eq!(offset, next, "{name} follows the field before it");
            if name == "padding" {
                assert_eq!(row[1], format!("0-{}", layout::RECORD_ALIGN - 1));
                assert!(frame.len() - offset < layout::RECORD_ALIGN);
                assert!(frame[offset..].iter().all(|&b| b == 0), "zero padding");
                next = frame.len();
                continue;
            }
            let size = eval(row[1], &vars);
            next = offset + size;
            let field = &frame[offset..next];
            let (at, value) = match name {
                "len" => (layout::R_LEN, len as u128),
                "crc" => {
                    let crc = crc32c::crc32c(&frame[crc_range(text, &vars)]);
                    (layout::R_CRC, u128::from(crc))
                }
                "seq" => (layout::R_SEQ, u128::from(SEQ)),
                "ts_ns" => (layout::R_TS, u128::from(TS_NS)),
                "kind" => (layout::R_KIND, u128::from(kind)),
                "reserved" => (layout::R_RESERVED, 0),
                "payload" => {
                    assert_eq!(field, payload, "kind {kind}: payload");
                    assert_eq!(offset, layout::R_PAYLOAD, "payload: offset");
                    continue;
                }
                other => panic!("FORMAT.md names record field {other:?}, the code has none"),
            };
            assert_eq!(offset, at, "{name}: offset");
            assert_eq!(
                le(field),
                value,
                "kind {kind}: {name} at {offset}, {size} bytes"
            );
        }
        assert_eq!(next, frame.len(), "kind {kind}: the rows cover the frame");
        assert_eq!(frame.len() % layout::RECORD_ALIGN, 0);
    }
}

/// The engine config the config-file test writes: two symbols and two
/// accounts, every value distinct.
fn sample_config() -> EngineConfig {
    EngineConfig {
        symbols: vec![
            SymbolSpec {
                id: 7,
                tick_size: 5,
                lot_size: 3,
                reference_price: 1_000_005,
                price_band_bps: 1_500,
            },
            SymbolSpec {
                id: 9,
                tick_size: 10,
                lot_size: 2,
                reference_price: 2_000_010,
                price_band_bps: 2_500,
            },
        ],
        accounts: vec![
            AccountSpec {
                id: 1,
                limits: RiskLimits {
                    max_order_qty: 1_000_001,
                    max_order_notional: (1 << 70) + 3,
                    max_open_orders: 101,
                    max_position: 5_000_001,
                },
                default_stp: StpMode::CancelBoth,
            },
            AccountSpec {
                id: 2,
                limits: RiskLimits {
                    max_order_qty: 1_000_002,
                    max_order_notional: (1 << 80) + 5,
                    max_open_orders: 102,
                    max_position: 5_000_002,
                },
                default_stp: StpMode::CancelIncoming,
            },
        ],
        order_capacity: 64,
        max_levels_per_side: 16,
    }
}

/// Whether a file name matches a pattern of FORMAT.md's file list:
/// `*` is any text, `{first_seq:020}` twenty digits, `{digest:016x}`
/// sixteen hex digits.
fn matches(pattern: &str, name: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix('*') {
        return (0..=name.len()).any(|i| name.is_char_boundary(i) && matches(rest, &name[i..]));
    }
    for (placeholder, len, ok) in [
        ("{first_seq:020}", 20, u8::is_ascii_digit as fn(&u8) -> bool),
        ("{digest:016x}", 16, |b: &u8| {
            b.is_ascii_hexdigit() && !b.is_ascii_uppercase()
        }),
    ] {
        if let Some(rest) = pattern.strip_prefix(placeholder) {
            return name.len() >= len
                && name.as_bytes()[..len].iter().all(ok)
                && matches(rest, &name[len..]);
        }
    }
    match (pattern.chars().next(), name.chars().next()) {
        (None, None) => true,
        (Some(p), Some(n)) if p == n => matches(&pattern[p.len_utf8()..], &name[n.len_utf8()..]),
        _ => false,
    }
}

/// The file-name patterns of FORMAT.md's "Files" block, under
/// `{journal.dir}/shard-{id}/`.
fn documented_file_patterns() -> Vec<&'static str> {
    let mut lines = FORMAT.lines().skip_while(|l| *l != "## Files");
    assert!(lines.next().is_some(), "no \"## Files\" in FORMAT.md");
    let block: Vec<&str> = lines
        .skip_while(|l| *l != "```")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    block
        .iter()
        .map(|line| {
            let path = line.split_whitespace().next().unwrap();
            path.strip_prefix("{journal.dir}/shard-{id}/")
                .unwrap_or_else(|| panic!("{path:?} is not under {{journal.dir}}/shard-{{id}}/"))
        })
        .collect()
}

#[test]
fn format_md_file_names_are_the_ones_the_code_makes() {
    let patterns = documented_file_patterns();
    let named = |name: &str| {
        assert!(
            patterns.iter().any(|p| matches(p, name)),
            "{name:?} matches no file pattern of FORMAT.md ({patterns:?})"
        );
    };
    assert_eq!(
        journal::shard_dir(Path::new("j"), 3),
        Path::new("j").join("shard-3")
    );
    named(&journal::segment_file_name(12));
    named(&journal::segment_file_name(u64::MAX));
    named(&format!("next-1-2{}", layout::SPARE_SUFFIX));
    named(&format!(
        "{}{}",
        journal::segment_file_name(1),
        layout::CORRUPT_SUFFIX
    ));
    named(&config_file::file_name(0xab));
    named(&config_file::file_name(u64::MAX));
    named("LOCK");
    named(journal::head::HEAD_FILE);
    named(journal::head::HEAD_TMP_FILE);
    assert!(!patterns.iter().any(|p| matches(p, "12.seg")));
}

#[test]
fn format_md_config_file_tables_are_what_a_start_writes() {
    let tmp = TempDir::new("format-md");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let current = sample_config();
    let mut engine = Engine::new(&current);
    let mut events: Vec<Event> = Vec::new();
    let (writer, restored) = journal::restore(
        tmp.path(),
        0,
        &cfg,
        false,
        &mut engine,
        &current,
        1,
        &mut events,
    )
    .unwrap();
    let (epoch, _) = restored
        .new_epoch
        .expect("a fresh journal's first record is its epoch");
    assert_eq!(epoch, ConfigEpoch::of(&current));
    // Every file the start made has a name FORMAT.md lists.
    let patterns = documented_file_patterns();
    for dir_entry in std::fs::read_dir(tmp.path()).unwrap() {
        let name = dir_entry.unwrap().file_name().into_string().unwrap();
        assert!(
            patterns.iter().any(|p| matches(p, &name)),
            "the journal made {name:?}, which FORMAT.md does not list"
        );
    }
    drop(writer);

    let file = std::fs::read(tmp.path().join(config_file::file_name(epoch.digest))).unwrap();
    let body = config_file::encode(&current);
    let vars = [("L", body.len())];
    let (_, rows) = table("### Config file");
    let mut next = 0;
    for row in &rows {
        let (offset, size) = (eval(row[0], &vars), eval(row[1], &vars));
        let (name, text) = row[2].split_once(": ").expect("`name: text`");
        assert_eq!(offset, next, "{name} follows the field before it");
        next = offset + size;
        let field = &file[offset..next];
        let value = match name {
            "magic" => {
                assert!(text.contains(std::str::from_utf8(&config_file::FILE_MAGIC).unwrap()));
                le(&config_file::FILE_MAGIC)
            }
            "version" => {
                assert_eq!(text, config_file::FILE_VERSION.to_string());
                u128::from(config_file::FILE_VERSION)
            }
            "reserved" => 0,
            "body_len" => {
                assert_eq!(body.len(), epoch.config_bytes as usize);
                body.len() as u128
            }
            "digest" => {
                assert_eq!(config_file::digest(&body), epoch.digest);
                u128::from(epoch.digest)
            }
            "body" => {
                assert_eq!(field, body, "body: the canonical encoding");
                continue;
            }
            "crc" => u128::from(crc32c::crc32c(&file[crc_range(text, &vars)])),
            other => panic!("FORMAT.md names config file field {other:?}, the code has none"),
        };
        assert_eq!(le(field), value, "{name} at {offset}, {size} bytes");
    }
    assert_eq!(next, file.len(), "the rows cover the file");

    // The body, row by row: the fixed part, then each symbol, each account.
    let (s, a) = (current.symbols.len(), current.accounts.len());
    let vars = [("S", s), ("A", a)];
    let (_, rows) = table("### Config body");
    assert_eq!(rows.len(), 3, "fixed part, symbols, accounts");
    let fixed = [
        ("order_capacity", u128::from(current.order_capacity)),
        (
            "max_levels_per_side",
            u128::from(current.max_levels_per_side),
        ),
        ("symbol_count", s as u128),
        ("account_count", a as u128),
    ];
    let (offset, size) = (eval(rows[0][0], &vars), eval(rows[0][1], &vars));
    assert_eq!(offset, 0);
    check_layout("body", rows[0][2], &body[offset..offset + size], &fixed);

    let (offset, size) = (eval(rows[1][0], &vars), eval(rows[1][1], &vars));
    assert_eq!(
        offset,
        eval(rows[0][1], &vars),
        "symbols follow the fixed part"
    );
    let each = size / s;
    for (i, spec) in current.symbols.iter().enumerate() {
        let fields = [
            ("id", u128::from(spec.id)),
            ("price_band_bps", u128::from(spec.price_band_bps)),
            ("tick_size", u128::from(spec.tick_size as u64)),
            ("lot_size", u128::from(spec.lot_size)),
            ("reference_price", u128::from(spec.reference_price as u64)),
        ];
        let at = offset + i * each;
        check_layout("symbol", rows[1][2], &body[at..at + each], &fields);
    }

    let (offset, size) = (eval(rows[2][0], &vars), eval(rows[2][1], &vars));
    assert_eq!(
        offset,
        eval(rows[1][0], &vars) + eval(rows[1][1], &vars),
        "accounts follow the symbols"
    );
    let each = size / a;
    for (i, spec) in current.accounts.iter().enumerate() {
        let fields = [
            ("id", u128::from(spec.id)),
            ("max_open_orders", u128::from(spec.limits.max_open_orders)),
            ("max_order_qty", u128::from(spec.limits.max_order_qty)),
            ("max_order_notional", spec.limits.max_order_notional),
            ("max_position", u128::from(spec.limits.max_position)),
            ("default_stp", spec.default_stp as u128),
        ];
        let at = offset + i * each;
        check_layout("account", rows[2][2], &body[at..at + each], &fields);
    }
    assert_eq!(offset + size, body.len(), "the rows cover the body");
}

/// OPERATIONS.md keeps the operator's sizing figure; it must follow the
/// format.
#[test]
fn operations_md_record_sizes_follow_the_format() {
    let smallest = KINDS
        .iter()
        .map(|(kind, _)| layout::record_bytes(codec::payload_len(*kind).unwrap()))
        .min()
        .unwrap();
    let new = layout::record_bytes(codec::payload_len(codec::kind::NEW).unwrap());
    let claim = format!(
        "a record is {smallest} to {} bytes (a new order is {new})",
        journal::MAX_RECORD_BYTES
    );
    let prose = OPERATIONS.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(prose.contains(&claim), "OPERATIONS.md should say {claim:?}");
}
