//! Encode then decode gives back what went in, for every message type:
//! byte for byte for arbitrary contents, and value for value for the
//! engine commands and events the messages carry.

use proptest::prelude::*;
use tradsys::engine::*;
use tradsys::protocol::*;
use zerocopy::IntoBytes;

/// A message of type `M` whose every byte is arbitrary, the header
/// included: `encode` must replace the header and keep the rest (reserved
/// bytes too).
fn arbitrary_message<M: WireMessage>(bytes: &[u8]) -> M {
    M::read_from_bytes(&bytes[..M::LEN]).unwrap()
}

macro_rules! raw_roundtrip {
    ($test:ident, $ty:ident, $decode:ident, $enum:ident :: $variant:ident) => {
        proptest! {
            #[test]
            fn $test(seq in any::<u32>(), bytes in prop::collection::vec(any::<u8>(), 88)) {
                let mut msg: $ty = arbitrary_message(&bytes);
                let mut out = [0u8; MAX_MESSAGE_LEN];
                let n = encode(&msg, seq, &mut out).unwrap();
                prop_assert_eq!(n, <$ty as WireMessage>::LEN);
                msg.header = <$ty as WireMessage>::header_for(seq);
                prop_assert_eq!(&out[..n], msg.as_bytes());
                let decoded = $decode(&out).unwrap();
                prop_assert_eq!(decoded.len, n);
                let $enum::$variant(view) = decoded.message else {
                    panic!("decoded as {:?}", decoded.message);
                };
                prop_assert_eq!(view, &msg);
            }
        }
    };
}

raw_roundtrip!(
    logon_roundtrips,
    LogonMsg,
    decode_client,
    ClientMessage::Logon
);
raw_roundtrip!(
    logout_roundtrips,
    LogoutMsg,
    decode_client,
    ClientMessage::Logout
);
raw_roundtrip!(
    client_heartbeat_roundtrips,
    ClientHeartbeatMsg,
    decode_client,
    ClientMessage::Heartbeat
);
raw_roundtrip!(
    new_order_roundtrips,
    NewOrderMsg,
    decode_client,
    ClientMessage::NewOrder
);
raw_roundtrip!(
    cancel_order_roundtrips,
    CancelOrderMsg,
    decode_client,
    ClientMessage::CancelOrder
);
raw_roundtrip!(
    replace_order_roundtrips,
    ReplaceOrderMsg,
    decode_client,
    ClientMessage::ReplaceOrder
);
raw_roundtrip!(
    mass_cancel_roundtrips,
    MassCancelMsg,
    decode_client,
    ClientMessage::MassCancel
);
raw_roundtrip!(
    order_status_request_roundtrips,
    OrderStatusRequestMsg,
    decode_client,
    ClientMessage::OrderStatusRequest
);
raw_roundtrip!(
    order_query_roundtrips,
    OrderQueryMsg,
    decode_client,
    ClientMessage::OrderQuery
);
raw_roundtrip!(
    open_orders_request_roundtrips,
    OpenOrdersRequestMsg,
    decode_client,
    ClientMessage::OpenOrdersRequest
);
raw_roundtrip!(
    positions_request_roundtrips,
    PositionsRequestMsg,
    decode_client,
    ClientMessage::PositionsRequest
);
raw_roundtrip!(
    position_roundtrips,
    PositionMsg,
    decode_gateway,
    GatewayMessage::Position
);
raw_roundtrip!(
    query_done_roundtrips,
    QueryDoneMsg,
    decode_gateway,
    GatewayMessage::QueryDone
);

