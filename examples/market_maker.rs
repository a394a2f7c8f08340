//! A tiny market-making bot against the demo gateway.
//!
//! Alice quotes a bid and an ask around a moving mid on BTC-USD and prints
//! every fill she gets; Bob, on a second connection, now and then sends an
//! IOC order that crosses her quotes so there is something to print.
//!
//! On start Alice first asks the gateway what she already has (PROTOCOL.md
//! 5.8): her open BTC orders become her quotes again (extra ones are
//! canceled) and her BTC position is where she resumes, so a bot that was
//! killed, or whose gateway restarted, carries on from the true state
//! instead of from zero. Before that she asks for the reports she missed
//! (PROTOCOL.md 5.9): the last report number she handled per stream is
//! saved in a small file (`MARKET_MAKER_CURSORS`, default
//! `$TMPDIR/market_maker-alice.cursors`), and on start she replays from
//! there, merging replayed and live reports with no gap and no duplicate
//! (`ReportMerge`), so a fill that happened while she was away is printed
//! once, even across a kill -9 of the bot or of the gateway.
//!
//! ```text
//! cargo run --release -- serve                       # terminal 1
//! cargo run --release --example market_maker         # terminal 2
//! cargo run --release --example market_maker -- 127.0.0.1:7001 10
//! ```

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use tradsys::client::{Client, Received, ReportMerge};
use tradsys::engine::*;

const BTC: SymbolId = 1;
const MID: Price = 5_000_000;

fn order(
    account: AccountId,
    id: u64,
    side: Side,
    price: Price,
    qty: Qty,
    tif: TimeInForce,
) -> NewOrder {
    NewOrder {
        account,
        symbol: BTC,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: tif != TimeInForce::Ioc,
        stp: None,
        price,
        qty,
    }
}

/// Where Alice keeps the last report number she handled per stream.
fn cursor_file() -> PathBuf {
    std::env::var_os("MARKET_MAKER_CURSORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("market_maker-alice.cursors"))
}

/// `stream last` lines; nothing (replay nothing) if the file is missing or
/// unreadable.
fn load_cursors(path: &Path) -> Vec<(u32, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (stream, last) = line.split_once(' ')?;
            Some((stream.parse().ok()?, last.parse().ok()?))
        })
        .collect()
}

