//! The feed of one engine (one shard's symbols): routes each public engine
//! event to its symbol's [`SymbolFeed`], runs the conflation ticks, and cuts
//! snapshots. It is a pure function of the events and their journal times:
//! the same events give the same messages with the same sequences, which is
//! what lets a replica replaying the journal serve the same feed
//! (`tests/market_data/feed.rs` holds it to that).
//!
//! Everything is allocated in [`Feed::new`]; handling an event or a tick
//! allocates nothing (`tests/alloc/market_data.rs`).

use super::change::{ChangeBuf, LevelChange};
use super::channel::CONFLATION_INTERVAL_NS;
use super::conflate::Cadence;
use super::epoch::FeedEpoch;
use super::image::LevelCapacityExceeded;
use super::message::FeedSink;
use super::status::StatusEvent;
use super::symbol_feed::SymbolFeed;
use crate::engine::{Event, SymbolId};

/// Why an event was not applied (nothing changed, nothing was published).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedError {
    /// The event names a symbol this feed was not built for.
    UnknownSymbol(SymbolId),
    /// A level insert past the capacity the feed was built with: the events
    /// do not come from an engine with this configuration.
    LevelCapacity(SymbolId),
}

#[derive(Clone)]
pub struct Feed {
    epoch: FeedEpoch,
    /// In the order given to [`Feed::new`].
    symbols: Vec<SymbolFeed>,
    /// `(symbol id, index into symbols)`, sorted by id.
    index: Vec<(SymbolId, usize)>,
    scratch: ChangeBuf,
    cadence: Cadence,
}

