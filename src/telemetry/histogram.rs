//! The one shape of every latency histogram: 1 ns to 60 s at 3 significant
//! digits (27,648 counters, 216 KiB), allocated once, never resized, so
//! recording never allocates (a value past the top is clamped to it).

use hdrhistogram::Histogram;

/// Highest value tracked: 60 s in nanoseconds.
pub const HIGHEST_NS: u64 = 60_000_000_000;
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A fresh, empty histogram of the shape above.
pub fn new_histogram() -> Histogram<u64> {
    let histogram = Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds");
    debug_assert!(!histogram.is_auto_resize());
    histogram
}
