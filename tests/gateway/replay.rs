//! Replay on logon with the real binary (PROTOCOL.md 5.9): trading on two
//! shards, a SIGKILL after a random number of reports, a restart on the
//! same journal, and Alice reconnecting with the last number she saw per
//! stream. She must get exactly the reports the journal holds after those
//! numbers (the oracle: the journal replayed into fresh engines, numbered
//! as the engine numbers them), then live ones, with no gap and no
//! duplicate. And the documented answers for points that are not kept.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use crate::support::gateway::*;
use tradsys::client::{Client, Received, ReportMerge};
use tradsys::config::Config;
use tradsys::engine::*;
use tradsys::journal::{shard_dir, Entry, JournalWriter};

const BTC: SymbolId = 1; // shard 0
const OVERRIDES: &str = "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000";

/// Every report of `account` the journals produce, per stream, numbered
/// by the engine (index `n - 1` holds number `n`).
fn numbered_oracle(config: &Config, account: AccountId) -> BTreeMap<u32, Vec<Event>> {
    struct Sink {
        account: AccountId,
        reports: Vec<Event>,
    }
    impl EventSink for Sink {
        fn emit(&mut self, _event: &Event) {}
        fn emit_report(&mut self, event: &Event, report_seq: u64) {
            let key = crate::replay_bounds::account_of(event);
            if key == Some(self.account) {
                self.reports.push(*event);
                assert_eq!(self.reports.len() as u64, report_seq, "numbers have no gap");
            }
        }
    }
    let mut streams = BTreeMap::new();
    for shard in 0..config.shard_count() {
        let mut engine = Engine::new(&config.engine_config(shard));
        let mut sink = Sink {
            account,
            reports: Vec::new(),
        };
        let dir = shard_dir(&config.journal.dir, shard as u16);
        let (writer, _) =
            JournalWriter::open(&dir, shard as u16, &config.journal, false, |record| {
                if let Entry::Command(command) = record.entry {
                    engine.process(&command, &mut sink);
                }
            })
            .expect("journal opens after a kill");
        drop(writer);
        streams.insert(shard as u32, sink.reports);
    }
    streams
}

/// Alice rests sells on both symbols and Bob's IOCs take them, pipelined,
/// until the connection dies.
fn workload(mut alice: Client, mut bob: Client) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for op in 0..100_000u64 {
            let (symbol, price, lot) = if op % 2 == 0 {
                (BTC, 10_001, 1)
            } else {
                (2, 3_005, 10)
            };
            let sell = limit(ALICE, symbol, op, Side::Sell, price, lot);
            let mut take = limit(BOB, symbol, op, Side::Buy, price, lot);
            take.tif = TimeInForce::Ioc;
            if alice.new_order(&sell).is_err() || bob.new_order(&take).is_err() {
                return; // the gateway is gone
            }
        }
    })
}

/// Reads everything until the connection dies; the `kill_at`-th message
/// fires `kill`.
fn reader(
    mut client: Client,
    kill_at: usize,
    kill: mpsc::Sender<()>,
) -> thread::JoinHandle<Vec<Received>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(message) = client.recv() {
            seen.push(message);
            if seen.len() == kill_at {
                let _ = kill.send(());
            }
        }
        seen
    })
}