proptest! {
    #[test]
    fn realized_pnl_travels_as_two_halves(pnl in any::<i128>()) {
        let view = tradsys::engine::PositionView {
            position: 0,
            realized_pnl: pnl,
            open_orders: 0,
            open_buy_qty: 0,
            open_sell_qty: 0,
        };
        prop_assert_eq!(PositionMsg::new(1, 1, &view).realized_pnl(), pnl);
    }
}
raw_roundtrip!(
    logon_accepted_roundtrips,
    LogonAcceptedMsg,
    decode_gateway,
    GatewayMessage::LogonAccepted
);
raw_roundtrip!(
    logon_rejected_roundtrips,
    LogonRejectedMsg,
    decode_gateway,
    GatewayMessage::LogonRejected
);
raw_roundtrip!(
    gateway_heartbeat_roundtrips,
    GatewayHeartbeatMsg,
    decode_gateway,
    GatewayMessage::Heartbeat
);
raw_roundtrip!(
    order_accepted_roundtrips,
    OrderAcceptedMsg,
    decode_gateway,
    GatewayMessage::OrderAccepted
);
raw_roundtrip!(
    order_rejected_roundtrips,
    OrderRejectedMsg,
    decode_gateway,
    GatewayMessage::OrderRejected
);
raw_roundtrip!(
    fill_roundtrips,
    FillMsg,
    decode_gateway,
    GatewayMessage::Fill
);
raw_roundtrip!(
    order_canceled_roundtrips,
    OrderCanceledMsg,
    decode_gateway,
    GatewayMessage::OrderCanceled
);
raw_roundtrip!(
    order_replaced_roundtrips,
    OrderReplacedMsg,
    decode_gateway,
    GatewayMessage::OrderReplaced
);
raw_roundtrip!(
    cancel_rejected_roundtrips,
    CancelRejectedMsg,
    decode_gateway,
    GatewayMessage::CancelRejected
);
raw_roundtrip!(
    mass_cancel_done_roundtrips,
    MassCancelDoneMsg,
    decode_gateway,
    GatewayMessage::MassCancelDone
);
raw_roundtrip!(
    order_status_roundtrips,
    OrderStatusMsg,
    decode_gateway,
    GatewayMessage::OrderStatus
);
raw_roundtrip!(
    replay_request_roundtrips,
    ReplayRequestMsg,
    decode_client,
    ClientMessage::ReplayRequest
);
raw_roundtrip!(
    replay_started_roundtrips,
    ReplayStartedMsg,
    decode_gateway,
    GatewayMessage::ReplayStarted
);
raw_roundtrip!(
    replay_done_roundtrips,
    ReplayDoneMsg,
    decode_gateway,
    GatewayMessage::ReplayDone
);
raw_roundtrip!(
    done_orders_request_roundtrips,
    DoneOrdersRequestMsg,
    decode_client,
    ClientMessage::DoneOrdersRequest
);
raw_roundtrip!(
    done_order_roundtrips,
    DoneOrderMsg,
    decode_gateway,
    GatewayMessage::DoneOrder
);
raw_roundtrip!(
    session_end_roundtrips,
    SessionEndMsg,
    decode_gateway,
    GatewayMessage::SessionEnd
);

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn kind() -> impl Strategy<Value = OrderKind> {
    prop_oneof![Just(OrderKind::Limit), Just(OrderKind::Market)]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop::sample::select((1..=4).filter_map(TimeInForce::from_u8).collect::<Vec<_>>())
}

fn stp() -> impl Strategy<Value = Option<StpMode>> {
    prop::option::of(prop::sample::select(
        (1..=3).filter_map(StpMode::from_u8).collect::<Vec<_>>(),
    ))
}

fn reject_reason() -> impl Strategy<Value = RejectReason> {
    prop::sample::select(RejectReason::ALL.to_vec())
}

fn cancel_reason() -> impl Strategy<Value = CancelReason> {
    prop::sample::select(
        (1..=8)
            .filter_map(CancelReason::from_u8)
            .collect::<Vec<_>>(),
    )
}

fn liquidity() -> impl Strategy<Value = Liquidity> {
    prop_oneof![Just(Liquidity::Aggressor), Just(Liquidity::Passive)]
}

fn new_order() -> impl Strategy<Value = NewOrder> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        side(),
        kind(),
        tif(),
        any::<bool>(),
        stp(),
        any::<i64>(),
        1..=u64::MAX,
    )
        .prop_map(
            |(account, symbol, client_order_id, side, kind, tif, post_only, stp, price, qty)| {
                NewOrder {
                    account,
                    symbol,
                    client_order_id,
                    side,
                    kind,
                    tif,
                    post_only,
                    stp,
                    price,
                    qty,
                }
            },
        )
}