/// Written beside and renamed over, so a kill leaves the old or the new.
fn save_cursors(path: &Path, merge: &ReportMerge) -> std::io::Result<()> {
    let text: String = merge
        .cursors()
        .iter()
        .map(|(stream, last)| format!("{stream} {last}\n"))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Alice's resting quote per side: buy, sell.
type Quotes = [Option<OrderId>; 2];

/// What Alice already has on BTC: her position and her quotes (one per
/// side; any other open order is canceled). Reports that arrive while she
/// asks are only printed: the answers already include their effect.
fn resume(
    alice: &mut Client,
    next_id: &mut u64,
    merge: &mut ReportMerge,
) -> Result<(i64, Quotes), Box<dyn std::error::Error>> {
    let mut print = |m: Received| merge.offer(m, |m| println!("while resuming: {m:?}"));
    let position = alice
        .all_positions(*next_id, Some(BTC), &mut print)?
        .first()
        .map_or(0, |p| p.position.get());
    *next_id += 1;
    let mut quotes: Quotes = [None, None];
    for open in alice.all_open_orders(*next_id, Some(BTC), &mut print)? {
        *next_id += 1;
        let slot = if open.side == Side::Buy as u8 { 0 } else { 1 };
        if quotes[slot].is_none() {
            quotes[slot] = Some(open.order_id.get());
        } else {
            alice.cancel(*next_id, BTC, open.order_id.get())?;
        }
        println!(
            "resumed: order {} {} @ {} ({} open)",
            open.order_id.get(),
            if slot == 0 { "buy" } else { "sell" },
            open.price.get(),
            open.leaves_qty.get()
        );
    }
    *next_id += 1;
    Ok((position, quotes))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match run() {
        // The gateway ended the session (it says why first) or went away:
        // a bot's normal end when the gateway stops, not an error to dump.
        Err(error) if gateway_gone(error.as_ref()) => {
            println!("the gateway closed the connection: {error}");
            Ok(())
        }
        outcome => outcome,
    }
}

/// Whether `error` says the gateway closed the connection under us.
fn gateway_gone(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    error.downcast_ref::<std::io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
        )
    })
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7001".into());
    if addr.starts_with('-') {
        println!("usage: market_maker [ADDR (default 127.0.0.1:7001)] [SECONDS (default 5)]");
        return Ok(());
    }
    let seconds: u64 = match args.next().map(|s| s.parse()) {
        None => 5,
        Some(Ok(seconds)) => seconds,
        Some(Err(_)) => return Err("SECONDS must be a whole number".into()),
    };
    let mut alice = Client::connect(&addr)
        .map_err(|e| format!("cannot connect to {addr}: {e} (is `tradsys serve` running?)"))?;
    alice.logon(1, b"alice-demo-token", 1_000, true)?; // cancel quotes if we drop
    let mut bob = Client::connect(&addr)?;
    bob.logon(2, b"bob-demo-token", 1_000, false)?;
    bob.set_read_timeout(Some(Duration::from_millis(50)))?;

    // Client order ids from the clock, so a restarted bot never reuses one.
    let mut next_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let cursors_path = cursor_file();
    let cursors = load_cursors(&cursors_path);
    let mut merge = ReportMerge::new();
    for done in alice.replay_streams(&cursors, &mut merge, |m| println!("missed: {m:?}"))? {
        println!(
            "replayed stream {}: {} reports up to {} (reason {})",
            done.stream.get(),
            done.count.get(),
            done.last.get(),
            done.reject_reason.get()
        );
    }
    save_cursors(&cursors_path, &merge)?;
    let (mut position, mut quotes) = resume(&mut alice, &mut next_id, &mut merge)?;
    alice.set_read_timeout(Some(Duration::from_millis(50)))?;
    println!("quoting BTC-USD on {addr} for {seconds} s, from position {position}");

    let mut fills = 0u32;
    let start = Instant::now();
    let mut last_quote = Instant::now() - Duration::from_secs(1);
    let mut mid = MID;
    while start.elapsed() < Duration::from_secs(seconds) {
        if last_quote.elapsed() >= Duration::from_millis(200) {
            last_quote = Instant::now();
            // Lean the quotes against the position.
            mid += (next_id as i64 % 3 - 1) * 50 - position * 10;
            for (slot, side, price) in [(0, Side::Buy, mid - 100), (1, Side::Sell, mid + 100)] {
                next_id += 1;
                match quotes[slot] {
                    Some(id) => alice.replace(next_id, BTC, id, price, 5)?,
                    None => {
                        alice.new_order(&order(1, next_id, side, price, 5, TimeInForce::Gtc))?
                    }
                }
            }
            // Bob takes one side each round: lifts the offer, hits the bid.
            next_id += 1;
            let (side, price) = if next_id.is_multiple_of(4) {
                (Side::Buy, mid + 100)
            } else {
                (Side::Sell, mid - 100)
            };
            bob.new_order(&order(2, next_id, side, price, 2, TimeInForce::Ioc))?;
        }
        let mut reports = Vec::new();
        while let Ok(received) = alice.recv() {
            merge.offer(received, |r| reports.push(r));
        }
        let handled = !reports.is_empty();
        for report in reports {
            match report {
                Received::OrderAccepted(m) => {
                    let slot = if m.side == Side::Buy as u8 { 0 } else { 1 };
                    quotes[slot] = Some(m.order_id.get());
                }
                Received::Fill(f) => {
                    fills += 1;
                    let qty = f.qty.get() as i64;
                    position += if f.side == Side::Buy as u8 { qty } else { -qty };
                    println!(
                        "fill: {} {} @ {} (exec {}), position {position}",
                        if f.side == Side::Buy as u8 {
                            "bought"
                        } else {
                            "sold"
                        },
                        f.qty.get(),
                        f.price.get(),
                        f.exec_id.get()
                    );
                    if f.leaves_qty.get() == 0 {
                        let slot = if f.side == Side::Buy as u8 { 0 } else { 1 };
                        quotes[slot] = None;
                    }
                }
                Received::OrderRejected(r) => println!("rejected: reason {}", r.reason.get()),
                Received::SessionEnd(end) => {
                    // Shutdown (9) when the gateway stops: the quotes are
                    // cancelled on its side (cancel on disconnect).
                    save_cursors(&cursors_path, &merge)?;
                    println!(
                        "session ended by the gateway: reason {}; done: {fills} fills, position {position}",
                        end.reason.get()
                    );
                    return Ok(());
                }
                Received::CancelRejected(r) => {
                    // The quote was filled before the replace arrived.
                    let _ = r;
                }
                _ => {}
            }
        }
        if handled {
            save_cursors(&cursors_path, &merge)?;
        }
        while bob.recv().is_ok() {}
    }
    alice.logout()?;
    println!("done: {fills} fills, position {position}");
    Ok(())
}
