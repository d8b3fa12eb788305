//! The checks, one file per concern, and the two judgements most of them share: a delivery
//! Meta would count as acknowledged, and a forged one the endpoint must refuse.

pub mod batch;
pub mod compat;
pub mod duplicates;
pub mod exact_bytes;
pub mod handshake;
pub mod signatures;
pub mod size;
pub mod speed;
pub mod tls;

use crate::probe::Exchange;
use crate::report::Check;

/// Meta counts a delivery as acknowledged only on 200; anything else is retried.
pub(crate) fn expect_200(check: Check, got: &Exchange, fix: &str) -> Check {
    let check = check.got(got.describe());
    if got.is_200() {
        check.pass(format!("answered 200 ({})", crate::probe::ms(got.latency)))
    } else if got.is_2xx() {
        check.warn(
            format!("answered {} instead of 200", got.status.unwrap_or_default()),
            "answer exactly 200: Meta documents only 200 as success and may retry anything else",
        )
    } else if got.certificate_problem.is_some() {
        check.fail(
            "the endpoint's TLS certificate did not verify, so nothing was delivered",
            "serve a certificate valid for this host from a public CA (Meta trusts only those)",
        )
    } else {
        check.fail(
            match got.status {
                Some(s) => format!("answered {s}; Meta would retry this delivery for days"),
                None => "no answer; Meta would retry this delivery for days".into(),
            },
            fix,
        )
    }
}

/// A forged or broken delivery must not be acknowledged: a 2xx means the endpoint would act
/// on webhooks anyone can send.
pub(crate) fn expect_refused(check: Check, got: &Exchange, fix: &str) -> Check {
    let check = check.got(got.describe());
    match got.status {
        Some(s) if (200..300).contains(&s) => check
            .fail(
                format!("accepted it ({s}): anyone could send this endpoint webhooks"),
                fix,
            )
            .security(),
        Some(s) => check.pass(format!("refused ({s})")),
        None => check.warn(
            "no answer, so it cannot be told whether the endpoint refuses it",
            "make sure the endpoint is up and answers within the timeout, then run again",
        ),
    }
}
