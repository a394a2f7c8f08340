//! Which sessions are logged on for each account, readable from every
//! shard. A fixed table of atomics (no lock): a slot is claimed with a
//! compare-and-swap at logon and cleared at session end; report routing
//! reads it. Writes happen only at logon and logout, so the cache lines stay
//! shared and cheap to read on the order path.

use std::sync::atomic::{AtomicU64, Ordering};

use super::mesh::SessionRef;

const LIVE: u64 = 1 << 63;

fn pack(session: SessionRef) -> u64 {
    assert!(session.shard < 0x8000, "the top bit is the live flag");
    LIVE | (session.shard as u64) << 48 | (session.slot as u64) << 32 | session.generation as u64
}

fn unpack(word: u64) -> Option<SessionRef> {
    (word & LIVE != 0).then_some(SessionRef {
        shard: (word >> 48) as u16 & 0x7FFF,
        slot: (word >> 32) as u16,
        generation: word as u32,
    })
}

pub struct SessionDirectory {
    per_account: usize,
    slots: Box<[AtomicU64]>,
}

impl SessionDirectory {
    pub fn new(accounts: usize, per_account: usize) -> SessionDirectory {
        assert!(per_account > 0, "an account may have at least one session");
        SessionDirectory {
            per_account,
            slots: (0..accounts * per_account)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn of(&self, account_index: usize) -> &[AtomicU64] {
        debug_assert!((account_index + 1) * self.per_account <= self.slots.len());
        &self.slots[account_index * self.per_account..(account_index + 1) * self.per_account]
    }

    /// Registers a session; `false` when the account has its maximum.
    pub fn register(&self, account_index: usize, session: SessionRef) -> bool {
        let registered = self.of(account_index).iter().any(|slot| {
            slot.compare_exchange(0, pack(session), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        // Only this session's shard ever clears its word: it stays put.
        debug_assert!(
            !registered
                || self
                    .of(account_index)
                    .iter()
                    .any(|slot| slot.load(Ordering::Relaxed) == pack(session))
        );
        registered
    }

    pub fn unregister(&self, account_index: usize, session: SessionRef) {
        let word = pack(session);
        for slot in self.of(account_index) {
            if slot
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
        // Unregistering a session that never registered (its logon hit the
        // account's limit) is allowed; it then finds nothing to clear.
        debug_assert!(self
            .of(account_index)
            .iter()
            .all(|slot| slot.load(Ordering::Relaxed) != word));
    }

    /// Calls `f` for every session logged on for the account.
    #[inline]
    pub fn for_each(&self, account_index: usize, mut f: impl FnMut(SessionRef)) {
        for slot in self.of(account_index) {
            if let Some(session) = unpack(slot.load(Ordering::Acquire)) {
                f(session);
            }
        }
    }
}
