//! The `md` bench's subscribers: K WebSocket clients dealt round-robin to
//! pinned reader threads, each reading its clients through an epoll set
//! and noting, per trade, when it arrived.
//!
//! Per trade (its `seq`) a thread keeps how many of its clients received
//! it and the latest arrival (CLOCK_REALTIME when the `read` that carried
//! it returned). Merged over threads that is the time the *last*
//! subscriber received the trade; minus the trade's `ts_ns` (the gateway's
//! CLOCK_REALTIME receipt of the command that traded, carried in the
//! message) it is the fan-out latency the bench reports. A trade that not
//! every subscriber received (a client closed, or a peer's lagging
//! receiver skipped it) is counted as incomplete and left out of the
//! latency.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::md_client::{Subscriber, TradeSeen};
use crate::readiness::Readiness;

/// One trade as all of one thread's (or, merged, all) subscribers saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub seq: u64,
    pub ts_ns: u64,
    /// Latest arrival among the subscribers that got it.
    pub last_ns: u64,
    /// Subscribers that got it.
    pub count: u32,
}

/// What the subscribers saw, every thread merged, ordered by `seq`.
pub struct Seen {
    pub deliveries: Vec<Delivery>,
    /// Subscribers the server closed, and the close codes it gave.
    pub closed: usize,
    pub close_codes: Vec<u16>,
}

/// One reader thread's result: its trades, and the close code (if any) of
/// each of its subscribers the server closed.
type ThreadSeen = (Vec<Delivery>, Vec<Option<u16>>);

pub struct Audience {
    threads: Vec<JoinHandle<ThreadSeen>>,
    stop: Arc<AtomicBool>,
    /// Trades received, every subscriber counted (progress for the drain).
    pub received: Arc<AtomicU64>,
    pub subscribers: usize,
}

pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

