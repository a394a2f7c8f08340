//! `tradsys-bench engine --peers`: tradsys against the open-source order
//! books `matchcore` 0.4 and `orderbook-rs` 0.15 on one seeded stream, in
//! one process, in the same run (issue 15).
//!
//! Each scenario (100 symbols, then 1) generates the stream once
//! (`stream.rs`), checks that every book makes the same trades on it (an
//! untimed replay), then alternates timed replays of the books in rounds so
//! that each pair sees the same host, and prints the median of the
//! per-round paired ratios of ops per CPU second of the replaying thread
//! (`CLOCK_THREAD_CPUTIME_ID`: time preempted by the host's other work is
//! not counted):
//! `engine-vs <peer> symbols=<S> ratio=<r> (tradsys <a> ops/s, <peer> <b> ops/s)`
//! one command at a time, and again with tradsys's `process_batch`.
//! Last, `--repeat` replays of each book time every command on its own
//! (wall clock) and print p50/p99/p99.9 per kind of command, each the
//! lowest of the replays (the timer's own cost, ~20-30 ns, is in every
//! figure alike).

mod books;
mod stream;

use std::time::Instant;

use hdrhistogram::Histogram;

use books::{Book, Matchcore, OrderbookRs, TradeRec, Tradsys};
use stream::{Class, Stream, CLASSES};

use crate::engine_bench::EngineArgs;

/// CPU time this thread has run: unlike the wall clock, it does not count
/// the time the thread sat preempted, which on a shared 2-core host is most
/// of the run-to-run noise.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant every Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Replays the warm-up, then times the rest: ops per CPU second.
fn throughput<B: Book>(stream: &Stream, cmds: &(Vec<B::Cmd>, Vec<B::Cmd>)) -> f64 {
    let mut book = B::build(stream);
    for cmd in &cmds.0 {
        book.apply(cmd);
    }
    let start = thread_cpu_secs();
    for cmd in &cmds.1 {
        book.apply(cmd);
    }
    let elapsed = thread_cpu_secs() - start;
    std::hint::black_box(&book);
    cmds.1.len() as f64 / elapsed
}

/// tradsys through `process_batch`, `batch` commands a call.
fn throughput_batched(
    stream: &Stream,
    cmds: &(Vec<tradsys::engine::Command>, Vec<tradsys::engine::Command>),
    batch: usize,
) -> f64 {
    let mut book = Tradsys::build(stream);
    let mut sink = tradsys::engine::CountingSink::default();
    book.engine.process_batch(&cmds.0, &mut sink);
    let start = thread_cpu_secs();
    for chunk in cmds.1.chunks(batch) {
        book.engine.process_batch(chunk, &mut sink);
    }
    let elapsed = thread_cpu_secs() - start;
    book.engine.check_invariants();
    cmds.1.len() as f64 / elapsed
}

/// tradsys and `B` replay the same timed commands in alternating slices of
/// `slice` commands, each book keeping its own state from slice to slice;
/// per pair of slices, the ratio of tradsys's ops per CPU second to `B`'s
/// (tradsys through `process_batch` in chunks of `batch` when above 1).
///
/// Why: on a shared host the speed a thread gets drifts by up to 2x over
/// seconds (seen on the 2-core VM of 2026-11-27: matchcore alone ran
/// 3.7-8.2 M ops/s from one replay to the next), so that two replays of a
/// few hundred milliseconds, one after the other, often ran at different
/// speeds; two slices of a few milliseconds, back to back, far more often
/// see the same host. (It does not cancel what changes from one process,
/// or one minute, to the next: bench/README.md has the figures.) Which
/// book goes first alternates, so neither is always the one that starts
/// on lines the other evicted.
fn interleaved<B: Book>(
    stream: &Stream,
    ours: &(Vec<tradsys::engine::Command>, Vec<tradsys::engine::Command>),
    theirs: &(Vec<B::Cmd>, Vec<B::Cmd>),
    slice: usize,
    batch: usize,
) -> Vec<f64> {
    assert!(slice > 0 && batch > 0);
    assert_eq!(ours.1.len(), theirs.1.len(), "one stream, translated");
    let mut tradsys = Tradsys::build(stream);
    let mut sink = tradsys::engine::CountingSink::default();
    tradsys.engine.process_batch(&ours.0, &mut sink);
    let mut peer = B::build(stream);
    for cmd in &theirs.0 {
        peer.apply(cmd);
    }
    let mut ratios = Vec::new();
    for (i, (a, b)) in ours.1.chunks(slice).zip(theirs.1.chunks(slice)).enumerate() {
        if a.len() < slice {
            break; // A short last slice: mostly timer and cache refill.
        }
        let mut run_ours = || {
            let start = thread_cpu_secs();
            if batch == 1 {
                for cmd in a {
                    tradsys.apply(cmd);
                }
            } else {
                for chunk in a.chunks(batch) {
                    tradsys.engine.process_batch(chunk, &mut sink);
                }
            }
            thread_cpu_secs() - start
        };
        let mut run_theirs = || {
            let start = thread_cpu_secs();
            for cmd in b {
                peer.apply(cmd);
            }
            thread_cpu_secs() - start
        };
        let (ours_secs, theirs_secs) = if i % 2 == 0 {
            let ours_secs = run_ours();
            (ours_secs, run_theirs())
        } else {
            let theirs_secs = run_theirs();
            (run_ours(), theirs_secs)
        };
        ratios.push(theirs_secs / ours_secs);
    }
    std::hint::black_box((&tradsys, &peer));
    ratios
}

