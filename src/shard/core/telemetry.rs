//! Latency capture on the shard: where the core takes its timestamps, what
//! it records, its loop-cycle watch, and the tick that swaps the interval
//! histograms and publishes the counters for the admin thread.
//!
//! Timestamps come from `telemetry::clock` (one vDSO read each), taken only
//! with `telemetry.latency_capture` on; a stamp of 0 means "not taken", and
//! a stage with a 0 end is not recorded. Per command: one stamp at each
//! socket read hand-over, one before the journal append, one after it, one
//! after the engine; per write hand-over, one. Nothing here allocates,
//! locks or waits.

use std::sync::atomic::Ordering;

use super::ShardCore;
use crate::config::{Config, IdlePolicy};
use crate::telemetry::board::publish;
use crate::telemetry::{clock, link, ShardLink, Stage, StageRecorder};

/// The core's capture state (see the module comment).
pub(super) struct Telemetry {
    pub(super) recorder: StageRecorder,
    /// Read completion of the bytes `on_bytes` is handling; 0 outside it.
    pub(super) read_ns: u64,
    /// Whether the command being handled has its per-command stages
    /// recorded (`telemetry.command_sample_every`); true outside a read.
    pub(super) command_sampled: bool,
    /// The sampling's random state (xorshift64: which command of a
    /// multi-command read is timed must not depend on its place in the
    /// read, or `intake`, which grows along a read, would be biased).
    sample_rng: u64,
    /// Commands of multi-command reads still to pass unsampled before the
    /// next sampled one: a countdown, so an unsampled command costs one
    /// decrement, and the random draw is made once per sampled command.
    /// The gaps are geometric, so every such command is sampled with
    /// probability 1 / `command_sample_every`, independently of the others
    /// and of its place in its read (a Bernoulli process's gaps).
    sample_skip: u64,
    /// `ln(1 - 1 / command_sample_every)` (negative), for the gaps; 0 for
    /// "every command".
    sample_ln_miss: f64,
    /// When the previous mesh loop turn began, and whether it found nothing
    /// to do (with `idle = "park"` the turn after it includes the park).
    last_turn_ns: u64,
    last_turn_idle: bool,
    parks: bool,
    cycle_threshold_ns: u64,
    /// Longest turn in the current interval, and when that interval ends.
    cycle_max_ns: u64,
    cycle_window_end_ns: u64,
    interval_ns: u64,
    cycles_over_threshold: u64,
    clock_anomalies: u64,
}

impl Telemetry {
    pub(super) fn new(shard: u16, link: Option<ShardLink>, config: &Config) -> Telemetry {
        let t = &config.telemetry;
        let link = link.unwrap_or_else(|| link::link(shard).0);
        assert_eq!(link.shard, shard, "a shard records into its own link");
        let interval_ns = t.interval_ms * 1_000_000;
        let now = clock::mono_ns();
        let every = f64::from(t.command_sample_every.max(1));
        let mut telemetry = Telemetry {
            recorder: StageRecorder::new(link, t.latency_capture, interval_ns, now),
            read_ns: 0,
            command_sampled: true,
            sample_rng: (0x9E37_79B9_7F4A_7C15 ^ (u64::from(shard) << 32)) | 1,
            sample_skip: 0,
            sample_ln_miss: if every > 1.0 {
                (1.0 - 1.0 / every).ln()
            } else {
                0.0
            },
            last_turn_ns: 0,
            last_turn_idle: false,
            parks: config.server.idle == IdlePolicy::Park,
            cycle_threshold_ns: t.cycle_threshold_us * 1_000,
            cycle_max_ns: 0,
            cycle_window_end_ns: now + interval_ns,
            interval_ns,
            cycles_over_threshold: 0,
            clock_anomalies: 0,
        };
        telemetry.sample_skip = telemetry.next_gap();
        telemetry
    }

    /// Unsampled commands before the next sampled one: geometric with
    /// success probability 1 / `command_sample_every` (0 when every
    /// command is sampled), drawn as `floor(ln U / ln(1 - p))`.
    fn next_gap(&mut self) -> u64 {
        let mut x = self.sample_rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.sample_rng = x;
        debug_assert!(x != 0, "xorshift never reaches 0");
        if self.sample_ln_miss == 0.0 {
            return 0;
        }
        debug_assert!(self.sample_ln_miss < 0.0);
        // U uniform in (0, 1]: 53 random bits, never 0.
        let u = ((x >> 11) + 1) as f64 / (1u64 << 53) as f64;
        (u.ln() / self.sample_ln_miss) as u64
    }
}

