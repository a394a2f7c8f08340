//! Drop copy: every execution a follower's engines produce, published per
//! account to a durable JetStream stream, so downstream systems (risk,
//! clearing, surveillance) consume at their own pace and replay from any
//! point (docs/OPERATIONS.md, "Drop copy").
//!
//! Subject `{drop_copy_prefix}.{account}`, one JSON object per fill (the
//! layout is in [`fill_json`]), `Nats-Msg-Id: {shard}:{exec_id}:{liquidity}`:
//! a trade is one exec id with two fills, the aggressor's and the passive
//! side's; exec ids are unique per shard and the same on every follower
//! (they are replayed), so two followers publishing the same fills store
//! them once within the stream's duplicate window, and a consumer can
//! de-duplicate on `(shard, exec_id, liquidity)` beyond it.
//!
//! Fills are published in record order and pipelined: up to
//! [`MAX_IN_FLIGHT`] are sent before the oldest acknowledgement is awaited
//! (awaiting each one held a follower to about 6,000 records a second, one
//! round trip to the stream leader per fill), and whatever is in flight is
//! awaited when the follower has nothing to apply ([`DropCopy::settle`]).
//! A fill stays queued until NATS acknowledged it; when an acknowledgement
//! fails, every fill from it on is sent again, in order, after the
//! reconnect, and the message id drops those the stream already stored
//! (exactly once within the duplicate window). The one reordering this can
//! cause: a fill whose acknowledgement failed but which the stream did not
//! store lands after later fills that it did store; each fill carries its
//! record `seq` for a consumer that needs record order across such a
//! failure. A follower keeps, beside each shard's journal, the last record
//! whose fills were all acknowledged ([`ACKED_FILE`], written with its
//! resume hint); restarted from its local journal it publishes again every
//! fill after that record (a crash between a record and its fills'
//! acknowledgement, however long the stream refused them), or, without the
//! file, those of its last [`REPUBLISH_RECORDS`] records; the message id
//! drops the copies.

use std::collections::VecDeque;
use std::fmt::Write;

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};

use crate::config::ReplicationConfig;
use crate::engine::{Event, Liquidity, Side};

/// Records at the end of a follower's local journal whose fills it
/// publishes again at a restart when it has no [`ACKED_FILE`] (one written
/// by a version before it, or lost).
pub const REPUBLISH_RECORDS: u64 = 4096;

/// The file, in a replica's shard directory, naming the last record whose
/// fills the drop-copy stream acknowledged ([`DropCopy::store_acked`]).
pub const ACKED_FILE: &str = "drop-copy-acked";

