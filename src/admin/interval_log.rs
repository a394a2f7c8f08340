//! The interval log: every interval histogram the shards hand over, one
//! line each, in the HdrHistogram log format the Java `HistogramLogWriter`
//! writes and `HistogramLogProcessor`, HistogramLogAnalyzer and the Python
//! `hdrh` reader read: the version, StartTime and BaseTime header lines
//! and the legend, then `Tag=s<shard>.<stage>,<start>,<length>,<max>,<V2
//! compressed histogram, base64>` with times in seconds since BaseTime and
//! the max in milliseconds (values are recorded in ns; Java's default
//! divisor of 1e6). The Rust crate's writer leaves out the version and
//! legend lines, so the lines are written here.
//!
//! Written by the admin thread only (blocking file I/O is fine there), to
//! `[telemetry] interval_log` (relative to the journal directory); at
//! `MAX_BYTES` the file is renamed to `<name>.1` (replacing the previous
//! one) and a new one begun. `GET /latency/log` downloads the current file.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::hgrm::HistogramEncoder;
use crate::config::Config;
use crate::telemetry::{clock, Interval};

/// Size at which the log is rotated.
pub const MAX_BYTES: u64 = 64 << 20;

pub struct IntervalLog {
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
    /// Wall-clock ns minus `telemetry::clock` ns: maps interval times to
    /// the epoch.
    wall_minus_mono_ns: i128,
    /// BaseTime (and StartTime) of the current file, ns since the epoch.
    base_ns: i128,
    /// Kept between intervals, so a line allocates nothing once the first
    /// of each size was written (see `HistogramEncoder`).
    encoder: HistogramEncoder,
    line: String,
}

fn wall_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Where the log goes, if anywhere.
pub fn path(config: &Config) -> Option<PathBuf> {
    let name = &config.telemetry.interval_log;
    if name.as_os_str().is_empty() {
        return None;
    }
    Some(config.journal.dir.join(name))
}

impl IntervalLog {
    /// Begins a new log at `path` (an existing one is rotated first).
    pub fn open(path: PathBuf) -> std::io::Result<IntervalLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if path.exists() {
            std::fs::rename(&path, rotated(&path))?;
        }
        let file = BufWriter::new(File::create(&path)?);
        let mut log = IntervalLog {
            path,
            file,
            bytes: 0,
            wall_minus_mono_ns: wall_ns() - clock::mono_ns() as i128,
            base_ns: wall_ns(),
            encoder: HistogramEncoder::new(),
            line: String::new(),
        };
        log.header()?;
        Ok(log)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn header(&mut self) -> std::io::Result<()> {
        let base_s = self.base_ns as f64 / 1e9;
        let text = format!(
            "#[Logged with tradsys {}]\n#[Histogram log format version 1.3]\n#[StartTime: {base_s:.3} (seconds since epoch), {}]\n#[BaseTime: {base_s:.3} (seconds since epoch)]\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
            crate::VERSION,
            rfc3339(self.base_ns),
        );
        self.write(&text)
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.file.write_all(text.as_bytes())?;
        self.bytes += text.len() as u64;
        Ok(())
    }

    /// Appends one interval (rotating first if the file is full).
    pub fn append(&mut self, interval: &Interval) -> std::io::Result<()> {
        if self.bytes >= MAX_BYTES {
            self.file.flush()?;
            let encoder = std::mem::take(&mut self.encoder);
            let line = std::mem::take(&mut self.line);
            *self = IntervalLog::open(self.path.clone())?;
            (self.encoder, self.line) = (encoder, line);
        }
        let start_ns = interval.start_ns as i128 + self.wall_minus_mono_ns - self.base_ns;
        let length_ns = interval.end_ns.saturating_sub(interval.start_ns);
        let max_ms = if interval.histogram.is_empty() {
            0.0
        } else {
            interval.histogram.max() as f64 / 1e6
        };
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = writeln!(
            line,
            "Tag=s{}.{},{:.3},{:.3},{max_ms:.3},{}",
            interval.shard,
            interval.stage.name(),
            (start_ns.max(0) as f64) / 1e9,
            length_ns as f64 / 1e9,
            self.encoder.encode(&interval.histogram),
        );
        let written = self.write(&line);
        self.line = line;
        written
    }

    /// The whole current file (flushed first), for `GET /latency/log`.
    pub fn contents(&mut self) -> std::io::Result<Vec<u8>> {
        self.file.flush()?;
        std::fs::read(&self.path)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn rotated(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// `2026-11-26T17:35:45Z` for ns since the epoch (proleptic Gregorian,
/// Howard Hinnant's civil_from_days).
fn rfc3339(ns: i128) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_764_178_545 * 1_000_000_000),
            "2025-11-26T17:35:45Z"
        );
        assert_eq!(
            super::rfc3339(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }
}
