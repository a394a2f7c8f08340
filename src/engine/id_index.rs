//! A fixed table from a configured id (symbol, account) to a small value
//! (a local index, an owner shard), sorted once and looked up by binary
//! search. The engine and the gateway's shared lookups both build theirs
//! here, so the duplicate-id check and the search exist once.
//!
//! Ids below `DIRECT_IDS` (configs number their symbols and accounts from
//! small integers) are also in a table indexed by the id itself: the
//! engine looks up a symbol and an account on every command, and the
//! binary search over 100 symbols and 64 accounts cost about 7% of the
//! instructions of `tradsys-bench engine` at 100 symbols (cachegrind).

/// Ids up to which `IdIndex` keeps a direct table (at most 64 Ki entries
/// of a few bytes, sized to the largest such id configured).
const DIRECT_IDS: u32 = 1 << 16;

/// Ids sorted ascending with their values; ids are unique.
#[derive(Clone, Debug)]
pub struct IdIndex<V> {
    entries: Vec<(u32, V)>,
    /// `direct[id]` for every id below its length: the value of a
    /// configured id, `None` for the others.
    direct: Vec<Option<V>>,
}

impl<V: Copy> IdIndex<V> {
    /// Sorts `entries` by id. Panics on a repeated id: configuration
    /// validation rejects those first, so one here is a bug.
    pub fn new(entries: impl IntoIterator<Item = (u32, V)>, what: &str) -> IdIndex<V> {
        let mut entries: Vec<(u32, V)> = entries.into_iter().collect();
        entries.sort_unstable_by_key(|&(id, _)| id);
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "duplicate {what} id"
        );
        let direct_len = entries
            .iter()
            .map(|&(id, _)| id)
            .filter(|&id| id < DIRECT_IDS)
            .max()
            .map_or(0, |id| id as usize + 1);
        let mut direct = vec![None; direct_len];
        for &(id, value) in entries.iter().filter(|&&(id, _)| id < DIRECT_IDS) {
            direct[id as usize] = Some(value);
        }
        // Every id the table does not cover is above it: the binary search
        // finds those.
        assert!(entries
            .iter()
            .all(|&(id, _)| (id as usize) < direct.len() || id >= DIRECT_IDS));
        IdIndex { entries, direct }
    }

    /// Each id to its position in `ids` (a config list's index).
    pub fn positions(ids: impl IntoIterator<Item = u32>, what: &str) -> IdIndex<V>
    where
        V: TryFrom<usize>,
    {
        let entries: Vec<(u32, V)> = ids
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let Ok(position) = V::try_from(i) else {
                    panic!("more {what}s than the index type holds");
                };
                (id, position)
            })
            .collect();
        let count = entries.len();
        let index = IdIndex::new(entries, what);
        assert_eq!(index.len(), count, "one entry per position");
        index
    }

    /// The value for `id`, if configured.
    #[inline]
    pub fn get(&self, id: u32) -> Option<V> {
        if let Some(&value) = self.direct.get(id as usize) {
            return value;
        }
        if id < DIRECT_IDS {
            // The direct table covers every configured id below the bound.
            return None;
        }
        let i = self.entries.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        debug_assert_eq!(self.entries[i].0, id);
        Some(self.entries[i].1)
    }

    /// Every (id, value), ids ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, V)> + '_ {
        self.entries.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