impl Feed {
    /// A feed for `symbols` of an engine with `levels_per_side` levels per
    /// book side, in epoch `epoch`.
    pub fn new(epoch: FeedEpoch, symbols: &[SymbolId], levels_per_side: u32) -> Feed {
        let symbols: Vec<SymbolFeed> = symbols
            .iter()
            .map(|&id| SymbolFeed::new(id, levels_per_side))
            .collect();
        let mut index: Vec<_> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.symbol, i))
            .collect();
        index.sort_unstable();
        index.dedup_by_key(|(id, _)| *id);
        assert_eq!(index.len(), symbols.len(), "symbol ids must be unique");
        let max_changes = symbols
            .iter()
            .map(SymbolFeed::max_changes)
            .max()
            .unwrap_or(0);
        Feed {
            epoch,
            symbols,
            index,
            scratch: ChangeBuf::with_capacity(max_changes),
            cadence: Cadence::new(CONFLATION_INTERVAL_NS),
        }
    }

    pub fn epoch(&self) -> FeedEpoch {
        self.epoch
    }

    /// A new epoch (a replay met a `feed_epoch` record, or the start wrote one).
    pub fn set_epoch(&mut self, epoch: FeedEpoch) {
        self.epoch = epoch;
    }

    fn position(&self, symbol: SymbolId) -> Result<usize, FeedError> {
        let i = self
            .index
            .binary_search_by_key(&symbol, |(id, _)| *id)
            .map_err(|_| FeedError::UnknownSymbol(symbol))?;
        Ok(self.index[i].1)
    }

    fn symbol_mut(&mut self, symbol: SymbolId) -> Result<&mut SymbolFeed, FeedError> {
        let i = self.position(symbol)?;
        Ok(&mut self.symbols[i])
    }

    pub(super) fn symbol(&self, symbol: SymbolId) -> Option<&SymbolFeed> {
        Some(&self.symbols[self.position(symbol).ok()?])
    }

    /// Copies `symbol`'s whole state into `into` (a buffer made with
    /// [`SymbolFeed::new`] for this config) without allocating; false if
    /// the feed lacks the symbol.
    pub fn copy_symbol(&self, symbol: SymbolId, into: &mut SymbolFeed) -> bool {
        let Some(feed) = self.symbol(symbol) else {
            return false;
        };
        into.copy_from(feed);
        debug_assert_eq!(into.symbol(), symbol);
        true
    }

    /// Exchanges the state of `state.symbol()` with `state`: the replica
    /// takes a copy its owner made; `state` gets the old one back (to be
    /// reused). False, and nothing changed, if the feed lacks the symbol.
    pub fn swap_symbol(&mut self, state: &mut SymbolFeed) -> bool {
        let Ok(feed) = self.symbol_mut(state.symbol()) else {
            return false;
        };
        std::mem::swap(feed, state);
        debug_assert_eq!(feed.symbol(), state.symbol());
        true
    }

    /// Whether the feed serves `symbol`.
    pub fn has_symbol(&self, symbol: SymbolId) -> bool {
        self.symbol(symbol).is_some()
    }

    /// Applies one engine event, stamped with the journal time of the
    /// command it came from. Private events (order reports) are ignored.
    pub fn apply<S: FeedSink>(
        &mut self,
        event: &Event,
        ts_ns: u64,
        sink: &mut S,
    ) -> Result<(), FeedError> {
        match *event {
            Event::BookLevel {
                symbol,
                side,
                price,
                qty,
                order_count,
            } => {
                let change = LevelChange {
                    side,
                    price,
                    qty,
                    order_count,
                };
                let i = self.position(symbol)?;
                self.symbols[i]
                    .on_level(change, ts_ns, &mut self.scratch, sink)
                    .map_err(|LevelCapacityExceeded| FeedError::LevelCapacity(symbol))
            }
            Event::Trade {
                exec_id,
                symbol,
                price,
                qty,
                aggressor_side,
            } => {
                self.symbol_mut(symbol)?
                    .on_trade(exec_id, price, qty, aggressor_side, ts_ns, sink);
                Ok(())
            }
            Event::HaltSet { symbol, on } => {
                let event = if on {
                    StatusEvent::Halt
                } else {
                    StatusEvent::Resume
                };
                self.symbol_mut(symbol)?.on_status(event, ts_ns, sink);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The journal's `EndOfDay` command ran (after its events were applied):
    /// every symbol gets an end-of-day status and a new ticker session.
    pub fn end_of_day<S: FeedSink>(&mut self, ts_ns: u64, sink: &mut S) {
        for feed in &mut self.symbols {
            feed.on_status(StatusEvent::EndOfDay, ts_ns, sink);
        }
    }

    /// End of day for one symbol only: a shard's replica of the whole
    /// gateway's feed follows each owner shard's `EndOfDay` for that
    /// owner's symbols (the engines run it one shard at a time).
    pub fn end_of_day_symbol<S: FeedSink>(
        &mut self,
        symbol: SymbolId,
        ts_ns: u64,
        sink: &mut S,
    ) -> Result<(), FeedError> {
        self.symbol_mut(symbol)?
            .on_status(StatusEvent::EndOfDay, ts_ns, sink);
        Ok(())
    }

    /// The ids of the symbols served, in the order given to [`Feed::new`].
    pub fn symbol_ids(&self) -> impl Iterator<Item = SymbolId> + '_ {
        self.symbols.iter().map(|s| s.symbol)
    }

    /// Takes `symbol`'s whole state (book, sequences, streams, ticker,
    /// status) from `other`: how a shard's replica starts from the owner
    /// shard's feed after recovery. Start-up only (it allocates).
    pub fn adopt(&mut self, other: &Feed, symbol: SymbolId) -> Result<(), FeedError> {
        let theirs = other
            .symbol(symbol)
            .ok_or(FeedError::UnknownSymbol(symbol))?;
        let i = self.position(symbol)?;
        self.symbols[i] = theirs.clone();
        debug_assert_eq!(self.symbols[i].symbol, symbol);
        Ok(())
    }

    /// A copy holding only the symbols `keep` accepts (start-up: what a
    /// shard hands the others is its own symbols, not its whole replica).
    pub fn subset(&self, keep: impl Fn(SymbolId) -> bool) -> Feed {
        let symbols: Vec<SymbolFeed> = self
            .symbols
            .iter()
            .filter(|s| keep(s.symbol))
            .cloned()
            .collect();
        let mut index: Vec<_> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.symbol, i))
            .collect();
        index.sort_unstable();
        debug_assert!(index.len() <= self.index.len());
        Feed {
            epoch: self.epoch,
            symbols,
            index,
            scratch: self.scratch.clone(),
            cadence: self.cadence.clone(),
        }
    }

    /// Runs the conflation stage if a tick is due at `now_ns` (the shard's
    /// clock); returns whether it ran.
    pub fn tick<S: FeedSink>(&mut self, now_ns: u64, sink: &mut S) -> bool {
        if !self.cadence.due(now_ns) {
            return false;
        }
        self.tick_now(sink);
        true
    }

    /// Runs the conflation stage now, whatever the cadence says.
    pub fn tick_now<S: FeedSink>(&mut self, sink: &mut S) {
        for feed in &mut self.symbols {
            feed.on_tick(&mut self.scratch, sink);
        }
    }
}
