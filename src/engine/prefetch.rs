//! Batch processing with software prefetch.
//!
//! A cancel or replace of a cold order costs a chain of dependent cache
//! misses: index entry -> order node -> its queue and account neighbours.
//! Within one command nothing can overlap them; across a batch they can:
//! while command `i` runs, the index entries of command `i + 16`, the node
//! of command `i + 8` and the neighbours of command `i + 4` are already on
//! their way. Prefetches are hints only: a stale guess costs a wasted line,
//! never a wrong result.

use super::command::Command;
use super::event::EventSink;
use super::matcher::Engine;
use super::slab::NIL;

const INDEX_AHEAD: usize = 16;
const NODE_AHEAD: usize = 8;
const NEIGHBOURS_AHEAD: usize = 4;

// Each step of the chain needs the line the previous step fetched: the
// index entry arrives before its node is guessed from it, the node before
// its links are read.
const _: () = assert!(INDEX_AHEAD > NODE_AHEAD);
const _: () = assert!(NODE_AHEAD > NEIGHBOURS_AHEAD);
const _: () = assert!(NEIGHBOURS_AHEAD > 0);

#[inline(always)]
fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, even on a bad address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(ptr as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

impl Engine {
    /// Processes `commands` in order, exactly as calling [`Engine::process`]
    /// on each would (same events), prefetching ahead for the cold ones.
    pub fn process_batch<S: EventSink>(&mut self, commands: &[Command], sink: &mut S) {
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
            self.process(command, sink);
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
            prefetch(self.index.home_entry(order_id));
        }
    }

    fn prefetch_node(&self, command: &Command, neighbours: bool) {
        let Some(order_id) = Engine::target(command) else {
            return;
        };
        let Some(slot) = self.index.guess_slot(order_id) else {
            return;
        };
        // `guess_slot` reads only index entries, which hold live slots.
        debug_assert!(slot < self.slab.capacity());
        let node = self.slab.get_unchecked_hint(slot);
        if !neighbours {
            prefetch(node);
            return;
        }
        // SAFETY: `node` is `&self.slab.nodes[slot]` (bounds checked) and
        // `self` is borrowed, so it points to a live node nothing mutates
        // meanwhile; the node may belong to another order by now, which
        // only makes these prefetches useless.
        let node = unsafe { &*node };
        for link in [node.prev, node.next, node.acct_prev, node.acct_next] {
            if link != NIL {
                prefetch(self.slab.get_unchecked_hint(link));
            }
        }
    }
}
