//! Requests a client sends just before its connection ends (PROTOCOL.md
//! 5.3): every message the gateway read before it saw the end is
//! processed, and cancel-on-disconnect runs after them. Over real sockets:
//! a session of Carol's account (cancel-on-disconnect in the config) sends
//! ten orders and closes its side at once, without reading an answer; her
//! other session sees each order accepted, then canceled `Disconnect`.

use std::net::Shutdown;

use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;

use crate::support::gateway::*;

#[test]
fn orders_sent_just_before_a_close_are_processed_then_canceled_on_disconnect() {
    let gateway = Gateway::start();
    let mut watcher = gateway.logon(CAROL);
    let mut quitter = gateway.logon(CAROL);
    for i in 0..10u64 {
        let order = NewOrder {
            account: 0,
            symbol: ETH,
            client_order_id: 500 + i,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price: 2_950 - 5 * i as i64,
            qty: 10,
        };
        quitter.queue(&NewOrderMsg::from_order(&order)).unwrap();
    }
    quitter.flush().unwrap();
    // The end of the stream right behind the orders, in the same segment
    // or the next: the gateway sees it as soon as it has read them.
    quitter.stream().shutdown(Shutdown::Write).unwrap();
    let mut accepted = Vec::new();
    let mut canceled = Vec::new();
    while canceled.len() < 10 {
        match watcher.recv_skip_heartbeats().unwrap() {
            Received::OrderAccepted(m) => {
                assert!(canceled.is_empty(), "an order accepted after the cancels");
                accepted.push(m.client_order_id.get());
            }
            Received::OrderCanceled(m) => {
                assert_eq!(m.reason, CancelReason::Disconnect as u8);
                canceled.push(m.client_order_id.get());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, (500..510).collect::<Vec<_>>());
    canceled.sort_unstable();
    assert_eq!(canceled, accepted);
    drop(quitter);
}
