//! Rendering the checks: a table for people, JSON for tools, an exit code
//! for scripts (`ExecStartPre=`, CI).

use std::fmt::Write as _;
use std::process::ExitCode;

use super::check::{Check, Status};

/// Width of the check-name column: the longest name plus a space.
const NAME_WIDTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(checks: Vec<Check>) -> Self {
        Report { checks }
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// No check failed: the gateway can run here (perhaps not at its best).
    pub fn passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// 0 when nothing failed, 1 otherwise. Warnings do not fail the doctor:
    /// an untuned laptop must still be able to run the gateway.
    pub fn exit_code(&self) -> ExitCode {
        if self.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// `doctor: 12 ok, 6 warn, 0 fail (3 skipped)`.
    pub fn summary_line(&self) -> String {
        let mut line = format!(
            "doctor: {} ok, {} warn, {} fail",
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail)
        );
        let skipped = self.count(Status::Skip);
        if skipped > 0 {
            let _ = write!(line, " ({skipped} skipped)");
        }
        line
    }

    /// One line per check (`status name found -> fix: command`), then the
    /// summary line.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let _ = write!(
                out,
                "{:<5} {:<NAME_WIDTH$} {}",
                check.status.as_str(),
                check.name,
                check.found
            );
            if let Some(fix) = &check.fix {
                let _ = write!(out, " -> fix: {fix}");
            }
            out.push('\n');
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// `{"checks":[{"name","status","found","fix"}...],"summary":{...},"passed":bool}`,
    /// one check per line.
    pub fn render_json(&self) -> String {
        let mut out = String::from("{\"checks\":[\n");
        for (i, check) in self.checks.iter().enumerate() {
            let fix = check.fix.as_deref().map_or("null".to_owned(), json_string);
            let _ = write!(
                out,
                "  {{\"name\":{},\"status\":{},\"found\":{},\"fix\":{}}}",
                json_string(check.name),
                json_string(check.status.as_str()),
                json_string(&check.found),
                fix
            );
            out.push_str(if i + 1 < self.checks.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        let _ = writeln!(
            out,
            "],\"summary\":{{\"ok\":{},\"warn\":{},\"fail\":{},\"skip\":{}}},\"passed\":{}}}",
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Skip),
            self.passed()
        );
        out
    }
}

/// A JSON string literal (RFC 8259): quotes, backslashes and control
/// characters escaped; everything else is valid UTF-8 already.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
