//! The wire layout is the contract: every struct's size and every field's
//! offset, size and type must be exactly what `docs/PROTOCOL.md` says. The
//! doc's tables are parsed here, so the two cannot drift apart silently.

use crate::doc_tables;

use core::mem::{offset_of, size_of};

use tradsys::protocol::*;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// One field as the compiler lays it out.
struct Field {
    name: &'static str,
    offset: usize,
    size: usize,
    rust_type: &'static str,
}

struct Layout {
    name: &'static str,
    msg_type: u8,
    size: usize,
    fields: Vec<Field>,
}

fn field_of<T, F>(_: fn(&T) -> &F) -> (usize, &'static str) {
    (size_of::<F>(), std::any::type_name::<F>())
}

macro_rules! layout {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        Layout {
            name: <$ty as WireMessage>::NAME,
            msg_type: <$ty as WireMessage>::MSG_TYPE,
            size: size_of::<$ty>(),
            fields: vec![$({
                let (size, rust_type) = field_of(|m: &$ty| &m.$field);
                Field {
                    name: stringify!($field).trim_start_matches('_'),
                    offset: offset_of!($ty, $field),
                    size,
                    rust_type,
                }
            }),*],
        }
    };
}

fn all_layouts() -> Vec<Layout> {
    vec![
        layout!(LogonMsg {
            header,
            account,
            heartbeat_interval_ms,
            token,
            flags,
            _reserved
        }),
        layout!(LogoutMsg { header }),
        layout!(ClientHeartbeatMsg { header }),
        layout!(NewOrderMsg {
            header,
            client_order_id,
            symbol,
            side,
            order_kind,
            tif,
            flags,
            stp,
            _reserved,
            price,
            qty
        }),
        layout!(CancelOrderMsg {
            header,
            client_order_id,
            order_id,
            symbol,
            _reserved
        }),
        layout!(ReplaceOrderMsg {
            header,
            client_order_id,
            order_id,
            symbol,
            _reserved,
            new_price,
            new_qty
        }),
        layout!(MassCancelMsg {
            header,
            client_order_id,
            symbol,
            _reserved
        }),
        layout!(OrderStatusRequestMsg {
            header,
            client_order_id,
            order_id,
            symbol,
            _reserved
        }),
        layout!(OrderQueryMsg {
            header,
            client_order_id,
            order_client_order_id,
            symbol,
            _reserved
        }),
        layout!(OpenOrdersRequestMsg {
            header,
            client_order_id,
            symbol,
            cursor_place,
            cursor
        }),
        layout!(PositionsRequestMsg {
            header,
            client_order_id,
            symbol,
            cursor_place
        }),
        layout!(ReplayRequestMsg {
            header,
            stream,
            _reserved,
            after_report_seq
        }),
        layout!(DoneOrdersRequestMsg {
            header,
            client_order_id,
            symbol,
            cursor_place,
            cursor
        }),
        layout!(LogonAcceptedMsg {
            header,
            account,
            heartbeat_interval_ms,
            next_expected_seq,
            _reserved
        }),
        layout!(LogonRejectedMsg {
            header,
            reason,
            _reserved
        }),
        layout!(GatewayHeartbeatMsg { header }),
        layout!(OrderAcceptedMsg {
            header,
            order_id,
            client_order_id,
            symbol,
            side,
            order_kind,
            tif,
            _reserved,
            price,
            qty,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(OrderRejectedMsg {
            header,
            client_order_id,
            symbol,
            reason,
            _reserved,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(FillMsg {
            header,
            exec_id,
            order_id,
            client_order_id,
            symbol,
            side,
            liquidity,
            _reserved,
            price,
            qty,
            leaves_qty,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(OrderCanceledMsg {
            header,
            order_id,
            client_order_id,
            symbol,
            reason,
            _reserved,
            canceled_qty,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(OrderReplacedMsg {
            header,
            order_id,
            client_order_id,
            symbol,
            kept_priority,
            _reserved,
            price,
            qty,
            leaves_qty,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(CancelRejectedMsg {
            header,
            order_id,
            client_order_id,
            symbol,
            reason,
            _reserved,
            timestamp_ns,
            report_seq,
            stream,
            account
        }),
        layout!(MassCancelDoneMsg {
            header,
            client_order_id,
            symbol,
            canceled_count,
            reject_reason,
            _reserved
        }),
        layout!(OrderStatusMsg {
            header,
            client_order_id,
            order_id,
            order_client_order_id,
            symbol,
            side,
            state,
            reject_reason,
            price,
            qty,
            leaves_qty,
            filled_qty
        }),
        layout!(SessionEndMsg {
            header,
            reason,
            _reserved,
            expected_seq
        }),
        layout!(PositionMsg {
            header,
            client_order_id,
            symbol,
            open_orders,
            position,
            realized_pnl_lo,
            realized_pnl_hi,
            open_buy_qty,
            open_sell_qty
        }),
        layout!(QueryDoneMsg {
            header,
            client_order_id,
            next_cursor,
            next_cursor_place,
            count,
            reject_reason,
            more,
            _reserved
        }),
        layout!(ReplayStartedMsg {
            header,
            stream,
            _reserved,
            upto
        }),
        layout!(ReplayDoneMsg {
            header,
            stream,
            reject_reason,
            _reserved,
            last,
            count
        }),
        layout!(DoneOrderMsg {
            header,
            client_order_id,
            order_id,
            order_client_order_id,
            symbol,
            side,
            state,
            cancel_reason,
            _reserved,
            qty,
            filled_qty,
            average_price,
            notional_lo,
            notional_hi
        }),
    ]
}

/// `### 0x04 NewOrder — client → gateway, 48 bytes` for every message.
fn message_headings() -> Vec<(u8, String, usize, String)> {
    DOC.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("### 0x")?;
            let msg_type = u8::from_str_radix(&rest[..2], 16).unwrap();
            let (name, tail) = rest[3..].split_once(" — ").unwrap();
            let size = tail
                .rsplit_once(", ")
                .and_then(|(_, s)| s.strip_suffix(" bytes"))
                .unwrap()
                .parse()
                .unwrap();
            Some((msg_type, name.to_string(), size, line.to_string()))
        })
        .collect()
}

/// The Rust type a doc type column promises.
fn doc_type_matches(doc_type: &str, rust_type: &str) -> bool {
    match doc_type {
        "header" => rust_type.ends_with("::Header"),
        "u8" => rust_type == "u8",
        "u16" => rust_type.contains("::U16<") && rust_type.contains("LittleEndian"),
        "u32" => rust_type.contains("::U32<") && rust_type.contains("LittleEndian"),
        "u64" => rust_type.contains("::U64<") && rust_type.contains("LittleEndian"),
        "i64" => rust_type.contains("::I64<") && rust_type.contains("LittleEndian"),
        bytes => {
            let n = bytes
                .strip_prefix("bytes[")
                .and_then(|b| b.strip_suffix(']'));
            n.is_some_and(|n| rust_type == format!("[u8; {n}]"))
        }
    }
}

#[test]
fn struct_sizes_are_the_published_lengths() {
    let expected: [(&str, usize); 30] = [
        ("Logon", 56),
        ("Logout", 8),
        ("Heartbeat (client)", 8),
        ("NewOrder", 48),
        ("CancelOrder", 32),
        ("ReplaceOrder", 48),
        ("MassCancel", 24),
        ("OrderStatusRequest", 32),
        ("OrderQuery", 32),
        ("OpenOrdersRequest", 32),
        ("PositionsRequest", 24),
        ("ReplayRequest", 24),
        ("DoneOrdersRequest", 32),
        ("LogonAccepted", 24),
        ("LogonRejected", 16),
        ("Heartbeat (gateway)", 8),
        ("OrderAccepted", 72),
        ("OrderRejected", 48),
        ("Fill", 88),
        ("OrderCanceled", 64),
        ("OrderReplaced", 80),
        ("CancelRejected", 56),
        ("MassCancelDone", 32),
        ("OrderStatus", 72),
        ("SessionEnd", 16),
        ("Position", 64),
        ("QueryDone", 40),
        ("ReplayStarted", 24),
        ("ReplayDone", 32),
        ("DoneOrder", 80),
    ];
    let layouts = all_layouts();
    assert_eq!(layouts.len(), expected.len());
    for (layout, (name, size)) in layouts.iter().zip(expected) {
        assert_eq!((layout.name, layout.size), (name, size));
        assert_eq!(layout.size % 8, 0, "{name} is not a multiple of 8 bytes");
        assert!(layout.size <= MAX_MESSAGE_LEN);
    }
    assert_eq!(size_of::<Header>(), HEADER_LEN);
}

#[test]
fn every_struct_field_is_listed_and_they_tile_the_struct_without_gaps() {
    for layout in all_layouts() {
        let mut end = 0;
        for field in &layout.fields {
            assert_eq!(
                field.offset, end,
                "{}: gap or overlap before {}",
                layout.name, field.name
            );
            end = field.offset + field.size;
        }
        assert_eq!(
            end, layout.size,
            "{}: fields do not cover the struct",
            layout.name
        );
    }
}

#[test]
fn header_matches_the_doc_table() {
    let rows = doc_tables::table_after(DOC, "## 2. Header");
    let actual = [
        ("length", offset_of!(Header, length), 2, "u16"),
        ("msg_type", offset_of!(Header, msg_type), 1, "u8"),
        ("version", offset_of!(Header, version), 1, "u8"),
        ("seq", offset_of!(Header, seq), 4, "u32"),
    ];
    assert_eq!(rows.len(), actual.len());
    for (row, (name, offset, size, ty)) in rows.iter().zip(actual) {
        assert_eq!(
            (
                row[0].as_str(),
                row[1].as_str(),
                row[2].as_str(),
                row[3].as_str()
            ),
            (
                offset.to_string().as_str(),
                size.to_string().as_str(),
                ty,
                name
            )
        );
    }
    assert_eq!(PROTOCOL_VERSION, 2);
    assert_eq!(MAX_MESSAGE_LEN, 256);
}

#[test]
fn every_message_table_in_the_doc_matches_its_struct() {
    let headings = message_headings();
    let layouts = all_layouts();
    assert_eq!(
        headings.iter().map(|h| h.1.as_str()).collect::<Vec<_>>(),
        layouts.iter().map(|l| l.name).collect::<Vec<_>>(),
        "message sections in PROTOCOL.md"
    );
    for ((msg_type, _, size, heading), layout) in headings.iter().zip(&layouts) {
        assert_eq!(*msg_type, layout.msg_type, "{heading}");
        assert_eq!(*size, layout.size, "{heading}");
        let rows = doc_tables::table_after(DOC, heading);
        assert_eq!(rows.len(), layout.fields.len(), "{heading}: row count");
        for (row, field) in rows.iter().zip(&layout.fields) {
            let context = format!("{heading}, field {}", field.name);
            assert_eq!(row[0], field.offset.to_string(), "{context}: offset");
            assert_eq!(row[1], field.size.to_string(), "{context}: size");
            assert!(
                doc_type_matches(&row[2], field.rust_type),
                "{context}: doc type {} vs Rust {}",
                row[2],
                field.rust_type
            );
            assert_eq!(row[3], field.name, "{context}: name");
        }
        let header_note = &rows[0][4];
        let expected_note = format!("length {}, msg_type 0x{:02X}", layout.size, layout.msg_type);
        assert!(
            header_note.starts_with(&expected_note),
            "{heading}: {header_note}"
        );
    }
}

#[test]
fn message_index_matches_the_structs() {
    let rows = doc_tables::table_after(DOC, "## 6. Message index");
    let layouts = all_layouts();
    assert_eq!(rows.len(), layouts.len());
    for (row, layout) in rows.iter().zip(&layouts) {
        let direction = if layout.msg_type < 0x80 {
            "client → gateway"
        } else {
            "gateway → client"
        };
        assert_eq!(
            row,
            &[
                format!("0x{:02X}", layout.msg_type),
                layout.name.to_string(),
                direction.to_string(),
                layout.size.to_string(),
            ]
        );
    }
}
