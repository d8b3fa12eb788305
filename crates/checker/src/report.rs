//! The report card: each check's outcome, what was sent, what came back and how to fix a
//! failure; as text for a terminal and as JSON for CI and the admin API.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    /// Information only, neither good nor bad (e.g. whether the endpoint asks for mTLS).
    Info,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Stable name, e.g. `signature.missing`.
    pub id: &'static str,
    pub title: &'static str,
    pub outcome: Outcome,
    /// A failure that lets someone else in (a forged webhook accepted), not just a lost one.
    pub security: bool,
    /// One line on the outcome.
    pub summary: String,
    pub sent: String,
    pub got: String,
    /// How to fix a failure or warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Measurements (answer times and the like), when the check takes any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<serde_json::Value>,
}

impl Check {
    pub(crate) fn new(id: &'static str, title: &'static str) -> Check {
        Check {
            id,
            title,
            outcome: Outcome::Pass,
            security: false,
            summary: String::new(),
            sent: String::new(),
            got: String::new(),
            fix: None,
            figures: None,
        }
    }

    pub(crate) fn pass(mut self, summary: impl Into<String>) -> Check {
        self.outcome = Outcome::Pass;
        self.summary = summary.into();
        self
    }

    pub(crate) fn fail(mut self, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        self.outcome = Outcome::Fail;
        self.summary = summary.into();
        self.fix = Some(fix.into());
        self
    }

    pub(crate) fn warn(mut self, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        self.outcome = Outcome::Warn;
        self.summary = summary.into();
        self.fix = Some(fix.into());
        self
    }

    pub(crate) fn info(mut self, summary: impl Into<String>) -> Check {
        self.outcome = Outcome::Info;
        self.summary = summary.into();
        self
    }

    pub(crate) fn security(mut self) -> Check {
        self.security = true;
        self
    }

    pub(crate) fn sent(mut self, sent: impl Into<String>) -> Check {
        self.sent = sent.into();
        self
    }

    pub(crate) fn got(mut self, got: impl Into<String>) -> Check {
        self.got = got.into();
        self
    }

    pub(crate) fn figures(mut self, figures: serde_json::Value) -> Check {
        self.figures = Some(figures);
        self
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub passed: usize,
    pub failed: usize,
    /// Failures that are security failures (counted in `failed` too).
    pub security_failures: usize,
    pub warnings: usize,
    pub checks: Vec<Check>,
}

impl Report {
    pub(crate) fn new(url: &str, checks: Vec<Check>) -> Report {
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        Report {
            url: url.to_owned(),
            passed: count(Outcome::Pass),
            failed: count(Outcome::Fail),
            security_failures: checks
                .iter()
                .filter(|c| c.outcome == Outcome::Fail && c.security)
                .count(),
            warnings: count(Outcome::Warn),
            checks,
        }
    }

    /// True when no check failed (warnings allowed): the exit code of the command.
    pub fn ready(&self) -> bool {
        self.failed == 0
    }

    /// The ids of the checks with `outcome`.
    pub fn ids(&self, outcome: Outcome) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.id)
            .collect()
    }

    /// The report card for a terminal: one line per check, details under failures and
    /// warnings, and a verdict.
    pub fn to_text(&self) -> String {
        let mut out = format!("wabahook check-receiver {}\n\n", self.url);
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &self.checks {
            let mark = match c.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail if c.security => "FAIL (security)",
                Outcome::Fail => "FAIL",
                Outcome::Warn => "warn",
                Outcome::Info => "info",
            };
            let _ = writeln!(out, "  {mark:<4}  {:<width$}  {}", c.id, c.summary);
            if matches!(c.outcome, Outcome::Fail | Outcome::Warn) {
                let _ = writeln!(out, "        sent: {}", c.sent);
                let _ = writeln!(out, "        got:  {}", c.got);
                if let Some(fix) = &c.fix {
                    let _ = writeln!(out, "        fix:  {fix}");
                }
            }
        }
        let _ = write!(
            out,
            "\n{} passed, {} failed{}, {} warnings: ",
            self.passed,
            self.failed,
            if self.security_failures > 0 {
                format!(" ({} security)", self.security_failures)
            } else {
                String::new()
            },
            self.warnings
        );
        out.push_str(if self.ready() {
            "ready for Meta's webhooks\n"
        } else {
            "NOT ready for Meta's webhooks\n"
        });
        out
    }
}