/// The interleaved figure: the median ratio of all slice pairs, with its
/// quartiles.
fn print_interleaved(peer: &str, symbols: u32, mode: &str, slice: usize, mut ratios: Vec<f64>) {
    assert!(
        !ratios.is_empty(),
        "no whole slice: --slice above --peer-ops"
    );
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    println!(
        "engine-vs {peer} symbols={symbols}{mode} interleaved ratio={:.2} (quartiles {:.2}-{:.2} of {} slice pairs of {slice} commands)",
        at(0.5),
        at(0.25),
        at(0.75),
        ratios.len()
    );
}

/// The interleaved comparison with matchcore, one command at a time and
/// batched, `--repeat` times each, all slice pairs together.
fn compare_interleaved(
    args: &EngineArgs,
    symbols: u32,
    stream: &Stream,
    ours: &(Vec<tradsys::engine::Command>, Vec<tradsys::engine::Command>),
    mc: &(Vec<<Matchcore as Book>::Cmd>, Vec<<Matchcore as Book>::Cmd>),
) {
    for batch in [1, args.batch.max(2)] {
        let ratios = (0..args.repeat.max(1))
            .flat_map(|_| interleaved::<Matchcore>(stream, ours, mc, args.slice, batch))
            .collect();
        let mode = if batch == 1 {
            String::new()
        } else {
            format!(" batch={batch}")
        };
        print_interleaved(Matchcore::NAME, symbols, &mode, args.slice, ratios);
    }
}

/// Every trade of the timed part, as (command index, maker, price, qty).
fn trades<B: Book>(stream: &Stream, cmds: &(Vec<B::Cmd>, Vec<B::Cmd>)) -> Vec<(usize, TradeRec)> {
    let mut book = B::build(stream);
    let mut scratch = Vec::new();
    for cmd in &cmds.0 {
        book.apply_traced(cmd, &mut scratch);
    }
    let mut all = Vec::new();
    for (i, cmd) in cmds.1.iter().enumerate() {
        scratch.clear();
        book.apply_traced(cmd, &mut scratch);
        all.extend(scratch.iter().map(|t| (i, *t)));
    }
    all
}

/// Compares a peer's trades with tradsys's and says where they part.
fn compare(peer: &str, ours: &[(usize, TradeRec)], theirs: &[(usize, TradeRec)]) {
    let first = ours.iter().zip(theirs).position(|(a, b)| a != b);
    match first {
        None if ours.len() == theirs.len() => {
            println!(
                "  trades: {peer} made the same {} trades as tradsys",
                ours.len()
            )
        }
        _ => {
            let at = first.unwrap_or(ours.len().min(theirs.len()));
            println!(
                "  trades: {peer} DIFFERS from tradsys ({} against {} trades; first difference at trade {at}: tradsys {:?}, {peer} {:?})",
                theirs.len(),
                ours.len(),
                ours.get(at),
                theirs.get(at)
            );
        }
    }
}

/// Per-command latency of one replay, by kind of command.
fn latency<B: Book>(stream: &Stream, cmds: &(Vec<B::Cmd>, Vec<B::Cmd>)) -> Vec<Histogram<u64>> {
    let mut hists: Vec<_> = CLASSES
        .iter()
        .map(|_| Histogram::new_with_bounds(1, 100_000_000, 3).expect("bounds"))
        .collect();
    let mut book = B::build(stream);
    for cmd in &cmds.0 {
        book.apply(cmd);
    }
    for (cmd, (_, meta)) in cmds.1.iter().zip(&stream.timed) {
        let start = Instant::now();
        book.apply(cmd);
        let nanos = start.elapsed().as_nanos() as u64;
        let class = CLASSES
            .iter()
            .position(|c| *c == meta.class)
            .expect("class");
        hists[class].saturating_record(nanos.max(1));
    }
    hists
}

