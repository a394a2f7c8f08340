//! Listener placement: which shards accept order-entry connections and
//! which accept market-data connections (`server.order_entry_shards`,
//! `server.market_data_shards`).
//!
//! By default every shard binds both listeners with `SO_REUSEPORT`, so
//! market-data clients land on every shard, the ones that match included.
//! A venue keeps distribution off its matching cores: naming the shards
//! that bind each listener lets an operator put the engine and order entry
//! on one core and the fan-out on another (docs/OPERATIONS.md, "Listener
//! placement"). A shard left out of a listener's set does not bind it; it
//! still serves everything else (its symbols' books, the mesh, its
//! market-data replica).

use super::{validate::ConfigError, Config};

/// The listeners one shard binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listeners {
    /// `server.order_entry` (binary TCP order entry).
    pub order_entry: bool,
    /// `server.market_data` (WebSocket and raw-TCP market data, and
    /// WebSocket order entry on `market_data.order_entry_path`).
    pub market_data: bool,
}

/// Whether `shard` is in a listener's set; `None` (omitted) is every shard.
fn listed(set: Option<&[usize]>, shard: usize) -> bool {
    set.is_none_or(|set| set.contains(&shard))
}

impl Config {
    /// The listeners shard `shard` binds.
    pub fn listeners(&self, shard: usize) -> Listeners {
        assert!(shard < self.shard_count(), "shard {shard} is configured");
        Listeners {
            order_entry: listed(self.server.order_entry_shards.as_deref(), shard),
            market_data: listed(self.server.market_data_shards.as_deref(), shard),
        }
    }

    /// The shards that bind a listener, in shard order.
    pub fn shards_binding(&self, listener: fn(Listeners) -> bool) -> Vec<usize> {
        let shards: Vec<usize> = (0..self.shard_count())
            .filter(|&shard| listener(self.listeners(shard)))
            .collect();
        debug_assert!(self.validate_placement().is_err() || !shards.is_empty());
        shards
    }

    /// Each set, when given, names at least one shard, only shards that
    /// exist, and none twice.
    pub(super) fn validate_placement(&self) -> Result<(), ConfigError> {
        let sets = [
            ("server.order_entry_shards", &self.server.order_entry_shards),
            ("server.market_data_shards", &self.server.market_data_shards),
        ];
        let shards = self.shard_count();
        for (name, set) in sets {
            let Some(set) = set else { continue };
            if set.is_empty() {
                return Err(ConfigError {
                    field: name.to_string(),
                    rule: "must name at least one shard (omit it for every shard)".to_string(),
                });
            }
            for (i, &shard) in set.iter().enumerate() {
                let rule = if shard >= shards {
                    format!(
                        "shard {shard} does not exist ({shards} shards: 0 to {})",
                        shards - 1
                    )
                } else if set[..i].contains(&shard) {
                    format!("shard {shard} listed twice")
                } else {
                    continue;
                };
                return Err(ConfigError {
                    field: format!("{name}[{i}]"),
                    rule,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cores: usize, oe: Option<Vec<usize>>, md: Option<Vec<usize>>) -> Config {
        let mut config = Config::default();
        config.server.cores = (0..cores).collect();
        config.server.order_entry_shards = oe;
        config.server.market_data_shards = md;
        config
    }

    #[test]
    fn omitted_is_every_shard_and_a_set_is_exactly_its_shards() {
        let all = config(2, None, None);
        assert!((0..2).all(|s| all.listeners(s).order_entry && all.listeners(s).market_data));
        let split = config(3, Some(vec![0, 2]), Some(vec![1]));
        assert_eq!(split.validate_placement(), Ok(()));
        assert_eq!(split.shards_binding(|l| l.order_entry), vec![0, 2]);
        assert_eq!(split.shards_binding(|l| l.market_data), vec![1]);
    }

    #[test]
    fn empty_out_of_range_and_repeated_sets_are_refused_by_name() {
        let error = |c: Config| c.validate_placement().unwrap_err().to_string();
        let empty = error(config(2, Some(vec![]), None));
        assert!(empty.contains("server.order_entry_shards:"), "{empty}");
        let range = error(config(2, None, Some(vec![1, 2])));
        assert!(range.contains("server.market_data_shards[1]"), "{range}");
        assert!(range.contains("shard 2 does not exist"), "{range}");
        let twice = error(config(2, None, Some(vec![1, 1])));
        assert!(twice.contains("listed twice"), "{twice}");
    }
}
