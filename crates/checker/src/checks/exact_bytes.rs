//! Exact bytes: a body with accents, emoji (surrogate pairs) and `\/`, signed over Meta's
//! bytes. A receiver that verifies over JSON it parsed and wrote again fails here only.

use super::expect_200;
use crate::payloads::TRICKY_TEXT;
use crate::probe::Signing;
use crate::report::Check;
use crate::Run;

pub async fn run(run: &Run<'_>) -> Check {
    let body = run
        .payloads
        .single_of(run.payloads.incoming_text(TRICKY_TEXT, 0));
    let got = run.probe.post(&body, Signing::Correct).await;
    let check = expect_200(
        Check::new(
            "bytes.exact",
            "a signed body with non-ASCII text, emoji and \\/ is acknowledged",
        )
        .sent(format!(
            "POST, a text message {TRICKY_TEXT:?} written as Meta writes it (\\u00e1, \
             \\ud83d\\udc4d, \\/), signed over those bytes"
        )),
        &got,
        "verify the signature over the raw bytes as received, before any JSON parsing: Meta \
         escapes non-ASCII as \\uXXXX and / as \\/, so JSON parsed and written again (req.body \
         in Express, request.json() then json.dumps) is different bytes and never matches",
    );
    match got.status {
        Some(s @ (401 | 403)) => Check {
            summary: format!(
                "refused a correctly signed body ({s}): the signature was checked over other \
                 bytes than those sent"
            ),
            ..check
        },
        _ => check,
    }
}