/// Prints each percentile as the lowest of `runs` replays: a replay whose
/// thread was preempted mid-command shows it in its tail, and the host's
/// other builders do that often; the book's own tail shows in every run.
fn print_latency(name: &str, symbols: u32, runs: &[Vec<Histogram<u64>>]) {
    for (i, class) in CLASSES.iter().enumerate() {
        let at = |q: f64| {
            runs.iter()
                .map(|h| h[i].value_at_quantile(q))
                .min()
                .unwrap_or(0)
        };
        println!(
            "latency {name} symbols={symbols} {:<10} p50={} p99={} p99.9={} ns (n={}, lowest of {} runs)",
            format!("{class:?}").to_lowercase(),
            at(0.5),
            at(0.99),
            at(0.999),
            runs[0][i].len(),
            runs.len()
        );
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_ratio(peer: &str, symbols: u32, mode: &str, ours: &[f64], theirs: &[f64]) {
    let ratios = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
    println!(
        "engine-vs {peer} symbols={symbols}{mode} ratio={:.2} (tradsys {:.0} ops/s, {peer} {:.0} ops/s)",
        median(ratios),
        median(ours.to_vec()),
        median(theirs.to_vec())
    );
}

/// One book's replay of the whole stream and nothing else, for a counting
/// profiler (`--profile-book`). Both translations are made in every mode,
/// so that a book's run minus `none`'s is its replay alone.
fn profile(stream: &Stream, book: &str) {
    let ours = Tradsys::translate_all(stream);
    let mc = Matchcore::translate_all(stream);
    let replayed = match book {
        "tradsys" => throughput::<Tradsys>(stream, &ours),
        "matchcore" => throughput::<Matchcore>(stream, &mc),
        "none" => 0.0,
        other => panic!("--profile-book {other}: tradsys, matchcore or none"),
    };
    assert!(replayed >= 0.0);
    std::hint::black_box((&ours, &mc));
    println!("profile-book {book}: {} timed commands", stream.timed.len());
}

/// The scenario's header line: what the stream holds.
fn describe(stream: &Stream, symbols: u32) {
    let count = |class: Class| {
        stream
            .timed
            .iter()
            .filter(|(_, m)| m.class == class)
            .count()
    };
    println!(
        "scenario symbols={symbols}: {} resting before timing, {} timed commands ({} passive, {} aggressive, {} cancels, {} replaces); left out: {} that would self-trade, {} crossing orders larger than their limit reaches",
        stream.warmup.len(),
        stream.timed.len(),
        count(Class::Passive),
        count(Class::Aggressive),
        count(Class::Cancel),
        count(Class::Replace),
        stream.dropped_self_trade,
        stream.dropped_through_limit
    );
}

fn scenario(args: &EngineArgs, symbols: u32) {
    let stream = stream::generate(symbols, args.peer_depth, args.peer_ops, args.seed);
    if let Some(book) = &args.profile_book {
        profile(&stream, book);
        return;
    }
    describe(&stream, symbols);
    let ours = Tradsys::translate_all(&stream);
    let mc = Matchcore::translate_all(&stream);
    // orderbook-rs is about 20 times slower than the others: most of a
    // run's time; `--without-orderbook-rs` leaves it out of quick A/B runs.
    let with_ob = !args.without_orderbook_rs;
    let ob = if with_ob {
        OrderbookRs::translate_all(&stream)
    } else {
        (Vec::new(), Vec::new())
    };
    let our_trades = trades::<Tradsys>(&stream, &ours);
    compare(
        Matchcore::NAME,
        &our_trades,
        &trades::<Matchcore>(&stream, &mc),
    );
    if with_ob {
        compare(
            OrderbookRs::NAME,
            &our_trades,
            &trades::<OrderbookRs>(&stream, &ob),
        );
    }
    let (mut t, mut tb, mut m, mut o) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.repeat.max(1) {
        t.push(throughput::<Tradsys>(&stream, &ours));
        tb.push(throughput_batched(&stream, &ours, args.batch.max(2)));
        m.push(throughput::<Matchcore>(&stream, &mc));
        o.push(if with_ob {
            throughput::<OrderbookRs>(&stream, &ob)
        } else {
            f64::NAN
        });
        println!(
            "  round {round}: tradsys {:.0}, tradsys batched {:.0}, matchcore {:.0}, orderbook-rs {:.0} ops/s",
            t[round], tb[round], m[round], o[round]
        );
    }
    let batch = format!(" batch={}", args.batch.max(2));
    print_ratio(Matchcore::NAME, symbols, "", &t, &m);
    print_ratio(Matchcore::NAME, symbols, &batch, &tb, &m);
    if with_ob {
        print_ratio(OrderbookRs::NAME, symbols, "", &t, &o);
        print_ratio(OrderbookRs::NAME, symbols, &batch, &tb, &o);
    }
    if args.slice > 0 {
        compare_interleaved(args, symbols, &stream, &ours, &mc);
    }
    let (mut lt, mut lm, mut lo) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.repeat.max(1) {
        lt.push(latency::<Tradsys>(&stream, &ours));
        lm.push(latency::<Matchcore>(&stream, &mc));
        if with_ob {
            lo.push(latency::<OrderbookRs>(&stream, &ob));
        }
    }
    print_latency(Tradsys::NAME, symbols, &lt);
    print_latency(Matchcore::NAME, symbols, &lm);
    if with_ob {
        print_latency(OrderbookRs::NAME, symbols, &lo);
    }
}

pub fn run(args: &EngineArgs) {
    let pinned = crate::report::pin(args.core);
    println!(
        "engine --peers: {} timed commands per scenario, books {} orders deep, {} rounds, pinned to core {}: {pinned}",
        args.peer_ops, args.peer_depth, args.repeat, args.core
    );
    let scenarios = match args.symbols {
        Some(symbols) => vec![symbols],
        None => vec![100, 1],
    };
    for symbols in scenarios {
        scenario(args, symbols);
    }
}
