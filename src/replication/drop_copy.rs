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
//! Fills are published in record order, each awaited before the next
//! record is consumed; a fill NATS did not acknowledge stays queued and is
//! published first after the reconnect. A follower restarted from its
//! local journal publishes again the fills of the last
//! [`REPUBLISH_RECORDS`] records it had (a crash between a record and its
//! fills' acknowledgement); the message id drops the copies.

use std::collections::VecDeque;
use std::fmt::Write;

use async_nats::jetstream::{self, message::PublishMessage, stream};

use crate::config::ReplicationConfig;
use crate::engine::{Event, Liquidity, Side};

/// Records at the end of a follower's local journal whose fills it
/// publishes again at a restart.
pub const REPUBLISH_RECORDS: u64 = 4096;

/// One shard's drop-copy publisher.
pub struct DropCopy {
    config: ReplicationConfig,
    shard: u16,
    js: Option<jetstream::Context>,
    /// `(subject, message id, body)` not yet acknowledged.
    pending: VecDeque<(String, String, String)>,
}

impl DropCopy {
    pub fn new(config: &ReplicationConfig, shard: u16) -> DropCopy {
        DropCopy {
            config: config.clone(),
            shard,
            js: None,
            pending: VecDeque::new(),
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
        self.flush().await
    }

    /// Queues the fills among `events` (of record `seq`) and publishes
    /// everything queued.
    pub async fn publish(&mut self, seq: u64, events: &[Event]) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.queue(seq, events);
        self.flush().await
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
                self.pending
                    .push_back((subject, id, fill_json(self.shard, seq, event)));
            }
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        let Some(js) = &self.js else {
            return Err("drop copy: not connected".into());
        };
        while let Some((subject, id, body)) = self.pending.front() {
            let publish = PublishMessage::build()
                .payload(body.clone().into_bytes().into())
                .message_id(id.as_str());
            js.send_publish(subject.clone(), publish)
                .await
                .map_err(|e| format!("drop copy publish: {e}"))?
                .await
                .map_err(|e| format!("drop copy ack: {e}"))?;
            self.pending.pop_front();
        }
        debug_assert!(self.pending.is_empty(), "every fill acknowledged");
        Ok(())
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