/// Every event that has a session report, with arbitrary contents.
fn report_event() -> impl Strategy<Value = Event> {
    let ids = (any::<u64>(), any::<u32>(), any::<u32>(), any::<u64>());
    prop_oneof![
        (ids, side(), kind(), tif(), any::<i64>(), any::<u64>()).prop_map(
            |((order_id, account, symbol, client_order_id), side, kind, tif, price, qty)| {
                Event::Accepted {
                    order_id,
                    account,
                    symbol,
                    client_order_id,
                    side,
                    kind,
                    tif,
                    price,
                    qty,
                }
            }
        ),
        (ids, reject_reason()).prop_map(|((_, account, symbol, client_order_id), reason)| {
            Event::Rejected {
                account,
                symbol,
                client_order_id,
                reason,
            }
        }),
        (
            ids,
            any::<u64>(),
            side(),
            any::<i64>(),
            any::<u64>(),
            any::<u64>(),
            liquidity()
        )
            .prop_map(
                |(
                    (order_id, account, symbol, client_order_id),
                    exec_id,
                    side,
                    price,
                    qty,
                    leaves_qty,
                    liquidity,
                )| {
                    Event::Fill {
                        exec_id,
                        order_id,
                        account,
                        symbol,
                        client_order_id,
                        side,
                        price,
                        qty,
                        leaves_qty,
                        liquidity,
                    }
                }
            ),
        (ids, any::<u64>(), cancel_reason()).prop_map(
            |((order_id, account, symbol, client_order_id), canceled_qty, reason)| {
                Event::Canceled {
                    order_id,
                    account,
                    symbol,
                    client_order_id,
                    canceled_qty,
                    reason,
                }
            }
        ),
        (ids, any::<i64>(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(
                (order_id, account, symbol, client_order_id),
                price,
                qty,
                leaves_qty,
                kept_priority,
            )| {
                Event::Replaced {
                    order_id,
                    account,
                    symbol,
                    client_order_id,
                    price,
                    qty,
                    leaves_qty,
                    kept_priority,
                }
            }
        ),
        (ids, reject_reason()).prop_map(
            |((order_id, account, symbol, client_order_id), reason)| {
                Event::CancelRejected {
                    order_id,
                    account,
                    symbol,
                    client_order_id,
                    reason,
                }
            }
        ),
    ]
}

fn event_account(event: &Event) -> AccountId {
    match *event {
        Event::Accepted { account, .. }
        | Event::Rejected { account, .. }
        | Event::Fill { account, .. }
        | Event::Canceled { account, .. }
        | Event::Replaced { account, .. }
        | Event::CancelRejected { account, .. } => account,
        _ => unreachable!("not a report event"),
    }
}

/// The one client message at the start of `buf`.
fn decode_one(buf: &[u8]) -> ClientMessage<'_> {
    decode_client(buf).unwrap().message
}

proptest! {
    #[test]
    fn every_report_event_survives_the_wire(
        event in report_event(),
        seq in any::<u32>(),
        timestamp_ns in any::<u64>(),
    ) {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let n = encode_event(&event, seq, timestamp_ns, &mut out).unwrap();
        let decoded = decode_gateway(&out[..n]).unwrap();
        prop_assert_eq!(decoded.len, n);
        prop_assert_eq!(decoded.message.header().seq.get(), seq);
        let back = report_to_event(&decoded.message, event_account(&event));
        prop_assert_eq!(back, Some(event));
        // The timestamp comes right before the 16-byte trailer of every
        // report (version 2: report_seq, stream, account), which is 0, 0,
        // and the account for a report not numbered.
        prop_assert_eq!(&out[n - 24..n - 16], &timestamp_ns.to_le_bytes()[..]);
        prop_assert_eq!(&out[n - 16..n - 4], &[0u8; 12][..]);
        prop_assert_eq!(&out[n - 4..n], &event_account(&event).to_le_bytes()[..]);
    }

    #[test]
    fn a_numbered_report_carries_its_stream_and_number(
        event in report_event(),
        stream in any::<u32>(),
        report_seq in 1..u64::MAX,
    ) {
        let number = ReportNumber { stream, report_seq };
        let report = SessionReport::from_event(&event, 0, number).unwrap();
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let n = report.encode(1, &mut out).unwrap();
        // The send buffer's append writes the same bytes, after what it holds.
        let mut appended = vec![0xA5u8; 3];
        prop_assert_eq!(report.encode_append(1, &mut appended), n);
        prop_assert_eq!(&appended[..3], &[0xA5u8; 3][..]);
        prop_assert_eq!(&appended[3..], &out[..n]);
        prop_assert_eq!(&out[n - 16..n - 8], &report_seq.to_le_bytes()[..]);
        prop_assert_eq!(&out[n - 8..n - 4], &stream.to_le_bytes()[..]);
        let decoded = decode_gateway(&out[..n]).unwrap();
        let received = tradsys::client::Received::from_view(&decoded.message);
        prop_assert_eq!(received.report_number(), Some(number));
    }

    #[test]
    fn a_report_does_not_fit_a_buffer_one_byte_short(event in report_event()) {
        let report = SessionReport::from_event(&event, 0, ReportNumber::NONE).unwrap();
        let mut out = vec![0u8; report.encoded_len() - 1];
        prop_assert_eq!(encode_event(&event, 1, 0, &mut out), None);
    }

    #[test]
    fn every_new_order_survives_the_wire(order in new_order(), seq in any::<u32>()) {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let n = encode(&NewOrderMsg::from_order(&order), seq, &mut out).unwrap();
        let ClientMessage::NewOrder(msg) = decode_one(&out[..n]) else { panic!() };
        prop_assert_eq!(new_order_command(msg, order.account), Ok(Command::New(order)));
    }

    #[test]
    fn cancels_replaces_and_mass_cancels_survive_the_wire(
        account in any::<u32>(),
        client_order_id in any::<u64>(),
        order_id in any::<u64>(),
        symbol in 1..=u32::MAX,
        new_price in any::<i64>(),
        new_qty in 1..=u64::MAX,
        all_symbols in any::<bool>(),
    ) {
        let mut out = [0u8; MAX_MESSAGE_LEN];

        let n = encode(&CancelOrderMsg::new(client_order_id, order_id, symbol), 1, &mut out).unwrap();
        let ClientMessage::CancelOrder(msg) = decode_one(&out[..n]) else { panic!() };
        prop_assert_eq!(
            cancel_command(msg, account),
            Command::Cancel(CancelOrder { account, symbol, order_id, client_order_id })
        );

        let replace = ReplaceOrderMsg::new(client_order_id, order_id, symbol, new_price, new_qty);
        let n = encode(&replace, 2, &mut out).unwrap();
        let ClientMessage::ReplaceOrder(msg) = decode_one(&out[..n]) else { panic!() };
        prop_assert_eq!(
            replace_command(msg, account),
            Ok(Command::Replace(ReplaceOrder {
                account, symbol, order_id, client_order_id, new_price, new_qty
            }))
        );

        let symbol = (!all_symbols).then_some(symbol);
        let n = encode(&MassCancelMsg::new(client_order_id, symbol), 3, &mut out).unwrap();
        let ClientMessage::MassCancel(msg) = decode_one(&out[..n]) else { panic!() };
        prop_assert_eq!(msg.client_order_id.get(), client_order_id);
        prop_assert_eq!(
            mass_cancel_command(msg, account),
            Command::MassCancel { account, symbol, reason: CancelReason::MassCancel }
        );
    }
}