/// Connects `k` subscribers to `channels` of `symbols` (JSON arrays) over
/// threads pinned to `cores`, and returns once every one is connected
/// and subscribed.
pub fn attach(addr: &str, k: usize, cores: &[usize], symbols: &str, channels: &str) -> Audience {
    assert!(
        k > 0 && !cores.is_empty(),
        "subscribers and cores to run them"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicUsize::new(0));
    let threads = cores.len().min(k);
    let handles = (0..threads)
        .map(|t| {
            let share = (t..k).step_by(threads).count();
            let (addr, symbols, channels) =
                (addr.to_string(), symbols.to_string(), channels.to_string());
            let (stop, received, ready, core) =
                (stop.clone(), received.clone(), ready.clone(), cores[t]);
            std::thread::spawn(move || {
                crate::report::pin(core);
                let subs: Vec<Subscriber> = (0..share)
                    .map(|_| Subscriber::connect(&addr, &symbols, &channels).expect("subscribe"))
                    .collect();
                read_loop(subs, &ready, &stop, &received)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Acquire) < k {
        assert!(
            Instant::now() < deadline,
            "subscribers not ready within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Audience {
        threads: handles,
        stop,
        received,
        subscribers: k,
    }
}

/// One thread's subscribers until `stop`: counts itself ready once each has
/// had its `subscribed` answer (the first text frame), then notes trades.
fn read_loop(
    mut subs: Vec<Subscriber>,
    ready: &AtomicUsize,
    stop: &AtomicBool,
    received: &AtomicU64,
) -> ThreadSeen {
    let mut readiness = Readiness::new(subs.len()).expect("epoll");
    for (i, s) in subs.iter().enumerate() {
        readiness.add(s.raw_fd(), i).expect("epoll add");
    }
    let mut answered = vec![false; subs.len()];
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(1 << 20);
    let mut hint = vec![0usize; subs.len()];
    let mut ready_now = Vec::with_capacity(subs.len());
    while !stop.load(Ordering::Relaxed) {
        ready_now.clear();
        // Blocking: the reader shares its core with the trade driver.
        readiness
            .wait(10, |i| ready_now.push(i))
            .expect("epoll wait");
        for &i in &ready_now {
            let mut trades = 0;
            let now = std::cell::Cell::new(0);
            let sub = &mut subs[i];
            let got = sub.read(|t: TradeSeen| {
                if now.get() == 0 {
                    now.set(wall_ns());
                }
                trades += 1;
                note(&mut deliveries, &mut hint[i], t, now.get());
            });
            let failed = got.is_err();
            if got.unwrap_or(false) && !answered[i] && sub.answered {
                answered[i] = true;
                ready.fetch_add(1, Ordering::Release);
            }
            received.fetch_add(trades, Ordering::Relaxed);
            if failed {
                sub.closed = true;
            }
        }
    }
    let codes = subs
        .iter()
        .filter(|s| s.closed)
        .map(|s| s.close_code)
        .collect();
    (deliveries, codes)
}

/// Adds one subscriber's receipt of `t` at `now`; `hint` is where its
/// previous trade was (trades come in `seq` order on every connection).
fn note(deliveries: &mut Vec<Delivery>, hint: &mut usize, t: TradeSeen, now: u64) {
    let at = match deliveries.get(*hint + 1) {
        Some(d) if d.seq == t.seq => *hint + 1,
        _ => match deliveries.binary_search_by_key(&t.seq, |d| d.seq) {
            Ok(at) => at,
            Err(at) => {
                deliveries.insert(
                    at,
                    Delivery {
                        seq: t.seq,
                        ts_ns: t.ts_ns,
                        last_ns: 0,
                        count: 0,
                    },
                );
                at
            }
        },
    };
    let d = &mut deliveries[at];
    debug_assert_eq!(d.ts_ns, t.ts_ns, "one trade, one timestamp");
    d.count += 1;
    d.last_ns = d.last_ns.max(now);
    *hint = at;
}

impl Audience {
    /// Waits until `expected` trades were received by every subscriber, or
    /// nothing more arrived for `quiet`.
    pub fn drain(&self, expected: u64, quiet: Duration) {
        let target = expected * self.subscribers as u64;
        let mut last = (self.received.load(Ordering::Relaxed), Instant::now());
        loop {
            let now = self.received.load(Ordering::Relaxed);
            if now >= target {
                return;
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > quiet {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the threads and merges what they saw.
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Delivery> = Vec::new();
        let (mut closed, mut close_codes) = (0, Vec::new());
        for t in self.threads {
            let (deliveries, codes) = t.join().expect("a subscriber thread");
            all.extend(deliveries);
            closed += codes.len();
            close_codes.extend(codes.into_iter().flatten());
        }
        all.sort_by_key(|d| d.seq);
        let mut merged: Vec<Delivery> = Vec::with_capacity(all.len());
        for d in all {
            match merged.last_mut() {
                Some(m) if m.seq == d.seq => {
                    m.count += d.count;
                    m.last_ns = m.last_ns.max(d.last_ns);
                }
                _ => merged.push(d),
            }
        }
        Seen {
            deliveries: merged,
            closed,
            close_codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_merge_per_trade_whatever_order_the_connections_see_them_in() {
        let (mut d, mut h1, mut h2) = (Vec::new(), 0, 0);
        let t = |seq| TradeSeen {
            seq,
            ts_ns: seq * 10,
        };
        note(&mut d, &mut h1, t(5), 100);
        note(&mut d, &mut h1, t(8), 110);
        // The second connection missed 5 and sees 6 (a peer's lag) first.
        note(&mut d, &mut h2, t(6), 120);
        note(&mut d, &mut h2, t(8), 130);
        let seqs: Vec<u64> = d.iter().map(|x| x.seq).collect();
        assert_eq!(seqs, vec![5, 6, 8]);
        assert_eq!((d[2].count, d[2].last_ns), (2, 130));
        assert_eq!((d[0].count, d[1].count), (1, 1));
    }
}
