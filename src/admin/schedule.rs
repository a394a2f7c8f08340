//! The admin thread's own operator actions: `[schedule] end_of_day` sends
//! end of day to every trading shard when the wall clock in the configured
//! zone reaches that time, as `POST /admin/end-of-day` does (journaled by
//! each shard, logged with operator "schedule"). It fires while the gateway
//! runs; a time that passed while it was down is not caught up.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::schedule::{next_occurrence, parse_time_of_day, parse_zone};
use crate::config::Config;

pub struct Schedule {
    /// (time of day in s, zone offset in s, next firing in s since epoch).
    end_of_day: Option<(u32, i32, i64)>,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Schedule {
    pub fn new(config: &Config) -> Schedule {
        let s = &config.schedule;
        let end_of_day = parse_time_of_day(&s.end_of_day).map(|time| {
            let zone = parse_zone(&s.zone).expect("config validation");
            let next = next_occurrence(now_s(), time, zone);
            tracing::info!(end_of_day = %s.end_of_day, zone = %s.zone, next_unix_s = next, "end of day scheduled");
            (time, zone, next)
        });
        Schedule { end_of_day }
    }

    /// Whether end of day is due now (then the next one is tomorrow's).
    pub fn end_of_day_due(&mut self) -> bool {
        let Some((time, zone, next)) = self.end_of_day.as_mut() else {
            return false;
        };
        let now = now_s();
        if now < *next {
            return false;
        }
        *next = next_occurrence(now, *time, *zone);
        true
    }
}