impl ShardCore {
    /// A timestamp if capture is on, else 0.
    #[inline]
    pub(super) fn stamp(&self) -> u64 {
        if self.telemetry.recorder.enabled() {
            clock::mono_ns()
        } else {
            0
        }
    }

    /// A timestamp for a per-command stage: 0 (not taken) for a command
    /// the sampling skips.
    #[inline]
    pub(super) fn command_stamp(&self) -> u64 {
        debug_assert!(self.telemetry.sample_ln_miss <= 0.0, "ln of a probability");
        if self.telemetry.command_sampled {
            self.stamp()
        } else {
            0
        }
    }

    /// A socket read's bytes begin.
    pub(super) fn read_begins(&mut self) {
        debug_assert!(self.telemetry.command_sampled, "nothing left from a read");
        self.telemetry.read_ns = self.stamp();
    }

    /// The next command of the current read: always timed when it is the
    /// read's only message, else one in `command_sample_every` at random.
    #[inline]
    pub(super) fn next_command_of_read(&mut self, only_one: bool) {
        let t = &mut self.telemetry;
        if only_one {
            t.command_sampled = true;
        } else if t.sample_skip > 0 {
            t.sample_skip -= 1;
            t.command_sampled = false;
        } else {
            t.command_sampled = true;
            t.sample_skip = t.next_gap();
        }
        debug_assert!(t.sample_ln_miss <= 0.0);
    }

    /// The read is handled: anything run from now on (mesh commands,
    /// timers) is sampled as before.
    pub(super) fn read_ends(&mut self) {
        self.telemetry.read_ns = 0;
        self.telemetry.command_sampled = true;
        debug_assert_eq!(self.telemetry.read_ns, 0);
    }

    /// Records `end - start` for `stage` if both were taken; a negative
    /// span is a clock anomaly (counted, not recorded).
    #[inline]
    pub(super) fn record_span(&mut self, stage: Stage, start_ns: u64, end_ns: u64) {
        if start_ns == 0 || end_ns == 0 {
            return;
        }
        match end_ns.checked_sub(start_ns) {
            Some(span) => self.telemetry.recorder.record(stage, span),
            None => self.telemetry.clock_anomalies += 1,
        }
    }

    /// The start of a mesh loop turn (`poll_mesh`): times the previous one.
    pub(super) fn loop_turn_begins(&mut self) {
        let now = self.stamp();
        let t = &mut self.telemetry;
        let last = std::mem::replace(&mut t.last_turn_ns, now);
        if now == 0 || last == 0 || (t.parks && t.last_turn_idle) {
            return;
        }
        let Some(cycle) = now.checked_sub(last) else {
            t.clock_anomalies += 1;
            return;
        };
        t.cycle_max_ns = t.cycle_max_ns.max(cycle);
        if cycle > t.cycle_threshold_ns {
            t.cycles_over_threshold += 1;
        }
        t.recorder.record(Stage::LoopCycle, cycle);
    }

    /// The end of a mesh loop turn that handled `handled` messages.
    pub(super) fn loop_turn_ends(&mut self, handled: usize) {
        self.telemetry.last_turn_idle = handled == 0;
    }

    /// On the tick: swaps the interval histograms if due and publishes the
    /// counters (plain stores into this shard's board).
    pub(super) fn telemetry_tick(&mut self) {
        let now_ns = clock::mono_ns();
        self.telemetry.recorder.swap_if_due(now_ns);
        if now_ns >= self.telemetry.cycle_window_end_ns {
            let board = &self.shared.telemetry.shards[self.id as usize];
            publish(&board.loop_cycle_max_ns, self.telemetry.cycle_max_ns);
            self.telemetry.cycle_max_ns = 0;
            self.telemetry.cycle_window_end_ns = now_ns + self.telemetry.interval_ns;
        }
        self.publish_counters();
    }

