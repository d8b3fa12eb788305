//! Batches: several entries (WABAs) with several changes each, fields mixed. With an echo URL
//! the check sees whether every change was handled, not only whether the POST was answered.

use super::expect_200;
use crate::probe::Signing;
use crate::report::{Check, Outcome};
use crate::Run;

pub async fn run(run: &Run<'_>) -> Check {
    let (body, changes) = run.payloads.batch();
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    let got = run.probe.post(&body, Signing::Correct).await;
    let check = expect_200(
        Check::new(
            "batch.every_change",
            "a batch of several entries and changes is handled in full",
        )
        .sent(format!(
            "POST, 2 entries (two WABAs) with {} changes in all ({})",
            changes.len(),
            fields.join(", ")
        )),
        &got,
        "answer 200 to any well-signed body, whatever it holds",
    );
    if check.outcome != Outcome::Pass {
        return check;
    }
    let Some(echo) = &run.options.echo_url else {
        return check.warn(
            "answered 200, but this run cannot see whether every change was handled",
            "loop over every entry and every change of each entry (Meta batches them), not \
             entry[0].changes[0]; pass --echo-url with a URL showing the ids your endpoint \
             handled to have this checked",
        );
    };
    let seen = run.probe.get(echo).await;
    if !seen.is_200() {
        return check.fail(
            format!("the echo URL answered {}", seen.describe()),
            "the echo URL must answer 200 with what the endpoint handled",
        );
    }
    // The echo's whole body, not the report's excerpt of it.
    let text = run.probe.get_text(echo).await.unwrap_or_default();
    let markers: Vec<&str> = changes.iter().filter_map(|c| c.marker.as_deref()).collect();
    let missing: Vec<&str> = markers
        .iter()
        .copied()
        .filter(|m| !text.contains(m))
        .collect();
    if missing.is_empty() {
        check.pass(format!(
            "answered 200 and the echo shows all {} changes handled",
            markers.len()
        ))
    } else {
        check.fail(
            format!(
                "answered 200 but handled only {} of {} changes; missing: {}",
                markers.len() - missing.len(),
                markers.len(),
                missing.join(", ")
            ),
            "loop over every entry and every change of each entry: Meta batches changes, and \
             reading entry[0].changes[0] alone drops the others silently",
        )
    }
}