#[test]
fn public_events_and_mass_cancel_done_are_not_session_reports() {
    let events = [
        Event::BookLevel {
            symbol: 1,
            side: Side::Buy,
            price: 10,
            qty: 0,
            order_count: 0,
        },
        Event::Trade {
            exec_id: 1,
            symbol: 1,
            price: 10,
            qty: 1,
            aggressor_side: Side::Sell,
        },
        Event::MassCancelDone {
            account: 1,
            symbol: 0,
            canceled_count: 3,
        },
        Event::KillSwitchSet {
            account: 1,
            on: true,
        },
        Event::HaltSet {
            symbol: 1,
            on: true,
        },
        Event::ReferencePriceSet {
            symbol: 1,
            price: 10,
        },
    ];
    let mut out = [0u8; MAX_MESSAGE_LEN];
    for event in events {
        assert_eq!(encode_event(&event, 1, 0, &mut out), None, "{event:?}");
    }
}

#[test]
fn logon_fields_survive_the_wire() {
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let n = encode(
        &LogonMsg::new(9, b"s3cret", 250, true).unwrap(),
        1,
        &mut out,
    )
    .unwrap();
    let ClientMessage::Logon(msg) = decode_one(&out[..n]) else {
        panic!()
    };
    let request = logon_request(msg).unwrap();
    assert_eq!(
        (
            request.account,
            request.token,
            request.heartbeat_interval_ms,
            request.cancel_on_disconnect
        ),
        (9, &b"s3cret"[..], 250, true)
    );
    assert_eq!(msg.token(), b"s3cret");
    assert!(LogonMsg::new(9, &[b'x'; TOKEN_LEN + 1], 0, false).is_none());
    assert!(LogonMsg::new(9, &[b'x'; TOKEN_LEN], 0, false).is_some());
}

#[test]
fn order_status_request_fields_survive_the_wire() {
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let n = encode(&OrderStatusRequestMsg::new(11, 12, 13), 1, &mut out).unwrap();
    let ClientMessage::OrderStatusRequest(msg) = decode_one(&out[..n]) else {
        panic!()
    };
    assert_eq!(
        (
            msg.client_order_id.get(),
            msg.order_id.get(),
            msg.symbol.get()
        ),
        (11, 12, 13)
    );
}

