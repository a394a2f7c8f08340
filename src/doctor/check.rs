//! One finding of the doctor: a status, what was found, and the fix.

use std::fmt;

/// How a host property stands against low-latency operation.
///
/// `Fail` is reserved for what stops the gateway from starting or breaks a
/// guarantee (io_uring refused, a shard core missing, journal not writable).
/// Latency tuning that is merely absent is `Warn`. `Skip` means the host does
/// not expose the property at all (no cpufreq in a VM, no sysfs file), so
/// there is nothing to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Skip,
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skip => "skip",
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable identifier (also the JSON key), e.g. `io_uring`, `thp`.
    pub name: &'static str,
    pub status: Status,
    /// What was found on this host, in words an operator can act on.
    pub found: String,
    /// The exact command or kernel parameter that fixes a warn/fail.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &'static str, found: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, found.into(), None)
    }

    pub fn skip(name: &'static str, found: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, found.into(), None)
    }

    pub fn warn(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, found.into(), Some(fix.into()))
    }

    pub fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, found.into(), Some(fix.into()))
    }

    fn new(name: &'static str, status: Status, found: String, fix: Option<String>) -> Self {
        debug_assert!(!name.is_empty() && !found.is_empty());
        debug_assert!(fix.is_some() == matches!(status, Status::Warn | Status::Fail));
        Check {
            name,
            status,
            found,
            fix,
        }
    }
}

/// Accumulates several findings about one concern into a single [`Check`]:
/// the worst status wins, texts are joined in the order they were found.
pub(crate) struct Findings {
    name: &'static str,
    status: Status,
    found: Vec<String>,
    fixes: Vec<String>,
}

impl Findings {
    pub(crate) fn new(name: &'static str) -> Self {
        Findings {
            name,
            status: Status::Skip,
            found: Vec::new(),
            fixes: Vec::new(),
        }
    }

    pub(crate) fn ok(&mut self, found: impl Into<String>) {
        self.push(Status::Ok, found.into(), None);
    }

    pub(crate) fn warn(&mut self, found: impl Into<String>, fix: impl Into<String>) {
        self.push(Status::Warn, found.into(), Some(fix.into()));
    }

    pub(crate) fn fail(&mut self, found: impl Into<String>, fix: impl Into<String>) {
        self.push(Status::Fail, found.into(), Some(fix.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    fn push(&mut self, status: Status, found: String, fix: Option<String>) {
        self.status = self.status.max(status);
        self.found.push(found);
        if let Some(fix) = fix {
            if !self.fixes.contains(&fix) {
                self.fixes.push(fix);
            }
        }
    }

    /// The combined check; `if_empty` describes a concern with no findings.
    pub(crate) fn finish(self, if_empty: &str) -> Check {
        if self.found.is_empty() {
            return Check::skip(self.name, if_empty);
        }
        let found = self.found.join("; ");
        match self.status {
            Status::Skip | Status::Ok => Check::new(self.name, self.status, found, None),
            Status::Warn | Status::Fail => {
                Check::new(self.name, self.status, found, Some(self.fixes.join("; ")))
            }
        }
    }
}
