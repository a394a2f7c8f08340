//! Field validation: a bad field is one order's reject with the documented
//! reason (first failing check wins), never a disconnect; and secrets stay
//! out of debug output.

use tradsys::engine::*;
use tradsys::protocol::*;
use zerocopy::little_endian::{I64, U32, U64};

const ACCOUNT: AccountId = 7;

/// A valid GTC buy limit order; tests break one field at a time.
fn valid_order() -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: ACCOUNT,
        symbol: 1,
        client_order_id: 1001,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price: 10050,
        qty: 5,
    })
}

fn new_order_reject(edit: impl FnOnce(&mut NewOrderMsg)) -> Result<Command, RejectReason> {
    let mut msg = valid_order();
    edit(&mut msg);
    new_order_command(&msg, ACCOUNT)
}

#[test]
fn each_bad_new_order_field_has_its_own_reason() {
    use RejectReason::*;
    assert_eq!(new_order_reject(|m| m.side = 0), Err(InvalidSide));
    assert_eq!(new_order_reject(|m| m.side = 3), Err(InvalidSide));
    assert_eq!(
        new_order_reject(|m| m.order_kind = 0),
        Err(InvalidOrderType)
    );
    assert_eq!(
        new_order_reject(|m| m.order_kind = 3),
        Err(InvalidOrderType)
    );
    assert_eq!(new_order_reject(|m| m.tif = 0), Err(InvalidTimeInForce));
    assert_eq!(new_order_reject(|m| m.tif = 5), Err(InvalidTimeInForce));
    assert_eq!(new_order_reject(|m| m.stp = 4), Err(InvalidStpMode));
    assert_eq!(
        new_order_reject(|m| m.flags = 0x02),
        Err(InvalidCombination)
    );
    assert_eq!(
        new_order_reject(|m| m.flags = 0x81),
        Err(InvalidCombination)
    );
    assert_eq!(new_order_reject(|m| m.qty = U64::new(0)), Err(InvalidQty));
}

#[test]
fn the_first_failing_new_order_check_decides_the_reason() {
    use RejectReason::*;
    let all_bad = |m: &mut NewOrderMsg| {
        m.side = 9;
        m.order_kind = 9;
        m.tif = 9;
        m.stp = 9;
        m.flags = 0xFF;
        m.qty = U64::new(0);
    };
    assert_eq!(new_order_reject(all_bad), Err(InvalidSide));
    assert_eq!(
        new_order_reject(|m| {
            all_bad(m);
            m.side = 2;
        }),
        Err(InvalidOrderType)
    );
    assert_eq!(
        new_order_reject(|m| {
            all_bad(m);
            m.side = 2;
            m.order_kind = 2;
        }),
        Err(InvalidTimeInForce)
    );
    assert_eq!(
        new_order_reject(|m| {
            all_bad(m);
            m.side = 2;
            m.order_kind = 2;
            m.tif = 3;
        }),
        Err(InvalidStpMode)
    );
    assert_eq!(
        new_order_reject(|m| {
            all_bad(m);
            m.side = 2;
            m.order_kind = 2;
            m.tif = 3;
            m.stp = 0;
        }),
        Err(InvalidCombination)
    );
}

#[test]
fn new_order_flags_stp_and_reserved_bytes_map_as_documented() {
    let Ok(Command::New(order)) = new_order_reject(|m| {
        m.flags = ORDER_FLAG_POST_ONLY;
        m.stp = StpMode::CancelBoth as u8;
        m._reserved = [0xAA; 7]; // ignored on receipt
    }) else {
        panic!("valid order refused")
    };
    assert!(order.post_only);
    assert_eq!(order.stp, Some(StpMode::CancelBoth));
    assert_eq!(order.account, ACCOUNT);

    let Ok(Command::New(order)) = new_order_reject(|_| {}) else {
        panic!("valid order refused")
    };
    assert!(!order.post_only);
    assert_eq!(order.stp, None, "stp 0 is the account default");
}

#[test]
fn checks_that_need_the_book_are_left_to_the_engine() {
    // Market order price, negative price, odd symbol: all pass through.
    let result = new_order_reject(|m| {
        m.order_kind = OrderKind::Market as u8;
        m.price = I64::new(-5);
        m.symbol = U32::new(0);
    });
    let Ok(Command::New(order)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        (order.kind, order.price, order.symbol),
        (OrderKind::Market, -5, 0)
    );
}

#[test]
fn replace_to_zero_qty_is_invalid_qty() {
    let msg = ReplaceOrderMsg::new(1, 2, 3, 100, 0);
    assert_eq!(
        replace_command(&msg, ACCOUNT),
        Err(RejectReason::InvalidQty)
    );
    let msg = ReplaceOrderMsg::new(1, 2, 3, 100, 1);
    assert!(replace_command(&msg, ACCOUNT).is_ok());
}

