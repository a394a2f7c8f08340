//! A digest of everything replay must reproduce: books (every level and
//! every resting order id in time priority), positions and open exposure
//! per account and symbol, halts, kill switches, live reference prices and
//! the next order and execution ids. The primary journals it now and then
//! (`state_checksum` records); a replica (a restart, `tradsys follow`)
//! computes it at the same point of the command stream and compares, so a
//! replica that drifted stops instead of serving a different market.
//!
//! It reads the engine through its query methods, not its storage, so it
//! stays the same when the storage changes, and it is a pure function of
//! the state: no clock, no addresses, no hash-map order. Its consistency
//! checks are debug-only: it runs on a live shard's timer, where a failed
//! `assert!` would stop trading over a bookkeeping question the engine's
//! own invariants (`invariants.rs`) already answer.

use super::matcher::Engine;
use super::types::Side;

/// FNV-1a 64 over little-endian fields: small, no dependency, and the
/// same on every host.
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i128(&mut self, v: i128) {
        self.bytes(&v.to_le_bytes());
    }
}

impl Engine {
    /// The state digest (see the module doc). It walks every level and
    /// resting order: O(resting orders), so the shard computes it on its
    /// timer, never per command.
    pub fn state_digest(&self) -> u64 {
        let mut h = Fnv(Fnv::OFFSET);
        let (next_order_id, next_exec_id) = self.next_ids();
        h.u64(next_order_id);
        h.u64(next_exec_id);
        h.u64(u64::from(self.resting_orders()));
        let mut orders_seen = 0u64;
        for state in &self.symbols {
            let symbol = state.spec.id;
            h.u64(u64::from(symbol));
            h.u64(u64::from(state.halted));
            h.u64(state.spec.reference_price as u64);
            h.u64(state.band_low as u64);
            h.u64(state.band_high as u64);
            for side in [Side::Buy, Side::Sell] {
                for level in self.depth(symbol, side, usize::MAX) {
                    h.u64(level.price as u64);
                    h.u64(level.qty);
                    h.u64(u64::from(level.order_count));
                    for order_id in self.level_orders(symbol, side, level.price) {
                        h.u64(order_id);
                        orders_seen += 1;
                    }
                }
            }
        }
        // Every resting order sits in exactly one level.
        debug_assert_eq!(orders_seen, u64::from(self.resting_orders()));
        self.digest_accounts(&mut h);
        h.0
    }

    /// Kill switches and every account's exposure on every symbol.
    fn digest_accounts(&self, h: &mut Fnv) {
        let mut open_orders = 0u64;
        for account in &self.accounts {
            let id = account.spec.id;
            h.u64(u64::from(id));
            h.u64(u64::from(account.killed));
            for state in &self.symbols {
                let p = self
                    .position(id, state.spec.id)
                    .expect("listed account and symbol");
                h.u64(p.position as u64);
                h.i128(p.realized_pnl);
                h.u64(u64::from(p.open_orders));
                open_orders += u64::from(p.open_orders);
                h.u64(p.open_buy_qty);
                h.u64(p.open_sell_qty);
            }
        }
        // Every resting order is open for exactly one account and symbol.
        debug_assert_eq!(open_orders, u64::from(self.resting_orders()));
    }
}