#[test]
fn after_a_kill_a_client_gets_exactly_the_reports_it_missed_then_live_ones() {
    let dir = Gateway::new_dir();
    let config = Config::parse(&config(OVERRIDES, &dir)).unwrap();
    for (trial, kill_at) in [(0, 40), (1, 333), (2, 1_111)] {
        let gateway = Gateway::start_in(&dir, OVERRIDES).expect("start");
        let alice = gateway.logon(ALICE);
        let bob = gateway.logon(BOB);
        let (kill_tx, kill_rx) = mpsc::channel();
        let alice_seen = reader(alice.try_clone_for_reading(), kill_at, kill_tx);
        let bob_seen = reader(bob.try_clone_for_reading(), usize::MAX, mpsc::channel().0);
        let writer = workload(alice, bob);
        kill_rx.recv().expect("alice received enough reports");
        gateway.kill();
        writer.join().unwrap();
        let seen = alice_seen.join().unwrap();
        drop(bob_seen.join().unwrap());
        let oracle = numbered_oracle(&config, ALICE);

        // What Alice saw is the start of each stream, numbered as the
        // journal numbers it; her cursors are the last numbers she saw.
        let mut merge = ReportMerge::new();
        let mut delivered = Vec::new();
        for received in &seen {
            merge.offer(*received, |r| delivered.push(r));
        }
        assert_eq!(merge.held(), 0, "live reports come in order");
        for received in delivered.iter().filter(|r| r.report_number().is_some()) {
            let (event, number) = crate::replay_bounds::report_key_of(received, ALICE);
            assert!(
                number.report_seq > 0,
                "trial {trial}: every report here is an engine's"
            );
            let stream = &oracle[&number.stream];
            assert_eq!(
                stream.get(number.report_seq as usize - 1),
                Some(&event),
                "trial {trial}: report {number:?} differs from the journal's"
            );
        }
        let cursors: Vec<(u32, u64)> = oracle
            .keys()
            .map(|&stream| (stream, merge.last(stream).unwrap_or(0)))
            .collect();
        let missed: u64 = cursors
            .iter()
            .map(|&(s, last)| oracle[&s].len() as u64 - last)
            .sum();
        eprintln!(
            "trial {trial}: alice saw {} messages, cursors {cursors:?}, journal {:?}, missed {missed}",
            seen.len(),
            oracle.iter().map(|(s, r)| (*s, r.len())).collect::<Vec<_>>()
        );

        // Restart; Alice reconnects. An order sent before the replay
        // requests is a live report the replay repeats (dropped by the
        // merge); one sent after the replay is live only. The trials share
        // one journal, so a replay from below an earlier trial's live
        // orders (a cursor of 0: Alice saw no report of that stream before
        // the kill) repeats their reports: each trial's live orders have
        // ids of their own, and the wait below is for the live report.
        let live_ids = [900_001 + 2 * trial, 900_002 + 2 * trial];
        let upto_btc = oracle[&0].len() as u64;
        let gateway = Gateway::start_in(&dir, OVERRIDES).expect("restart");
        let mut alice = gateway.logon(ALICE);
        let mut delivered = Vec::new();
        let mut merge = ReportMerge::new();
        alice
            .new_order(&limit(ALICE, BTC, live_ids[0], Side::Sell, 10_900, 1))
            .unwrap();
        let done = alice
            .replay_streams(&cursors, &mut merge, |r| delivered.push(r))
            .unwrap();
        alice
            .new_order(&limit(ALICE, BTC, live_ids[1], Side::Sell, 10_900, 1))
            .unwrap();
        // Its answer (accepted, or refused by a risk limit) is numbered on
        // BTC's stream, after the journal's reports and the first one's.
        let second_answered = |delivered: &[Received]| {
            delivered.iter().any(|r| {
                r.report_number()
                    .is_some_and(|n| n.stream == 0 && n.report_seq > upto_btc)
                    && client_order_id(&crate::replay_bounds::report_key_of(r, ALICE).0)
                        == Some(live_ids[1])
            })
        };
        while !second_answered(&delivered) {
            let received = alice.recv().unwrap();
            merge.offer(received, |r| delivered.push(r));
        }
        assert_eq!(
            merge.held(),
            0,
            "trial {trial}: nothing held after the replays"
        );

        // Per stream: the journal's reports after the cursor, then the two
        // live accepts (on BTC's stream), numbered on without a gap.
        for &(stream, after) in &cursors {
            let expected = &oracle[&stream][after as usize..];
            let got: Vec<_> = delivered
                .iter()
                .filter(|r| r.report_number().is_some_and(|n| n.stream == stream))
                .map(|r| crate::replay_bounds::report_key_of(r, ALICE))
                .collect();
            let numbers: Vec<u64> = got.iter().map(|(_, n)| n.report_seq).collect();
            let live = if stream == 0 { 2 } else { 0 };
            let upto = oracle[&stream].len() as u64;
            assert_eq!(
                numbers,
                (after + 1..=upto + live).collect::<Vec<_>>(),
                "trial {trial} stream {stream}: no gap, no duplicate"
            );
            let replayed: Vec<Event> = got.iter().take(expected.len()).map(|(e, _)| *e).collect();
            assert_eq!(
                replayed, expected,
                "trial {trial} stream {stream}: the missed reports"
            );
            for (i, (event, _)) in got[expected.len()..].iter().enumerate() {
                assert_eq!(
                    client_order_id(event),
                    Some(live_ids[i]),
                    "trial {trial}: live report {event:?}"
                );
            }
            let done = done.iter().find(|d| d.stream.get() == stream).unwrap();
            let first_live = u64::from(stream == 0);
            assert_eq!(
                (done.reject_reason.get(), done.last.get(), done.count.get()),
                (0, upto + first_live, upto + first_live - after),
                "trial {trial} stream {stream}: ReplayDone"
            );
        }
        // Leave no order of Alice's for the next trial's oracle to trip on.
        alice.mass_cancel(1, None).unwrap();
        while !matches!(alice.recv().unwrap(), Received::MassCancelDone(_)) {}
        let (status, _) = gateway.stop();
        assert!(status.success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client order id of a new order's answer (accepted or refused).
fn client_order_id(event: &Event) -> Option<ClientOrderId> {
    match *event {
        Event::Accepted {
            client_order_id, ..
        }
        | Event::Rejected {
            client_order_id, ..
        } => Some(client_order_id),
        _ => None,
    }
}

/// The next message that is not a heartbeat.
fn next(client: &mut Client) -> Received {
    client.recv_skip_heartbeats().unwrap()
}

fn replay_done(client: &mut Client) -> (u32, u16, u64, u64) {
    match next(client) {
        Received::ReplayDone(m) => (
            m.stream.get(),
            m.reject_reason.get(),
            m.last.get(),
            m.count.get(),
        ),
        other => panic!("expected ReplayDone, got {other:?}"),
    }
}

fn replay_started(client: &mut Client) -> (u32, u64) {
    match next(client) {
        Received::ReplayStarted(m) => (m.stream.get(), m.upto.get()),
        other => panic!("expected ReplayStarted, got {other:?}"),
    }
}

#[test]
fn replays_of_points_not_kept_get_their_documented_answers() {
    let gateway = Gateway::start_with(OVERRIDES);
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Side::Sell, 10_500, 1))
        .unwrap();
    let accepted = accepted(&mut alice);
    assert_eq!(
        (
            accepted.stream.get(),
            accepted.report_seq.get(),
            accepted.account.get()
        ),
        (0, 1, ALICE)
    );
    // A gateway refusal is in no stream.
    alice
        .new_order(&limit(ALICE, 99, 2, Side::Sell, 10_500, 1))
        .unwrap();
    let refused = expect(&mut alice, "OrderRejected", |r| match r {
        Received::OrderRejected(m) => Some(*m),
        _ => None,
    });
    assert_eq!(
        (
            refused.reason.get(),
            refused.report_seq.get(),
            refused.stream.get()
        ),
        (RejectReason::UnknownSymbol.code(), 0, 0)
    );

    // Beyond the stream's end: refused, with the current number, no start.
    alice.replay(0, 5).unwrap();
    let beyond = RejectReason::ReplayBeyondEnd.code();
    assert_eq!(replay_done(&mut alice), (0, beyond, 1, 0));
    // Not a matching engine's stream.
    alice.replay(9, 0).unwrap();
    let unknown = RejectReason::UnknownStream.code();
    assert_eq!(replay_done(&mut alice), (9, unknown, 0, 0));
    // Up to date: started and done at once.
    alice.replay(0, 1).unwrap();
    assert_eq!(replay_started(&mut alice), (0, 1));
    assert_eq!(replay_done(&mut alice), (0, 0, 1, 0));
    // A stream with no report yet, from the start.
    alice.replay(1, 0).unwrap();
    assert_eq!(replay_started(&mut alice), (1, 0));
    assert_eq!(replay_done(&mut alice), (1, 0, 0, 0));
    // From 0: everything the stream has, the journal is never compacted.
    alice.replay(0, 0).unwrap();
    assert_eq!(replay_started(&mut alice), (0, 1));
    match next(&mut alice) {
        Received::OrderAccepted(m) => {
            assert_eq!(
                (
                    m.order_id.get(),
                    m.client_order_id.get(),
                    m.report_seq.get()
                ),
                (accepted.order_id.get(), 1, 1)
            );
        }
        other => panic!(
            "expected the replayed OrderAccepted, got {other:?}\n{}",
            gateway.log_lines().join("\n")
        ),
    }
    assert_eq!(replay_done(&mut alice), (0, 0, 1, 1));
    // A viewer may replay the account's reports too.
    let mut viewer = gateway.logon(VIEWER);
    viewer.replay(0, 0).unwrap();
    assert_eq!(replay_started(&mut viewer), (0, 0));
    assert_eq!(replay_done(&mut viewer), (0, 0, 0, 0));
}
