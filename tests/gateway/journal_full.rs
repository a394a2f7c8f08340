//! A full disk, end to end: the gateway runs with a file-size limit that
//! lets the journal hold two small segments. Orders are acknowledged until
//! the journal cannot take more; then they are refused with
//! JournalUnavailable (305), the gateway keeps running, and after a restart
//! without the limit every acknowledged order is still there.

use crate::support::gateway::*;
use tradsys::client::Received;
use tradsys::engine::*;

#[test]
fn full_journal_refuses_orders_and_loses_nothing_acknowledged() {
    let dir = Gateway::new_dir();
    let overrides = "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000";
    // A first start makes each shard's first segment (256 KiB). The second
    // start asks for 1 MiB segments but may not write files over 600 KiB:
    // the existing segments fill, the next ones cannot be made (EFBIG).
    let (status, _) = Gateway::start_in(&dir, overrides).expect("starts").stop();
    assert!(status.success());
    let bigger = format!("{overrides}\n[journal]\nsegment_bytes = 1048576");
    let gateway = Gateway::start_limited(&dir, &bigger, Some(600 << 10)).expect("starts");
    let mut alice = gateway.logon(ALICE);
    let mut acked = Vec::new();
    let mut refused = 0;
    let mut full_symbol = 0;
    for i in 0..20_000u64 {
        // On both shards; 50 rest (the open-order limit), then rejects,
        // which are journaled too, fill the journal.
        let (symbol, price) = if i % 2 == 0 {
            (BTC, 9_500)
        } else {
            (ETH, 2_800)
        };
        let qty = if symbol == BTC { 1 } else { 10 };
        alice
            .new_order(&limit(ALICE, symbol, i, Side::Buy, price, qty))
            .unwrap();
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderAccepted(m) => acked.push((m.symbol.get(), m.order_id.get())),
            Received::OrderRejected(m)
                if m.reason.get() == RejectReason::JournalUnavailable.code() =>
            {
                refused += 1;
                full_symbol = m.symbol.get();
                if refused == 10 {
                    break;
                }
            }
            Received::OrderRejected(m) if m.reason.get() == RejectReason::MaxOpenOrders.code() => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        refused,
        10,
        "the journal filled up ({} acknowledged)",
        acked.len()
    );
    // Still serving: status works (it does not need the journal).
    let (symbol, order_id) = acked[0];
    alice.order_status(1, symbol, order_id).unwrap();
    assert!(matches!(
        alice.recv_skip_heartbeats().unwrap(),
        Received::OrderStatus(_)
    ));
    // A mass cancel the journal cannot take says so: refused with 305,
    // not "done, 0 canceled" while the orders stay live (a hostile pass
    // found it reported done).
    alice.mass_cancel(2, Some(full_symbol)).unwrap();
    let done = loop {
        match alice.recv_skip_heartbeats().unwrap() {
            Received::MassCancelDone(m) => break m,
            Received::OrderStatus(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        (done.reject_reason.get(), done.canceled_count.get()),
        (RejectReason::JournalUnavailable.code(), 0),
        "{done:?}"
    );
    let (status, log) = gateway.stop();
    assert!(status.success(), "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("journal: refusing commands")),
        "{}",
        log.join("\n")
    );

    let gateway = Gateway::start_in(&dir, overrides).expect("restart without the limit");
    assert_all_open(&gateway, ALICE, &acked);
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
