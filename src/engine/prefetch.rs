//! Batch processing with software prefetch.
//!
//! A cancel or replace of a cold order costs a chain of dependent cache
//! misses: order node (its home, `OrderSlab::home_of`) -> its queue and
//! account neighbours. Within one command nothing can overlap them; across
//! a batch they can: while command `i` runs, the home nodes of command
//! `i + 16`, the account links of command `i + 8` and the neighbours of
//! command `i + 4` are already on their way. Prefetches are hints only: a stale guess costs a wasted line,
//! never a wrong result.

use super::command::{Command, NewOrder};
use super::event::EventSink;
use super::matcher::Engine;
use super::slab::{OrderNode, Slot, NIL};
use super::types::{OrderKind, Price, Side};

const INDEX_AHEAD: usize = 16;
/// Resting orders below which a batch does not prefetch: 16,384 orders of
/// 80 bytes (node and index share) are about 1.3 MiB, an L2's worth.
pub(crate) const PREFETCH_MIN_LIVE: u32 = 16_384;
const NODE_AHEAD: usize = 8;
const NEIGHBOURS_AHEAD: usize = 4;

// Each step of the chain needs the line the previous step fetched: the
// index entry arrives before its node is guessed from it, the node before
// its links are read.
const _: () = assert!(INDEX_AHEAD > NODE_AHEAD);
const _: () = assert!(NODE_AHEAD > NEIGHBOURS_AHEAD);
const _: () = assert!(NEIGHBOURS_AHEAD > 0);

#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, even on a bad address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(ptr as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// The address of `items[index]`, for a prefetch, without a bounds check:
/// a prefetch of any address is harmless (an index past the end would
/// only waste a line), and the checks were a compare and a branch for
/// every line prefetched, several a command (debug builds still check).
/// Never read through it.
#[inline(always)]
pub(crate) fn unchecked_address<T>(items: &[T], index: usize) -> *const T {
    debug_assert!(
        index < items.len(),
        "prefetch of {index} of {}",
        items.len()
    );
    items.as_ptr().wrapping_add(index)
}

/// Starts the load of `items[index]`'s line (see `unchecked_address`).
#[inline(always)]
pub(crate) fn prefetch_at<T>(items: &[T], index: usize) {
    prefetch(unchecked_address(items, index));
}

impl Engine {
    /// Processes `commands` in order, exactly as calling [`Engine::process`]
    /// on each would (same events), prefetching ahead for the cold ones.
    /// The sink hears [`EventSink::command_begins`] before each command.
    ///
    /// While the resting orders fit a core's L2 (`PREFETCH_MIN_LIVE`), the
    /// lines are already there and the look-ahead is pure cost (20% fewer
    /// commands a second at 1 symbol 4,000 orders deep): then it is left out.
    pub fn process_batch<S: EventSink>(&mut self, commands: &[Command], sink: &mut S) {
        if self.slab.live() < PREFETCH_MIN_LIVE {
            for (i, command) in commands.iter().enumerate() {
                sink.command_begins(i);
                self.process(command, sink);
            }
            return;
        }
        for (i, command) in commands.iter().enumerate() {
            if let Some(ahead) = commands.get(i + INDEX_AHEAD) {
                self.prefetch_index(ahead);
            }
            if let Some(ahead) = commands.get(i + NODE_AHEAD) {
                self.prefetch_node(ahead, false);
            }
            if let Some(ahead) = commands.get(i + NEIGHBOURS_AHEAD) {
                self.prefetch_node(ahead, true);
            }
            if let Some(Command::New(order)) = commands.get(i + NODE_AHEAD) {
                self.prefetch_new(order, false);
            }
            if let Some(Command::New(order)) = commands.get(i + NEIGHBOURS_AHEAD) {
                self.prefetch_new(order, true);
            }
            sink.command_begins(i);
            self.process(command, sink);
        }
    }

    /// Starts, at the start of a cancel or replace, the loads of the lines
    /// of `order_id`'s home node: the node and its account links, which the
    /// removal reads, and its notional, which a partly filled order's
    /// report reads. All three addresses follow from the id alone, so they
    /// travel together instead of the links and the notional waiting for
    /// the node. (An order away from home only wastes the lines.)
    #[inline]
    pub(crate) fn prefetch_home(&self, order_id: u64) {
        if self.slab.live() < PREFETCH_MIN_LIVE || self.slab.capacity() == 0 {
            return; // In cache already (see `process_batch`).
        }
        let home = self.slab.home_of(order_id);
        debug_assert!(home < self.slab.capacity());
        prefetch(self.slab.get_unchecked_hint(home));
        prefetch(self.account_links.hint(home));
        prefetch_at(&self.notional, home as usize);
    }

    /// Starts the loads of the nodes `slot` is linked to (its level and
    /// account neighbours), which a cancel or a replace is about to
    /// rewrite: issued as soon as the node is in hand, their misses overlap
    /// the checks and the level search in between instead of following
    /// them one by one. One command at a time, at 1 symbol too.
    ///
    /// With them go the other lines a cancel or replace writes once the
    /// node is known: its exposure and its price level (where
    /// `BookSide::find` will look first). Each was a miss that waited for
    /// the one before it. (The client index prefetches its own entries
    /// when a change is queued: `client_index.rs`.)
    #[inline]
    pub(crate) fn prefetch_links(&self, slot: Slot) {
        let node = self.slab.get(slot);
        debug_assert!(node.order_id != 0, "prefetching the links of a free node");
        if self.slab.live() < PREFETCH_MIN_LIVE {
            return; // In cache already (see `process_batch`).
        }
        for link in [node.prev, node.next] {
            if link != NIL {
                prefetch(self.slab.get_unchecked_hint(link));
            }
        }
        self.prefetch_account_links(slot);
        prefetch_at(&self.exposures, node.owner as usize);
        let book = &self.books[self.owner_book(node.owner) as usize];
        if let Some(level) = book.side(node.side).level_hint(node.price) {
            prefetch(level);
        }
    }

