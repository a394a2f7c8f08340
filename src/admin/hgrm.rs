//! The percentile distribution in the exact layout of HdrHistogram's Java
//! `outputPercentileDistribution` (the `.hgrm` text hdr-plot and the
//! online plotter read): a header, one 4-column row per percentile step
//! (5 ticks per half distance by default), a 3-column last row at
//! percentile 1.0, and the Mean/Max/Buckets footers. The Rust crate has no
//! writer for it (its example prints 5 columns), so it is written here.
//! Also the V2 compressed encoding, for tools that merge histograms.

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::telemetry::histogram::SIGNIFICANT_DIGITS;

/// `unit_ratio`: values are divided by it (1000.0: ns recorded, us shown).
pub fn percentile_distribution(histogram: &Histogram<u64>, ticks: u32, unit_ratio: f64) -> String {
    assert!(ticks > 0 && unit_ratio > 0.0);
    let digits = SIGNIFICANT_DIGITS as usize;
    let mut out = String::with_capacity(16 << 10);
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for row in java_percentiles(histogram, ticks) {
        let value = row.value as f64 / unit_ratio;
        let quantile = row.percentile / 100.0;
        let total = row.total_count;
        if row.percentile < 100.0 {
            let _ = writeln!(
                out,
                "{value:12.digits$} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(out, "{value:12.digits$} {quantile:2.12} {total:10}");
        }
    }
    let (mean, stdev, max) = if histogram.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            histogram.mean() / unit_ratio,
            histogram.stdev() / unit_ratio,
            histogram.max() as f64 / unit_ratio,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.digits$}, Total count    = {:12}]",
        histogram.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        sub_bucket_count()
    );
    out
}

/// One row of the distribution.
struct Row {
    /// Highest equivalent value of the bucket the step reached.
    value: u64,
    /// The percentile level iterated to (0..=100).
    percentile: f64,
    total_count: u64,
}

/// The steps of Java's `PercentileIterator`, exactly: levels kept in
/// percent (so 10 + 10 + 10 is exactly 30; the Rust crate's
/// `iter_quantiles` sums fractions and lands one value later where
/// 0.1 + 0.1 + 0.1 > 0.3), a level reached when 100 * count / total is at
/// or past it, several levels per bucket where they fall together, and at
/// the last recorded value one step and then the final step to 100%.
fn java_percentiles(histogram: &Histogram<u64>, ticks: u32) -> Vec<Row> {
    let total = histogram.len();
    let mut rows = Vec::new();
    if total == 0 {
        return rows;
    }
    let mut level = 0.0f64;
    let mut running = 0u64;
    for step in histogram.iter_recorded() {
        running += step.count_at_value();
        let value = step.value_iterated_to();
        while 100.0 * running as f64 / total as f64 >= level {
            rows.push(Row {
                value,
                percentile: level,
                total_count: running,
            });
            if running == total {
                rows.push(Row {
                    value,
                    percentile: 100.0,
                    total_count: running,
                });
                return rows;
            }
            let halvings = (100.0 / (100.0 - level)).log2() as u32;
            let reporting_ticks = u64::from(ticks) << (halvings + 1);
            level += 100.0 / reporting_ticks as f64;
        }
    }
    unreachable!("the last recorded value reaches every level");
}

/// The histogram in the V2 compressed (deflate) encoding, base64: one line
/// of the interval log format, readable by every HdrHistogram port.
pub fn encoded(histogram: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Java's SubBuckets for the precision used: the power of two that holds
/// 2 * 10^digits (2048 at 3 digits).
fn sub_bucket_count() -> u64 {
    (2 * 10u64.pow(SIGNIFICANT_DIGITS as u32)).next_power_of_two()
}
