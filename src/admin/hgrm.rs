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
    HistogramEncoder::new().encode(histogram).to_owned()
}

/// The V2 compressed encoding, base64, with its memory kept between calls.
///
/// The crate's `V2DeflateSerializer` builds a new deflate state (about
/// 300 KiB) for every histogram. The gateway serves allocations of 64 KiB
/// and more with their own mapping (`server::return_freed_buffers_to_the_os`),
/// and every `munmap` of a multi-threaded process interrupts each core that
/// runs one of its threads (a TLB shootdown), the shard cores included: the
/// admin thread writing the interval log each second must not do that. So
/// the same bytes are produced here with one `flate2::Compress` reset per
/// histogram: the V2 layout (the crate's `V2Serializer`, which keeps its
/// buffer), then the cookie, the compressed length and the zlib stream.
pub struct HistogramEncoder {
    v2: hdrhistogram::serialization::V2Serializer,
    plain: Vec<u8>,
    deflate: flate2::Compress,
    packed: Vec<u8>,
    text: String,
}

/// The V2 compressed encoding's cookie as the crate and Java write it
/// (`V2CompressedEncodingCookieBase` 0x1c849304 with the 0x10 word-size
/// bits; the crate keeps its constant private).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;

impl Default for HistogramEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramEncoder {
    pub fn new() -> HistogramEncoder {
        HistogramEncoder {
            v2: hdrhistogram::serialization::V2Serializer::new(),
            plain: Vec::new(),
            // The crate's level and framing: `Compression::default()`, zlib.
            deflate: flate2::Compress::new(flate2::Compression::default(), true),
            packed: Vec::new(),
            text: String::new(),
        }
    }

    /// The base64 text of `histogram`, valid until the next call.
    pub fn encode(&mut self, histogram: &Histogram<u64>) -> &str {
        use base64::Engine as _;
        use hdrhistogram::serialization::Serializer as _;
        self.plain.clear();
        self.v2
            .serialize(histogram, &mut self.plain)
            .expect("serializing into memory");
        self.packed.clear();
        self.packed
            .extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
        self.packed.extend_from_slice(&[0; 4]); // The length, below.
        self.compress();
        let length = u32::try_from(self.packed.len() - 8).expect("a histogram under 4 GiB");
        self.packed[4..8].copy_from_slice(&length.to_be_bytes());
        self.text.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&self.packed, &mut self.text);
        &self.text
    }

    /// Deflates `plain` onto the end of `packed`, growing `packed` only
    /// when the stream does not fit (never once it has held the largest).
    fn compress(&mut self) {
        self.deflate.reset();
        loop {
            let consumed = self.deflate.total_in() as usize;
            assert!(consumed <= self.plain.len());
            if self.packed.capacity() - self.packed.len() < 64 {
                self.packed.reserve(self.plain.len() / 2 + 64);
            }
            let status = self
                .deflate
                .compress_vec(
                    &self.plain[consumed..],
                    &mut self.packed,
                    flate2::FlushCompress::Finish,
                )
                .expect("deflating into memory");
            if status == flate2::Status::StreamEnd {
                return;
            }
        }
    }
}

/// Java's SubBuckets for the precision used: the power of two that holds
/// 2 * 10^digits (2048 at 3 digits).
fn sub_bucket_count() -> u64 {
    (2 * 10u64.pow(SIGNIFICANT_DIGITS as u32)).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::new_histogram;
    use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

    fn histogram(values: impl Iterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for value in values {
            histogram.record(value).unwrap();
        }
        histogram
    }

    /// One encoder, reused over histograms of growing and shrinking size,
    /// writes exactly the crate's `V2DeflateSerializer` bytes, which decode
    /// back to the histogram.
    #[test]
    fn a_reused_encoder_writes_the_crates_v2_deflate_bytes() {
        use base64::Engine as _;
        let cases = [
            histogram(std::iter::empty()),
            histogram((0..50_000u64).map(|i| 250 + i * 61 % 4_000_000)),
            histogram([1u64, 2, 3].into_iter()),
            histogram((0..5_000u64).map(|i| 1_000 + i * i % 900_000_000)),
            histogram(std::iter::once(crate::telemetry::histogram::HIGHEST_NS)),
        ];
        let mut encoder = HistogramEncoder::new();
        for case in &cases {
            let mut expected = Vec::new();
            V2DeflateSerializer::new()
                .serialize(case, &mut expected)
                .unwrap();
            let text = encoder.encode(case).to_owned();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&text)
                .unwrap();
            assert_eq!(bytes, expected, "{} values", case.len());
            let back: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            assert_eq!(&back, case);
            assert_eq!(encoded(case), text);
        }
    }
}