    /// Starts the loads a fill against the resting order `node` (at the
    /// front of its level) is about to need: the next order in the level,
    /// which matching visits next, and, should the fill take the whole
    /// order, its account neighbours
    /// and its exposure. Issued as soon as the node is read, so that these
    /// misses overlap one another and the fill's own work instead of
    /// following it one at a time.
    #[inline]
    pub(crate) fn prefetch_fill(&self, slot: Slot, node: &OrderNode) {
        debug_assert!(node.order_id != 0, "prefetching for a free node");
        if self.slab.live() < PREFETCH_MIN_LIVE {
            return; // In cache already (see `process_batch`).
        }
        if node.next != NIL {
            // The next order's node, and the lines its own fill reads
            // first (its account links, its notional): their addresses
            // follow from its slot, so they need not wait for its node.
            prefetch(self.slab.get_unchecked_hint(node.next));
            prefetch(self.account_links.hint(node.next));
            prefetch_at(&self.notional, node.next as usize);
        }
        self.prefetch_account_links(slot);
        prefetch_at(&self.exposures, node.owner as usize);
    }

    /// Starts the loads a new order that may rest will need after it
    /// matched: the node it will be linked after in `owner`'s account
    /// list and its price level on `side`
    /// (where `BookSide::find` looks first) or, when that level is there
    /// already, the level's last order, which it will be linked after.
    /// Matching runs meanwhile.
    #[inline]
    pub(crate) fn prefetch_rest(&self, owner: u32, side: Side, price: Price) {
        let tail = self.exposures[owner as usize].orders_tail;
        debug_assert!(tail == NIL || tail < self.slab.capacity());
        if self.slab.live() < PREFETCH_MIN_LIVE {
            return; // In cache already (see `process_batch`).
        }
        if tail != NIL {
            prefetch(self.account_links.hint(tail));
        }
        let book = &self.books[self.owner_book(owner) as usize];
        // The level near the touch is usually cached; the order it will be
        // linked after, its last, is not: reading the one to prefetch the
        // other takes the node's miss off the end of the command.
        match book.side(side).tail_hint(price) {
            Some(last) => prefetch(self.slab.get_unchecked_hint(last)),
            None => {
                if let Some(level) = book.side(side).level_hint(price) {
                    prefetch(level);
                }
            }
        }
    }

    /// The look-ahead for a new order: `NODE_AHEAD` commands before it
    /// runs, its exposure and its level; then,
    /// `NEIGHBOURS_AHEAD` before, with those lines in, the nodes it will
    /// be linked after (its account's last order on the symbol, its
    /// level's last order) or, for one that does not rest, the first
    /// order it meets on the other side. The book may change in between:
    /// a guess gone stale only wastes a line.
    fn prefetch_new(&self, order: &NewOrder, late: bool) {
        let (Some(book), Some(account)) = (
            self.symbol_index(order.symbol),
            self.account_index(order.account),
        ) else {
            return;
        };
        let owner = self.owner(account, book);
        let book = &self.books[book as usize];
        debug_assert_eq!(book.symbol, order.symbol);
        let rests = order.tif.rests() && order.kind == OrderKind::Limit;
        if !late {
            prefetch_at(&self.exposures, owner as usize);
            if rests {
                if let Some(level) = book.side(order.side).level_hint(order.price) {
                    prefetch(level);
                }
            }
            return;
        }
        if !rests {
            if let Some(best) = book.side(order.side.opposite()).best() {
                if best.head != NIL {
                    prefetch(self.slab.get_unchecked_hint(best.head));
                }
            }
            return;
        }
        let tail = self.exposures[owner as usize].orders_tail;
        if tail != NIL {
            prefetch(self.account_links.hint(tail));
        }
        if let Some(last) = book.side(order.side).tail_hint(order.price) {
            prefetch(self.slab.get_unchecked_hint(last));
        }
    }

    /// Starts the loads of the account links a removal of `slot` writes:
    /// its neighbours'. Its own are read here, a load the removal makes
    /// anyway (one line of the dense array, eight slots' links).
    #[inline]
    fn prefetch_account_links(&self, slot: Slot) {
        let (prev, next) = self.account_links.of(slot);
        debug_assert!(prev != slot && next != slot);
        for link in [prev, next] {
            if link != NIL {
                prefetch(self.account_links.hint(link));
            }
        }
    }

    fn target(command: &Command) -> Option<u64> {
        match command {
            Command::Cancel(c) => Some(c.order_id),
            Command::Replace(r) => Some(r.order_id),
            _ => None,
        }
    }

    fn prefetch_index(&self, command: &Command) {
        if let Some(order_id) = Engine::target(command) {
            prefetch(self.slab.get_unchecked_hint(self.slab.home_of(order_id)));
        }
    }

    fn prefetch_node(&self, command: &Command, neighbours: bool) {
        let Some(order_id) = Engine::target(command) else {
            return;
        };
        // Where the order most likely is: its home.
        let slot = self.slab.home_of(order_id);
        debug_assert!(slot < self.slab.capacity());
        if !neighbours {
            prefetch(self.slab.get_unchecked_hint(slot));
            prefetch(self.account_links.hint(slot));
            return;
        }
        // The node may belong to another order by now, which only makes
        // these prefetches useless.
        let node = self.slab.get(slot);
        for link in [node.prev, node.next] {
            if link != NIL {
                prefetch(self.slab.get_unchecked_hint(link));
            }
        }
        self.prefetch_account_links(slot);
    }
}