    /// Copies this shard's counters into its board.
    pub(super) fn publish_counters(&self) {
        let board = &self.shared.telemetry.shards[self.id as usize];
        let c = &self.counters;
        publish(&board.messages_in, c.messages_in);
        publish(&board.commands_local, c.commands_local);
        publish(&board.commands_remote, c.commands_remote);
        publish(&board.mesh_in, c.mesh_in);
        publish(&board.sessions_opened, c.sessions_opened);
        publish(&board.sessions_ended, c.sessions_ended);
        publish(&board.slow_consumers, c.slow_consumers);
        publish(&board.reader_pauses, c.reader_pauses);
        publish(&board.reader_pause_checks, c.reader_pause_checks);
        // Counted by the reactor of this thread (0 off a shard's thread).
        publish(
            &board.io_dropped_in_flight,
            crate::shard::reactor::dropped_in_flight(),
        );
        publish(&board.market_events, c.market_events);
        publish(&board.journal_refusals, c.journal_refusals);
        publish(&board.orders_accepted, c.orders_accepted);
        publish(&board.fills, c.fills);
        publish(&board.cancels, c.cancels);
        publish(&board.cancel_rejects, c.cancel_rejects);
        let md = self.market.counters();
        // Every connection holding a slot, handshaking ones too (a shard
        // full of those refuses the next client with 503).
        publish(&board.ws_clients, self.market.slots_held());
        publish(&board.ws_clients_opened, md.clients_opened);
        publish(&board.ws_handshakes_refused, md.handshakes_refused);
        publish(&board.ws_handshakes_abandoned, md.handshakes_abandoned);
        publish(&board.ws_peer_limit_refused, md.peer_limit_refused);
        publish(&board.ws_closed_slow_consumer, md.closed_slow_consumer);
        publish(&board.ws_closed_protocol, md.closed_protocol);
        publish(&board.ws_closed_resync, md.closed_resync);
        publish(&board.md_replica_resyncs, md.replica_resyncs);
        publish(
            &board.ws_closed_policy,
            md.closed_subscribe_timeout + md.closed_rate_limit,
        );
        publish(&board.md_messages_encoded, md.messages_encoded);
        publish(&board.md_frames_queued, md.frames_queued);
        publish(&board.md_fanout_lapped, md.fanout_lapped);
        let rejects = &self.shared.telemetry.rejects[self.id as usize];
        for (cell, &count) in rejects.iter().zip(&c.rejects) {
            publish(cell, count);
        }
        if let Some(journal) = &self.journal {
            let j = journal.stats();
            publish(&board.journal_records, j.records_appended);
            publish(&board.journal_bytes, j.bytes_appended);
            publish(&board.journal_segments_rolled, j.segments_rolled);
            publish(&board.journal_full_refusals, j.full_refusals);
            publish(&board.journal_syncs, j.syncs);
        }
        publish(&board.mesh_overflows, self.sender.overflowed());
        let (withheld, went_stale) = self.sender.public_counts();
        publish(&board.mesh_public_withheld, withheld);
        publish(&board.md_replicas_stale, went_stale);
        let t = &self.telemetry;
        publish(&board.latency_swaps_missed, t.recorder.missed_swaps);
        publish(&board.loop_cycles_over_threshold, t.cycles_over_threshold);
        publish(&board.clock_anomalies, t.clock_anomalies);
        publish(&board.sessions_live, self.sessions.live() as u64);
        debug_assert!(c.ws_sessions_ended <= c.ws_sessions_opened);
        publish(&board.ws_trade_sessions_opened, c.ws_sessions_opened);
        publish(&board.ws_trade_sessions_ended, c.ws_sessions_ended);
        publish(
            &board.ws_trade_sessions_live,
            c.ws_sessions_opened - c.ws_sessions_ended,
        );
    }

    /// The shard recovered and runs (or stopped): what `/ready` reads.
    pub(super) fn publish_up(&self, up: bool) {
        self.shared.telemetry.shards[self.id as usize]
            .up
            .store(up, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The countdown samples like a coin thrown per command: about 1 in N
    /// overall, and as often at every place in a read.
    #[test]
    fn geometric_gaps_sample_one_in_n_at_every_place_of_a_read() {
        let mut config = Config::parse(crate::config::DEFAULT_TOML).unwrap();
        config.telemetry.command_sample_every = 16;
        let mut t = Telemetry::new(0, None, &config);
        const READ: usize = 100;
        const READS: usize = 20_000;
        let mut by_place = [0u32; READ];
        for _ in 0..READS {
            for place in by_place.iter_mut() {
                if t.sample_skip > 0 {
                    t.sample_skip -= 1;
                } else {
                    *place += 1;
                    t.sample_skip = t.next_gap();
                }
            }
        }
        let total: u32 = by_place.iter().sum();
        let expected = (READ * READS / 16) as f64;
        assert!(
            (f64::from(total) - expected).abs() < expected * 0.02,
            "{total} sampled, {expected} expected"
        );
        // Each place: READS / 16 = 1,250 expected, sd about 34.
        for (place, &n) in by_place.iter().enumerate() {
            assert!((1_050..=1_450).contains(&n), "place {place}: {n}");
        }
        config.telemetry.command_sample_every = 1;
        let mut every = Telemetry::new(0, None, &config);
        assert!((0..1_000).all(|_| every.next_gap() == 0));
    }
}
