//! The record payload codec: every command and config epoch round-trips,
//! any bytes decode to an entry or a typed error (never a panic), and the
//! payload table in FORMAT.md matches the codec.

use proptest::prelude::*;
use tradsys::engine::*;
use tradsys::journal::codec::{self, CodecError, KINDS, MAX_PAYLOAD};
use tradsys::journal::{ConfigEpoch, Entry};

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

/// Every kind of record payload.
fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![8 => command().prop_map(Entry::Command), 1 => config_epoch()]
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

#[test]
fn format_md_payload_table_matches_the_codec() {
    let doc = include_str!("../src/journal/FORMAT.md");
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | kind | name | len | layout |
        if cells.len() < 5 {
            continue;
        }
        let (Ok(kind), Ok(len)) = (cells[1].parse::<u16>(), cells[3].parse::<usize>()) else {
            continue;
        };
        assert_eq!(codec::kind_name(kind), cells[2], "kind {kind}");
        assert_eq!(codec::payload_len(kind), Some(len), "kind {kind}");
        rows += 1;
    }
    assert_eq!(rows, KINDS.len());
}