#[test]
fn session_level_gateway_messages_carry_their_fields() {
    let mut out = [0u8; MAX_MESSAGE_LEN];

    let n = encode(&LogonAcceptedMsg::new(3, 500, 2), 1, &mut out).unwrap();
    let GatewayMessage::LogonAccepted(m) = decode_gateway(&out[..n]).unwrap().message else {
        panic!()
    };
    assert_eq!(
        (
            m.account.get(),
            m.heartbeat_interval_ms.get(),
            m.next_expected_seq.get()
        ),
        (3, 500, 2)
    );

    let n = encode(
        &LogonRejectedMsg::new(LogonRejectReason::SessionLimit),
        1,
        &mut out,
    )
    .unwrap();
    let GatewayMessage::LogonRejected(m) = decode_gateway(&out[..n]).unwrap().message else {
        panic!()
    };
    assert_eq!(
        LogonRejectReason::from_u16(m.reason.get()),
        Some(LogonRejectReason::SessionLimit)
    );

    let n = encode(
        &SessionEndMsg::new(SessionEndReason::SequenceGap, 77),
        2,
        &mut out,
    )
    .unwrap();
    let GatewayMessage::SessionEnd(m) = decode_gateway(&out[..n]).unwrap().message else {
        panic!()
    };
    assert_eq!(
        SessionEndReason::from_u16(m.reason.get()),
        Some(SessionEndReason::SequenceGap)
    );
    assert_eq!(m.expected_seq.get(), 77);

    let n = encode(&MassCancelDoneMsg::new(21, None, 4, None), 3, &mut out).unwrap();
    let GatewayMessage::MassCancelDone(m) = decode_gateway(&out[..n]).unwrap().message else {
        panic!()
    };
    assert_eq!(
        (
            m.client_order_id.get(),
            m.symbol.get(),
            m.canceled_count.get(),
            m.reject_reason.get()
        ),
        (21, 0, 4, 0)
    );

    let refused = MassCancelDoneMsg::new(22, Some(5), 0, Some(RejectReason::RateLimited));
    assert_eq!(
        (refused.symbol.get(), refused.reject_reason.get()),
        (5, 302)
    );

    let n = encode(&GatewayHeartbeatMsg::new(), 4, &mut out).unwrap();
    assert!(matches!(
        decode_gateway(&out[..n]).unwrap().message,
        GatewayMessage::Heartbeat(_)
    ));
}

#[test]
fn order_status_reports_a_resting_order_and_reveals_nothing_about_others() {
    let view = OrderView {
        order_id: 42,
        client_order_id: 1001,
        account: 7,
        symbol: 1,
        side: Side::Sell,
        price: 10050,
        leaves_qty: 3,
        filled_qty: 2,
        post_only: false,
        day: false,
    };
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let status = OrderStatusMsg::found(5, &OrderSnapshot::resting(&view));
    let n = encode(&status, 9, &mut out).unwrap();
    let GatewayMessage::OrderStatus(m) = decode_gateway(&out[..n]).unwrap().message else {
        panic!()
    };
    assert_eq!(
        (
            m.client_order_id.get(),
            m.order_id.get(),
            m.order_client_order_id.get(),
            m.symbol.get(),
            Side::from_u8(m.side),
            OrderState::from_u8(m.state),
            m.reject_reason.get(),
        ),
        (5, 42, 1001, 1, Some(Side::Sell), Some(OrderState::Open), 0)
    );
    assert_eq!(
        (
            m.price.get(),
            m.qty.get(),
            m.leaves_qty.get(),
            m.filled_qty.get()
        ),
        (10050, 5, 3, 2)
    );

    // Unknown: only the request is echoed; every order field is zero.
    let request = OrderStatusRequestMsg::new(6, 42, 1);
    let unknown = OrderStatusMsg::unknown(&request);
    let mut expected = OrderStatusMsg::found(
        6,
        &OrderSnapshot {
            state: OrderState::Canceled,
            ..OrderSnapshot::resting(&view)
        },
    );
    expected.order_client_order_id.set(0);
    expected.side = 0;
    expected.state = 0;
    expected.price.set(0);
    expected.qty.set(0);
    expected.leaves_qty.set(0);
    expected.filled_qty.set(0);
    assert_eq!(unknown, expected);

    let refused = OrderStatusMsg::refused(&request, RejectReason::RateLimited);
    expected.reject_reason.set(302);
    assert_eq!(refused, expected);
}
