//! A fixed table from a configured id (symbol, account) to a small value
//! (a local index, an owner shard), sorted once and looked up by binary
//! search. The engine and the gateway's shared lookups both build theirs
//! here, so the duplicate-id check and the search exist once.

/// Ids sorted ascending with their values; ids are unique.
#[derive(Clone, Debug)]
pub struct IdIndex<V> {
    entries: Vec<(u32, V)>,
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
        IdIndex { entries }
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
