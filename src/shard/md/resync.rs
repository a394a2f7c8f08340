//! How a replica that fell behind its owner gets the owner's state of a
//! symbol back: the other half of the public-event bound (`sender.rs`).
//!
//! An owner never lets a slow replica grow its overflow queue: past
//! `MeshSender`'s public bound it stops sending that replica the symbol's
//! public events and marks the symbol stale for it. Once the replica has
//! drained everything the owner queued for it, the owner copies its own
//! state of the symbol (`SymbolFeed::copy_from`, no allocation) into a
//! buffer, ships the buffer on a ring of its own, and sends
//! `MeshMsg::Resync` on the mesh ring. The replica, meeting the marker in
//! order, takes the buffer (it was pushed before the marker, so it is
//! there), swaps it into its feed, closes the symbol's subscribers with
//! 4002 (they reconnect and resubscribe: a fresh snapshot) and gives the
//! buffer back. Venues do the same with a snapshot channel (CME's market
//! recovery, Nasdaq's GLIMPSE): the matching engine never waits for a
//! market-data consumer.
//!
//! One buffer per ordered pair of shards, made at start, goes round:
//! owner -> replica on `ship`, back on `give_back`; rings of one slot are
//! enough, since only one buffer per pair exists. Nothing here allocates
//! after `provision`.

use rtrb::{Consumer, Producer, RingBuffer};

use crate::market_data::symbol_feed::SymbolFeed;

/// A symbol's whole feed state in transit (the box is made once, at start).
pub type State = Box<SymbolFeed>;

/// One shard's ends of the resync rings, as owner and as replica.
pub struct ResyncEnds {
    /// `ship[j]`: states this shard (owner) sends shard j's replica.
    ship: Vec<Option<Producer<State>>>,
    /// `returned[j]`: the buffer shard j gives back.
    returned: Vec<Option<Consumer<State>>>,
    /// `arriving[i]`: states shard i (owner) sends this replica.
    arriving: Vec<Option<Consumer<State>>>,
    /// `give_back[i]`: where this replica returns shard i's buffer.
    give_back: Vec<Option<Producer<State>>>,
    /// `spare[j]`: this shard's buffer for shard j, when not in flight.
    spare: Vec<Option<State>>,
}

/// Every shard's ends: two one-slot rings per ordered pair.
pub fn build(shards: usize) -> Vec<ResyncEnds> {
    assert!(shards > 0, "at least one shard");
    fn none<T>(shards: usize) -> Vec<Option<T>> {
        debug_assert!(shards > 0);
        (0..shards).map(|_| None).collect()
    }
    let mut ends: Vec<ResyncEnds> = (0..shards)
        .map(|_| ResyncEnds {
            ship: none(shards),
            returned: none(shards),
            arriving: none(shards),
            give_back: none(shards),
            spare: none(shards),
        })
        .collect();
    for owner in 0..shards {
        for replica in (0..shards).filter(|&r| r != owner) {
            let (ship, arriving) = RingBuffer::new(1);
            let (give_back, returned) = RingBuffer::new(1);
            ends[owner].ship[replica] = Some(ship);
            ends[owner].returned[replica] = Some(returned);
            ends[replica].arriving[owner] = Some(arriving);
            ends[replica].give_back[owner] = Some(give_back);
        }
    }
    ends
}

impl ResyncEnds {
    /// Start-up: one buffer per peer, sized like the feed's symbols.
    pub fn provision(&mut self, levels_per_side: u32) {
        for (peer, spare) in self.spare.iter_mut().enumerate() {
            if self.ship[peer].is_some() {
                *spare = Some(Box::new(SymbolFeed::new(0, levels_per_side)));
            }
        }
        debug_assert!(self.spare.iter().flatten().count() == self.ship.iter().flatten().count());
    }

    /// This shard's buffer for replica `to`, if it is not in flight.
    pub fn buffer(&mut self, to: usize) -> Option<State> {
        assert!(to < self.spare.len(), "shard {to} is configured");
        self.spare[to]
            .take()
            .or_else(|| self.returned[to].as_mut()?.pop().ok())
    }

    /// Whether [`buffer`](Self::buffer) would find this shard's buffer for
    /// replica `to` (a parked owner's re-check: see `sender.rs`).
    pub fn has_buffer(&self, to: usize) -> bool {
        assert!(to < self.spare.len(), "shard {to} is configured");
        self.spare[to].is_some() || self.returned[to].as_ref().is_some_and(|r| !r.is_empty())
    }

    /// Sends `state` to replica `to` (before the `Resync` marker).
    pub fn ship(&mut self, to: usize, state: State) {
        let ring = self.ship[to].as_mut().expect("a ring to every other shard");
        // The pair's only buffer was in hand, so its one slot is free.
        let pushed = ring.push(state);
        assert!(pushed.is_ok(), "one buffer per pair of shards");
    }

    /// The state owner `from` shipped before the marker just met.
    pub fn arrived(&mut self, from: usize) -> Option<State> {
        debug_assert!(from < self.arriving.len(), "shard {from} is configured");
        self.arriving[from].as_mut()?.pop().ok()
    }

    /// Returns owner `from`'s buffer.
    pub fn give_back(&mut self, from: usize, state: State) {
        let ring = self.give_back[from]
            .as_mut()
            .expect("a ring to every other shard");
        let pushed = ring.push(state);
        assert!(pushed.is_ok(), "one buffer per pair of shards");
    }
}