#[test]
fn mass_cancel_symbol_zero_means_every_symbol() {
    let command = mass_cancel_command(&MassCancelMsg::new(1, None), ACCOUNT);
    assert_eq!(
        command,
        Command::MassCancel {
            account: ACCOUNT,
            symbol: None,
            reason: CancelReason::MassCancel
        }
    );
}

fn encoded<M: WireMessage>(msg: &M) -> Vec<u8> {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = encode(msg, 1, &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn only_order_entry_messages_become_commands() {
    // `Some(true)`: a command; `Some(false)`: a reject; `None`: not a command.
    let cases = [
        (encoded(&LogonMsg::new(1, b"t", 0, false).unwrap()), None),
        (encoded(&LogoutMsg::new()), None),
        (encoded(&ClientHeartbeatMsg::new()), None),
        (encoded(&OrderStatusRequestMsg::new(1, 2, 3)), None),
        (encoded(&valid_order()), Some(true)),
        (encoded(&CancelOrderMsg::new(1, 2, 3)), Some(true)),
        (encoded(&ReplaceOrderMsg::new(1, 2, 3, 4, 5)), Some(true)),
        (encoded(&MassCancelMsg::new(1, Some(3))), Some(true)),
        (encoded(&ReplaceOrderMsg::new(1, 2, 3, 4, 0)), Some(false)),
    ];
    for (bytes, expected) in cases {
        let message = decode_client(&bytes).unwrap().message;
        assert_eq!(
            client_command(&message, ACCOUNT).map(|c| c.is_ok()),
            expected,
            "{message:?}"
        );
    }
}

fn logon_with(
    edit: impl FnOnce(&mut LogonMsg),
) -> Result<(u32, Vec<u8>, u32, bool), LogonRejectReason> {
    let mut msg = LogonMsg::new(3, b"tok-en", 1000, false).unwrap();
    edit(&mut msg);
    logon_request(&msg).map(|r| {
        (
            r.account,
            r.token.to_vec(),
            r.heartbeat_interval_ms,
            r.cancel_on_disconnect,
        )
    })
}

#[test]
fn logon_fields_are_checked_before_credentials() {
    use LogonRejectReason::*;
    assert_eq!(logon_with(|_| {}), Ok((3, b"tok-en".to_vec(), 1000, false)));
    assert_eq!(
        logon_with(|m| m.flags = LOGON_FLAG_CANCEL_ON_DISCONNECT),
        Ok((3, b"tok-en".to_vec(), 1000, true))
    );
    assert_eq!(logon_with(|m| m.flags = 0x02), Err(UnsupportedFlags));
    assert_eq!(
        logon_with(|m| m.token = [0; TOKEN_LEN]),
        Err(InvalidCredentials)
    );
    assert_eq!(logon_with(|m| m.token[1] = 0x07), Err(InvalidCredentials));
    assert_eq!(logon_with(|m| m.token[2] = 0xC3), Err(InvalidCredentials));
    // Bytes after the NUL padding began: not a NUL-padded token.
    assert_eq!(logon_with(|m| m.token[20] = b'x'), Err(InvalidCredentials));
    // A full-length token has no padding at all.
    assert_eq!(
        logon_with(|m| m.token = [b'k'; TOKEN_LEN]).map(|r| r.1.len()),
        Ok(TOKEN_LEN)
    );
}

#[test]
fn debug_output_never_shows_the_token() {
    let msg = LogonMsg::new(3, b"hunter2-secret", 1000, true).unwrap();
    let request = logon_request(&msg).unwrap();
    for text in [
        format!("{msg:?}"),
        format!("{request:?}"),
        format!("{:?}", ClientMessage::Logon(&msg)),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

#[test]
fn reports_with_undefined_codes_do_not_become_events() {
    let accepted = Event::Accepted {
        order_id: 1,
        account: ACCOUNT,
        symbol: 1,
        client_order_id: 1,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        price: 1,
        qty: 1,
    };
    let Some(SessionReport::Accepted(mut msg)) =
        SessionReport::from_event(&accepted, 0, ReportNumber::NONE)
    else {
        panic!()
    };
    assert_eq!(
        report_to_event(&GatewayMessage::OrderAccepted(&msg), ACCOUNT),
        Some(accepted)
    );
    msg.side = 3;
    assert_eq!(
        report_to_event(&GatewayMessage::OrderAccepted(&msg), ACCOUNT),
        None
    );

    let end = SessionEndMsg::new(SessionEndReason::Logout, 5);
    assert_eq!(
        report_to_event(&GatewayMessage::SessionEnd(&end), ACCOUNT),
        None
    );
}
