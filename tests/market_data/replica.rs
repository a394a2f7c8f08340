//! A market-data client's book, written from `docs/MARKET_DATA.md` alone
//! and fed only binary messages: it loads a snapshot, applies a stream's
//! increments, checks every `prev`, and checks every checksum against its
//! own book. The feed tests rebuild books with it.

use std::collections::BTreeMap;

use tradsys::market_data::checksum_of;
use tradsys::protocol::market_data::*;

#[derive(Default, Debug)]
pub struct Replica {
    /// price -> (qty, orders)
    pub bids: BTreeMap<i64, (u64, u32)>,
    pub asks: BTreeMap<i64, (u64, u32)>,
    /// The snapshot's seq until the first increment, then the last seq.
    pub last: u64,
    pub loaded: bool,
    pub increments: u64,
}

/// Every message in `bytes` (parts back to back), decoded.
pub fn messages(mut bytes: &[u8]) -> Vec<MdView<'_>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let decoded = decode_md(bytes).unwrap_or_else(|e| panic!("undecodable: {e:?}"));
        out.push(decoded.message);
        bytes = &bytes[decoded.len..];
    }
    out
}

impl Replica {
    fn side(&mut self, side: u8) -> &mut BTreeMap<i64, (u64, u32)> {
        match side {
            1 => &mut self.bids,
            2 => &mut self.asks,
            other => panic!("bad side {other}"),
        }
    }

    fn apply(&mut self, entry: &LevelEntry) {
        let (price, qty) = (entry.price.get(), entry.qty.get());
        let book = self.side(entry.side);
        if qty == 0 {
            book.remove(&price);
        } else {
            book.insert(price, (qty, entry.order_count.get()));
        }
    }

    /// Bids best first.
    pub fn bids_best_first(&self) -> Vec<(i64, u64, u32)> {
        self.bids
            .iter()
            .rev()
            .map(|(p, (q, c))| (*p, *q, *c))
            .collect()
    }

    pub fn asks_best_first(&self) -> Vec<(i64, u64, u32)> {
        self.asks.iter().map(|(p, (q, c))| (*p, *q, *c)).collect()
    }

    pub fn checksum(&self) -> u32 {
        checksum_of(
            self.bids_best_first().into_iter().map(|(p, q, _)| (p, q)),
            self.asks_best_first().into_iter().map(|(p, q, _)| (p, q)),
        )
    }

    /// Loads a snapshot (all its parts).
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = Replica::default();
        let parts = messages(bytes);
        let mut checksum = None;
        for (i, part) in parts.iter().enumerate() {
            let MdView::BookSnapshot(msg, entries) = part else {
                return Err(format!("not a snapshot: {part:?}"));
            };
            let continued = msg.header.flags & flags::CONTINUED != 0;
            if continued == (i + 1 == parts.len()) {
                return Err("CONTINUED flag on the wrong parts".into());
            }
            for (j, e) in entries.iter().enumerate() {
                let expected_side = if j < msg.bid_count.get() as usize {
                    1
                } else {
                    2
                };
                if e.side != expected_side || e.qty.get() == 0 {
                    return Err(format!("snapshot entry {j} wrong: {e:?}"));
                }
                self.apply(e);
            }
            self.last = msg.header.seq.get();
            checksum = Some(msg.checksum.get());
        }
        self.loaded = true;
        if checksum != Some(self.checksum()) {
            return Err("snapshot checksum differs from its levels".into());
        }
        Ok(())
    }

    /// Checks one increment's place in the stream (`prev` chain).
    pub fn chain(&mut self, seq: u64, prev: u64) -> Result<(), String> {
        let ok = if self.increments == 0 {
            prev <= self.last && self.last < seq
        } else {
            prev == self.last
        };
        if !ok {
            return Err(format!(
                "gap: last {} (after {} increments), got seq {seq} prev {prev}",
                self.last, self.increments
            ));
        }
        self.last = seq;
        self.increments += 1;
        Ok(())
    }

    /// Applies a book update (all its parts) and checks its checksum.
    pub fn update(&mut self, bytes: &[u8]) -> Result<(), String> {
        let parts = messages(bytes);
        let MdView::BookUpdate(first, _) = parts[0] else {
            return Err("not a book update".into());
        };
        self.chain(first.header.seq.get(), first.prev.get())?;
        for part in &parts {
            let MdView::BookUpdate(msg, entries) = part else {
                return Err("mixed parts".into());
            };
            for e in *entries {
                self.apply(e);
            }
            if msg.header.flags & flags::CONTINUED == 0 && msg.checksum.get() != self.checksum() {
                return Err(format!("checksum mismatch at seq {}", msg.header.seq.get()));
            }
        }
        Ok(())
    }
}
