//! Duplicates: the same delivery twice. Meta delivers at least once, so both must be
//! acknowledged; telling them apart is the receiver's work, by the change's id.

use super::expect_200;
use crate::probe::Signing;
use crate::report::{Check, Outcome};
use crate::Run;

pub async fn run(run: &Run<'_>) -> Check {
    let (body, _) = run.payloads.single();
    let first = run.probe.post(&body, Signing::Correct).await;
    let second = run.probe.post(&body, Signing::Correct).await;
    let fix = "acknowledge a duplicate with 200 and skip its work by the message or status id: \
               Meta retries what it thinks was not received, for days, so refusing a duplicate \
               brings it back again";
    let check = Check::new(
        "duplicates.acknowledged",
        "the same delivery sent twice is acknowledged both times",
    )
    .sent("the same POST (same bytes, same signature) twice");
    let first_check = expect_200(check.clone(), &first, fix);
    if first_check.outcome != Outcome::Pass {
        return first_check;
    }
    let checked = expect_200(check, &second, fix);
    let got = format!("{}; then {}", first.describe(), second.describe());
    if checked.outcome == Outcome::Pass {
        checked.got(got).pass(
            "both answered 200; deduplicating by id is then up to you (Meta sends duplicates)",
        )
    } else {
        checked.got(got)
    }
}