/// The last record whose fills (and all before them) a previous run saw
/// acknowledged, from `dir`'s [`ACKED_FILE`]; `None` without a readable one.
pub fn load_acked(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(ACKED_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Fills sent and not yet acknowledged, at most. Enough to cover a stream
/// leader's round trip at 100,000 fills a second (a few milliseconds on a
/// LAN), small enough that a retry after a failure resends little.
pub const MAX_IN_FLIGHT: usize = 1024;

// Without an acknowledged position, what a crash can leave unacknowledged
// while the stream answers (the fills in flight, of at most as many
// records, and one record's fills queued) is republished at a restart.
const _: () = assert!((MAX_IN_FLIGHT as u64) < REPUBLISH_RECORDS);

/// One shard's drop-copy publisher.
pub struct DropCopy {
    config: ReplicationConfig,
    shard: u16,
    js: Option<jetstream::Context>,
    /// `(record seq, subject, message id, body)` not yet acknowledged,
    /// oldest first.
    pending: VecDeque<(u64, String, String, String)>,
    /// The acknowledgements of `pending[..in_flight.len()]`, in order:
    /// those fills were sent, the rest are still to send.
    in_flight: VecDeque<PublishAckFuture>,
}

impl DropCopy {
    pub fn new(config: &ReplicationConfig, shard: u16) -> DropCopy {
        DropCopy {
            config: config.clone(),
            shard,
            js: None,
            pending: VecDeque::new(),
            in_flight: VecDeque::with_capacity(MAX_IN_FLIGHT),
        }
    }

    fn enabled(&self) -> bool {
        !self.config.drop_copy_stream.is_empty()
    }

    /// Uses `js` from now on (creating the stream if missing) and
    /// publishes what was left unacknowledged.
    pub async fn connect(&mut self, js: &jetstream::Context) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        js.get_or_create_stream(stream::Config {
            name: self.config.drop_copy_stream.clone(),
            subjects: vec![format!("{}.>", self.config.drop_copy_prefix)],
            storage: stream::StorageType::File,
            num_replicas: self.config.replicas,
            duplicate_window: std::time::Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("drop copy stream {}: {e}", self.config.drop_copy_stream))?;
        self.js = Some(js.clone());
        // Acknowledgements of the old connection mean nothing now: send
        // everything unacknowledged again (the message id drops copies).
        self.in_flight.clear();
        self.send().await
    }

    /// Queues the fills among `events` (of record `seq`) and sends them,
    /// awaiting the oldest acknowledgements while more than
    /// [`MAX_IN_FLIGHT`] are outstanding.
    pub async fn publish(&mut self, seq: u64, events: &[Event]) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.queue(seq, events);
        self.send().await
    }

    /// Awaits every acknowledgement outstanding: afterwards every fill
    /// queued so far is stored in the stream.
    pub async fn settle(&mut self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.send().await?;
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        debug_assert!(self.pending.is_empty(), "every fill acknowledged");
        Ok(())
    }

    /// Queues the fills among `events` without publishing (a restart's
    /// replayed tail).
    pub fn queue(&mut self, seq: u64, events: &[Event]) {
        if !self.enabled() {
            return;
        }
        for event in events {
            if let Event::Fill {
                exec_id,
                account,
                liquidity,
                ..
            } = *event
            {
                let subject = format!("{}.{account}", self.config.drop_copy_prefix);
                let id = format!("{}:{exec_id}:{}", self.shard, liquidity_name(liquidity));
                // Record order: the acknowledged prefix is a prefix of records.
                debug_assert!(self.pending.back().is_none_or(|p| p.0 <= seq));
                self.pending
                    .push_back((seq, subject, id, fill_json(self.shard, seq, event)));
            }
        }
    }

    /// Sends the queued fills not yet sent, keeping at most
    /// [`MAX_IN_FLIGHT`] unacknowledged.
    async fn send(&mut self) -> Result<(), String> {
        if self.in_flight.len() == self.pending.len() && self.js.is_some() {
            // Nothing queued to send (most records have no fill).
            return Ok(());
        }
        let Some(js) = self.js.clone() else {
            return Err("drop copy: not connected".into());
        };
        while self.in_flight.len() < self.pending.len() {
            if self.in_flight.len() == MAX_IN_FLIGHT {
                self.await_oldest().await?;
                continue;
            }
            let (_, subject, id, body) = &self.pending[self.in_flight.len()];
            let publish = PublishMessage::build()
                .payload(body.clone().into_bytes().into())
                .message_id(id.as_str());
            let ack = js.send_publish(subject.clone(), publish).await;
            let ack = ack.map_err(|e| self.failed(format!("drop copy publish: {e}")))?;
            self.in_flight.push_back(ack);
        }
        debug_assert!(self.in_flight.len() <= MAX_IN_FLIGHT);
        Ok(())
    }

    /// Awaits the oldest acknowledgement outstanding; its fill is done.
    async fn await_oldest(&mut self) -> Result<(), String> {
        let ack = self
            .in_flight
            .pop_front()
            .expect("an acknowledgement outstanding");
        debug_assert!(!self.pending.is_empty(), "each ack has its fill");
        match ack.await {
            Ok(_) => {
                self.pending.pop_front();
                Ok(())
            }
            Err(e) => Err(self.failed(format!("drop copy ack: {e}"))),
        }
    }

    /// The last record every fill of which (and of every record before it)
    /// the stream acknowledged, once records up to `applied` were queued.
    pub fn acked_through(&self, applied: u64) -> u64 {
        let acked = match self.pending.front() {
            Some(&(seq, ..)) => seq - 1,
            None => applied,
        };
        debug_assert!(acked <= applied, "acknowledged past what was applied");
        acked
    }

    /// Records, in the replica's shard directory, that every fill of the
    /// records up to [`acked_through`](Self::acked_through)`(applied)` is
    /// stored, so a restart after a crash publishes again exactly the
    /// fills after it ([`load_acked`]). Written after the acknowledgements
    /// it counts (never ahead of them), not synced: a lost or older file
    /// costs fills published twice, which the message id or the consumer
    /// drops.
    pub fn store_acked(&self, dir: &std::path::Path, applied: u64) {
        if !self.enabled() {
            return;
        }
        let acked = self.acked_through(applied);
        // Never ahead of the records applied, hence of the local journal.
        assert!(acked <= applied, "acknowledged {acked} of {applied}");
        if let Err(error) = super::resume::replace_file(dir, ACKED_FILE, &format!("{acked}\n")) {
            tracing::warn!(shard = self.shard, %error, "drop copy: acknowledged position not written");
        }
    }

    /// A publish or an acknowledgement failed: everything from the oldest
    /// unacknowledged fill on is sent again after the reconnect.
    fn failed(&mut self, error: String) -> String {
        debug_assert!(!error.is_empty(), "a failure says why");
        self.in_flight.clear();
        error
    }
}

/// The JSON of one fill: `{"shard","seq","exec_id","account","symbol",
/// "order_id","client_order_id","side","price","qty","leaves_qty",
/// "liquidity"}`; `seq` is the journal record that produced it, `side`
/// `"buy"`/`"sell"`, `liquidity` `"aggressor"`/`"passive"`, every other value an
/// integer (prices in ticks, quantities in lots).
pub fn fill_json(shard: u16, seq: u64, event: &Event) -> String {
    let Event::Fill {
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
    } = *event
    else {
        panic!("fill_json of a non-fill");
    };
    let side = match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    };
    let liquidity = liquidity_name(liquidity);
    debug_assert!(qty > 0, "a fill of nothing");
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        r#"{{"shard":{shard},"seq":{seq},"exec_id":{exec_id},"account":{account},"symbol":{symbol},"order_id":{order_id},"client_order_id":{client_order_id},"side":"{side}","price":{price},"qty":{qty},"leaves_qty":{leaves_qty},"liquidity":"{liquidity}"}}"#
    );
    out
}

fn liquidity_name(liquidity: Liquidity) -> &'static str {
    match liquidity {
        Liquidity::Aggressor => "aggressor",
        Liquidity::Passive => "passive",
    }
}
