//! Report numbers (PROTOCOL.md 5.9): every order report the engine makes
//! for an account takes the next number of that account's stream, from 1,
//! whichever command caused it (the account's own, another account's
//! trade, a mass cancel, the operator's kill switch); an account the
//! engine does not know gets no number; the same commands give the same
//! numbers (what a restart and a replay source rely on).

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

/// Records `(account, number)` of every numbered report, and counts the
/// reports that came unnumbered.
#[derive(Default)]
struct Numbers {
    numbered: Vec<(AccountId, u64)>,
    unnumbered: usize,
}

fn account(event: &Event) -> Option<AccountId> {
    match *event {
        Event::Accepted { account, .. }
        | Event::Rejected { account, .. }
        | Event::Fill { account, .. }
        | Event::Canceled { account, .. }
        | Event::Replaced { account, .. }
        | Event::CancelRejected { account, .. } => Some(account),
        _ => None,
    }
}

impl EventSink for Numbers {
    fn emit(&mut self, event: &Event) {
        self.unnumbered += usize::from(account(event).is_some());
    }
    fn emit_report(&mut self, event: &Event, report_seq: u64) {
        self.numbered.push((account(event).unwrap(), report_seq));
    }
}

fn new(
    account: AccountId,
    id: u64,
    side: Side,
    price: Price,
    qty: Qty,
    tif: TimeInForce,
) -> Command {
    Command::New(NewOrder {
        account,
        symbol: SYM,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    })
}

fn commands() -> Vec<Command> {
    vec![
        new(ALICE, 1, Sell, 1_010, 5, TimeInForce::Gtc), // accepted (alice 1)
        new(BOB, 2, Buy, 1_010, 2, TimeInForce::Ioc),    // bob 1, 2 (fill); alice 2 (fill)
        new(BOB, 3, Buy, 1_000, 0, TimeInForce::Gtc),    // rejected: bob 3
        new(ALICE, 4, Buy, 990, 1, TimeInForce::Gtc),    // alice 3
        Command::MassCancel {
            account: ALICE,
            symbol: None,
            reason: CancelReason::MassCancel,
        }, // alice 4, 5
        Command::KillSwitch {
            account: BOB,
            on: true,
        },
        new(BOB, 5, Buy, 990, 1, TimeInForce::Gtc), // rejected (killed): bob 4
        new(99, 6, Buy, 990, 1, TimeInForce::Gtc),  // unknown account: not numbered
    ]
}

#[test]
fn every_report_of_an_account_takes_the_next_number_of_its_stream() {
    let mut engine = Harness::new().engine;
    let mut numbers = Numbers::default();
    for command in commands() {
        engine.process(&command, &mut numbers);
    }
    let of = |who: AccountId| -> Vec<u64> {
        numbers
            .numbered
            .iter()
            .filter(|(a, _)| *a == who)
            .map(|(_, n)| *n)
            .collect()
    };
    assert_eq!(of(ALICE), vec![1, 2, 3, 4, 5]);
    assert_eq!(of(BOB), vec![1, 2, 3, 4]);
    assert_eq!(numbers.unnumbered, 1, "the unknown account's reject");
    assert_eq!(engine.last_report_seq(ALICE), Some(5));
    assert_eq!(engine.last_report_seq(BOB), Some(4));
    assert_eq!(engine.last_report_seq(CAROL), Some(0));
    assert_eq!(engine.last_report_seq(99), None);

    // The same commands into a fresh engine: the same numbers.
    let mut again = Harness::new().engine;
    let mut replayed = Numbers::default();
    for command in commands() {
        again.process(&command, &mut replayed);
    }
    assert_eq!(replayed.numbered, numbers.numbered);
}
