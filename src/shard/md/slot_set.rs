//! A set of a shard's client slots, as a bitmap sized at start: for the
//! per-client timers the ticker checks (today: the clients that have not
//! subscribed yet, closed with 1008 at their deadline), so a tick visits
//! the clients that have a timer, not every client of the shard. Walking
//! all 1,024 slots every 5 ms touched two cache lines of every client and
//! was the largest user-space item in the profile of a shard serving 1,000
//! idle subscribers (issue 13).

/// Client slots, one bit each; nothing is allocated after `new`.
pub struct SlotSet {
    words: Vec<u64>,
    len: usize,
}

impl SlotSet {
    pub fn new(slots: usize) -> SlotSet {
        assert!(slots > 0, "client slots");
        SlotSet {
            words: vec![0; slots.div_ceil(64)],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        debug_assert!(self.len <= self.words.len() * 64, "at most every slot");
        self.len
    }

    pub fn is_empty(&self) -> bool {
        debug_assert!(self.len <= self.words.len() * 64, "at most every slot");
        self.len == 0
    }

    pub fn contains(&self, slot: usize) -> bool {
        assert!(slot < self.words.len() * 64, "slot {slot} is a client slot");
        self.words[slot / 64] & (1 << (slot % 64)) != 0
    }

    pub fn insert(&mut self, slot: usize) {
        let was = self.contains(slot);
        self.words[slot / 64] |= 1 << (slot % 64);
        self.len += usize::from(!was);
        debug_assert!(self.len <= self.words.len() * 64);
    }

    pub fn remove(&mut self, slot: usize) {
        let was = self.contains(slot);
        self.words[slot / 64] &= !(1 << (slot % 64));
        self.len -= usize::from(was);
        debug_assert!(!self.contains(slot));
    }

    /// Calls `keep` with each slot of the set, lowest first, and takes out
    /// those it answers false for.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        if self.len == 0 {
            return;
        }
        for (at, word) in self.words.iter_mut().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !keep(at * 64 + bit) {
                    *word &= !(1 << bit);
                    self.len -= 1;
                }
            }
        }
        debug_assert_eq!(
            self.len,
            self.words
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>(),
            "the count is the number of set bits"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_visits_exactly_the_members_and_drops_what_it_is_told() {
        let mut set = SlotSet::new(130);
        for slot in [129, 0, 64, 63, 5, 5] {
            set.insert(slot);
        }
        assert_eq!(set.len(), 5, "inserted twice, counted once");
        let mut seen = Vec::new();
        set.retain(|slot| {
            seen.push(slot);
            slot % 2 == 1
        });
        assert_eq!(seen, vec![0, 5, 63, 64, 129]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(5) && set.contains(63) && set.contains(129));
        assert!(!set.contains(0) && !set.contains(64));
        set.remove(5);
        set.remove(5);
        assert_eq!(set.len(), 2, "removed twice, counted once");
        set.retain(|_| false);
        assert!(set.is_empty());
        set.retain(|_| panic!("an empty set visits nothing"));
    }
}
