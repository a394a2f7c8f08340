//! The one reporting format every subcommand shares.
//!
//! A bench produces [`Figure`]s: a latency distribution (percentiles of an
//! HdrHistogram) or a rate. Each is printed as one line the moment it is
//! known, in the same shape whichever bench made it:
//!
//! ```text
//! <name>: n=<count> p50=<v> p90=<v> p99=<v> p99.9=<v> p99.99=<v> max=<v> <unit>
//! <name>: <value> <unit>/s
//! ```
//!
//! `tradsys-bench report` collects the figures of a whole run and prints
//! them again as a Markdown table for the README.

use std::io::Write;

use hdrhistogram::Histogram;

/// A new latency histogram in nanoseconds: 1 ns to 60 s, 3 significant
/// digits (0.1% resolution at every magnitude).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// The unit a latency figure is printed in (histograms always hold ns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Ns,
    Us,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Us => "us",
        }
    }

    fn scale(self, ns: u64) -> f64 {
        match self {
            Unit::Ns => ns as f64,
            Unit::Us => ns as f64 / 1_000.0,
        }
    }
}

/// The percentiles of one distribution, already in `unit`.
#[derive(Clone, Debug)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
    pub unit: Unit,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>, unit: Unit) -> Latency {
        let q = |q: f64| unit.scale(histogram.value_at_quantile(q));
        Latency {
            count: histogram.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: unit.scale(histogram.max()),
            unit,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Value {
    Latency(Latency),
    /// Events per second, with what is counted ("orders", "ops").
    Rate {
        per_sec: f64,
        unit: &'static str,
    },
}

/// One measured figure: what it is and its value.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: Value,
}

impl Figure {
    pub fn latency(name: impl Into<String>, histogram: &Histogram<u64>, unit: Unit) -> Figure {
        Figure {
            name: name.into(),
            value: Value::Latency(Latency::of(histogram, unit)),
        }
    }

    pub fn rate(name: impl Into<String>, per_sec: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            value: Value::Rate { per_sec, unit },
        }
    }

    /// The figure's one-line form (see the module docs).
    pub fn line(&self) -> String {
        format!("{}: {}", self.name, self.value_text())
    }

    /// The value alone, as in [`Figure::line`].
    pub fn value_text(&self) -> String {
        match &self.value {
            Value::Latency(l) => {
                let v = |x: f64| match l.unit {
                    Unit::Ns => format!("{x:.0}"),
                    Unit::Us => format!("{x:.1}"),
                };
                format!(
                    "n={} p50={} p90={} p99={} p99.9={} p99.99={} max={} {}",
                    l.count,
                    v(l.p50),
                    v(l.p90),
                    v(l.p99),
                    v(l.p999),
                    v(l.p9999),
                    v(l.max),
                    l.unit.name()
                )
            }
            Value::Rate { per_sec, unit } => format!("{per_sec:.0} {unit}/s"),
        }
    }

    /// Prints the line and hands the figure back, so a bench can both show
    /// it at once and return it to `report`.
    pub fn print(self) -> Figure {
        println!("{}", self.line());
        self
    }
}

/// Writes the percentile distribution in the HdrHistogram `.hgrm` text
/// format (values in microseconds, 5 steps per halving of the distance to
/// 100%, as the Java reference prints by default), which the standard
/// plotters read.
pub fn write_hgrm(histogram: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    for v in histogram.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        total += v.count_since_last_iteration();
        let inverse = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".to_string()
        };
        writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {:>14}",
            v.value_iterated_to() as f64 / 1_000.0,
            q,
            total,
            inverse
        )?;
    }
    writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        histogram.mean() / 1_000.0,
        histogram.stdev() / 1_000.0
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        histogram.max() as f64 / 1_000.0,
        histogram.len()
    )?;
    Ok(())
}

/// Pins the calling thread to `core`; false if that core does not exist or
/// the affinity call failed (the figures then say "pinned: false").
pub fn pin(core: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|cores| cores.into_iter().find(|c| c.id == core))
        .is_some_and(core_affinity::set_for_current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_line_has_every_percentile_in_its_unit() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            h.record(v * 1_000).unwrap();
        }
        let line = Figure::latency("x", &h, Unit::Us).line();
        assert!(line.starts_with("x: n=10000 p50=5001.2 "), "{line}");
        for field in ["p90=", "p99=", "p99.9=", "p99.99=", "max="] {
            assert!(line.contains(field), "{line}");
        }
        assert!(line.ends_with(" us"), "{line}");
        let ns = Figure::latency("y", &h, Unit::Ns).line();
        assert!(ns.contains("p50=5001") && ns.ends_with(" ns"), "{ns}");
    }

    #[test]
    fn a_rate_line_names_what_it_counts() {
        assert_eq!(
            Figure::rate("burst", 1234567.4, "orders").line(),
            "burst: 1234567 orders/s"
        );
    }

    #[test]
    fn hgrm_output_has_the_standard_header_cumulative_counts_and_footer() {
        let mut histogram = histogram();
        for v in 1..=1000u64 {
            histogram.record(v * 1_000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&histogram, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().next().unwrap().contains("Percentile"));
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =         1000]"));
        // The last data row is the 100th percentile with every value counted.
        let last_row = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        let cols: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cols[2], "1000", "{last_row}");
        assert_eq!(cols[3], "inf", "{last_row}");
    }
}
