//! The links of each (account, symbol)'s list of resting orders, oldest
//! first, kept in a dense array beside the slab rather than in the order
//! nodes.
//!
//! Why: taking an order out of a doubly linked list writes both of its
//! neighbours. In the nodes, those are two more 64-byte lines of the slab
//! per cancel or fill, cold ones (the account's orders before and after
//! it on the symbol rested long before and after it), and they were the
//! largest share of the last-level misses of a cancel (41% of its
//! last-level write misses, issue 15). Here a node's two links are 8
//! bytes, eight nodes' to a line, in an array an eighth of the slab's
//! size: a removal touches one line more than before (the order's own
//! links, which came with its node) but all of them stay in the
//! last-level cache, and a new order no longer reads its account's last
//! order's node.
//!
//! The list's ends live in the owner's `Exposure` (one cache line a
//! command touches anyway); the order is `order_id` order, which pages of
//! open orders resume on (`account_query.rs`).

use super::slab::{Slot, NIL};

/// A node's place in its owner's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(8))]
struct Links {
    prev: Slot,
    next: Slot,
}

const _: () = assert!(std::mem::size_of::<Links>() == 8);

/// One `Links` per slab node, indexed by slot.
pub struct AccountLinks {
    links: Vec<Links>,
}

impl AccountLinks {
    /// Links for `nodes` slots (the slab's capacity: a slot may be any
    /// of them).
    pub fn with_nodes(nodes: u32) -> AccountLinks {
        let empty = Links {
            prev: NIL,
            next: NIL,
        };
        let links = AccountLinks {
            links: super::hugepage::filled_vec(nodes as usize, empty),
        };
        assert_eq!(links.links.len(), nodes as usize);
        links
    }

    /// The order after `slot` in its owner's list (`NIL`: the last).
    #[inline]
    pub fn next(&self, slot: Slot) -> Slot {
        let next = self.links[slot as usize].next;
        debug_assert_ne!(next, slot, "a list loops on {slot}");
        next
    }

    /// The orders of the list that starts at `head`, first to last.
    pub fn walk(&self, head: Slot) -> impl Iterator<Item = Slot> + '_ {
        debug_assert!(head == NIL || (head as usize) < self.links.len());
        std::iter::successors((head != NIL).then_some(head), |&slot| {
            let next = self.next(slot);
            (next != NIL).then_some(next)
        })
    }

    /// Appends `slot` to the list whose ends are `head` and `tail`.
    #[inline]
    pub fn push_back(&mut self, head: &mut Slot, tail: &mut Slot, slot: Slot) {
        // An empty list has neither end, a used one both.
        debug_assert_eq!(*head == NIL, *tail == NIL);
        let last = *tail;
        self.links[slot as usize] = Links {
            prev: last,
            next: NIL,
        };
        if last == NIL {
            *head = slot;
        } else {
            let links = &mut self.links[last as usize];
            debug_assert_eq!(links.next, NIL, "list tail has a successor");
            links.next = slot;
        }
        *tail = slot;
    }

    /// Takes `slot` out of the list whose ends are `head` and `tail`.
    #[inline]
    pub fn unlink(&mut self, head: &mut Slot, tail: &mut Slot, slot: Slot) {
        let Links { prev, next } = self.links[slot as usize];
        // The node's neighbours (or the list's ends) point back at it.
        if prev == NIL {
            debug_assert_eq!(*head, slot, "first order is not the head");
            *head = next;
        } else {
            debug_assert_eq!(self.links[prev as usize].next, slot, "broken forward link");
            self.links[prev as usize].next = next;
        }
        if next == NIL {
            debug_assert_eq!(*tail, slot, "last order is not the tail");
            *tail = prev;
        } else {
            debug_assert_eq!(self.links[next as usize].prev, slot, "broken back link");
            self.links[next as usize].prev = prev;
        }
    }

    /// Address of `slot`'s links, for prefetching, without a bounds check
    /// (`prefetch::unchecked_address`): never read through it.
    #[inline]
    pub fn hint(&self, slot: Slot) -> *const u8 {
        super::prefetch::unchecked_address(&self.links, slot as usize).cast()
    }

    /// `slot`'s links, for the full check: (prev, next).
    pub fn of(&self, slot: Slot) -> (Slot, Slot) {
        let links = self.links[slot as usize];
        debug_assert!(links.prev != slot && links.next != slot, "self link");
        (links.prev, links.next)
    }

    /// Bytes of links per order of `capacity`.
    pub fn bytes_per_order(&self, capacity: u32) -> usize {
        debug_assert!(self.links.len() >= capacity as usize);
        (self.links.len() * std::mem::size_of::<Links>()).div_ceil(capacity.max(1) as usize)
    }
}
