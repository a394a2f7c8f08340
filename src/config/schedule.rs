//! `[schedule]`: operator actions the gateway runs by itself at a time of
//! day. Today: end of day (every resting Day order expires). The time is
//! `HH:MM` or `HH:MM:SS` in a fixed zone, `UTC` or an offset such as
//! `+01:00` or `-05:00` (no daylight-saving rules: change the offset in the
//! config when they change, or call `tradsys admin end-of-day` from cron).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Time of day of the automatic end of day; empty: none.
    pub end_of_day: String,
    /// The zone `end_of_day` is in: `UTC` (also when empty) or `+HH:MM` /
    /// `-HH:MM`.
    pub zone: String,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            end_of_day: String::new(),
            zone: "UTC".to_string(),
        }
    }
}

/// Seconds after midnight of `HH:MM[:SS]`.
pub fn parse_time_of_day(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let number = |p: &str, max: u32| p.parse::<u32>().ok().filter(|&n| n <= max);
    let hours = number(parts[0], 23)?;
    let minutes = number(parts[1], 59)?;
    let seconds = match parts.get(2) {
        Some(p) => number(p, 59)?,
        None => 0,
    };
    Some(hours * 3600 + minutes * 60 + seconds)
}

/// The zone's offset from UTC in seconds (east positive).
pub fn parse_zone(text: &str) -> Option<i32> {
    if text.is_empty() || text == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let offset = parse_time_of_day(rest).filter(|&s| s % 60 == 0 && s <= 14 * 3600)?;
    Some(sign * offset as i32)
}

/// The first instant (seconds since the epoch) after `now_s` at which the
/// wall clock in the zone reads `time_of_day`.
pub fn next_occurrence(now_s: i64, time_of_day: u32, zone_offset_s: i32) -> i64 {
    let local = now_s + i64::from(zone_offset_s);
    let midnight = local - local.rem_euclid(86_400);
    let mut at = midnight + i64::from(time_of_day);
    if at <= local {
        at += 86_400;
    }
    let next = at - i64::from(zone_offset_s);
    debug_assert!(next > now_s && next <= now_s + 86_400);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_zones_and_the_next_occurrence() {
        assert_eq!(parse_time_of_day("22:00"), Some(79_200));
        assert_eq!(parse_time_of_day("00:00:07"), Some(7));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_time_of_day("7:00"), None);
        assert_eq!(parse_zone("UTC"), Some(0));
        assert_eq!(parse_zone("-05:00"), Some(-18_000));
        assert_eq!(parse_zone("+05:30"), Some(19_800));
        assert_eq!(parse_zone("CET"), None);
        // 2025-11-26T17:35:45Z; 22:00 UTC is 4h24m15s later.
        let now = 1_764_178_545;
        assert_eq!(next_occurrence(now, 79_200, 0), now + 15_855);
        // 22:00 at -05:00 is 03:00 UTC the next day.
        assert_eq!(
            next_occurrence(now, 79_200, -18_000),
            now + 15_855 + 5 * 3600
        );
        // Already past today: tomorrow.
        assert_eq!(next_occurrence(now, 3600, 0), now - 59_745 + 86_400);
    }
}
