//! Order id -> slab slot, as an open-addressing table of slots.
//!
//! The table stores only the 4-byte slot; the key is read back from the slab
//! node (`OrderNode::order_id`), which the lookup touches anyway. Linear
//! probing with backward-shift deletion leaves no tombstones, and the table
//! is sized once to at least twice the slab capacity (load <= 1/2), so it
//! never grows, never rehashes and costs 8 bytes per order the slab holds.

use super::slab::{OrderSlab, Slot, NIL};
use super::types::OrderId;

pub struct OrderIndex {
    slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
    len: usize,
}

impl OrderIndex {
    pub fn with_capacity(orders: u32) -> OrderIndex {
        let table = (orders as usize * 2).next_power_of_two().max(2);
        OrderIndex {
            slots: vec![NIL; table].into_boxed_slice(),
            mask: table - 1,
            shift: 64 - table.trailing_zeros(),
            len: 0,
        }
    }

    /// Fibonacci hashing: the multiply spreads sequential ids, the high bits
    /// are the best mixed.
    #[inline]
    fn home(&self, id: OrderId) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    pub fn get(&self, slab: &OrderSlab, id: OrderId) -> Option<Slot> {
        let mut i = self.home(id);
        loop {
            let slot = self.slots[i];
            if slot == NIL {
                return None;
            }
            if slab.get(slot).order_id == id {
                return Some(slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Indexes `slot`, whose node must already carry its `order_id`.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        assert!(
            self.len < self.slots.len() / 2,
            "order index over half full"
        );
        let id = slab.get(slot).order_id;
        let mut i = self.home(id);
        while self.slots[i] != NIL {
            debug_assert!(
                slab.get(self.slots[i]).order_id != id,
                "order id {id} reused"
            );
            i = (i + 1) & self.mask;
        }
        self.slots[i] = slot;
        self.len += 1;
    }

    /// Removes `id` (whose node is still intact in the slab), shifting later
    /// members of the probe run back so lookups never need tombstones.
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, id: OrderId) {
        let mut hole = self.home(id);
        loop {
            let slot = self.slots[hole];
            assert!(slot != NIL, "order id {id} not indexed");
            if slab.get(slot).order_id == id {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let mut i = hole;
        loop {
            i = (i + 1) & self.mask;
            let slot = self.slots[i];
            if slot == NIL {
                break;
            }
            let home = self.home(slab.get(slot).order_id);
            // Move the entry back unless its home lies cyclically in (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.slots[hole] = slot;
                hole = i;
            }
        }
        self.slots[hole] = NIL;
        self.len -= 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of table per order the slab can hold.
    pub fn bytes_per_order(&self, orders: u32) -> usize {
        (self.slots.len() * std::mem::size_of::<Slot>()).div_ceil(orders.max(1) as usize)
    }
}
