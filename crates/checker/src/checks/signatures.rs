//! Signatures: a correctly signed body is acknowledged; unsigned, wrongly signed, SHA-1-only
//! and altered bodies are refused. Accepting any of those is a security failure.

use super::{expect_200, expect_refused};
use crate::probe::Signing;
use crate::report::Check;
use crate::Run;

const VERIFY: &str = "compute HMAC-SHA256 of the raw request body with your app secret, compare \
                      it in constant time with X-Hub-Signature-256 (after \"sha256=\"), and \
                      answer 403 unless they match, before parsing anything";

pub async fn run(run: &Run<'_>) -> Vec<Check> {
    let p = &run.probe;
    let field = run.payloads.first_field();
    let mut checks = Vec::new();

    let (body, _) = run.payloads.single();
    let got = p.post(&body, Signing::Correct).await;
    checks.push(expect_200(
        Check::new(
            "signature.valid",
            "a correctly signed delivery is acknowledged",
        )
        .sent(format!(
            "POST, one {field} change, X-Hub-Signature-256 over its bytes"
        )),
        &got,
        "verify X-Hub-Signature-256 with the app secret you gave here, over the raw body, and \
         answer 200 as soon as it matches",
    ));

    let (body, _) = run.payloads.single();
    let got = p.post(&body, Signing::None).await;
    checks.push(expect_refused(
        Check::new("signature.missing", "an unsigned POST is refused")
            .sent("POST, one change, no signature header"),
        &got,
        VERIFY,
    ));

    let (body, _) = run.payloads.single();
    let forged = wabahook_receiver::signature::sign("not-the-app-secret", &body);
    let got = p
        .post(
            &body,
            Signing::Headers(vec![("X-Hub-Signature-256", forged)]),
        )
        .await;
    checks.push(expect_refused(
        Check::new(
            "signature.wrong",
            "a POST signed with another secret is refused",
        )
        .sent("POST, one change, X-Hub-Signature-256 made with another secret"),
        &got,
        VERIFY,
    ));

    let (body, _) = run.payloads.single();
    let sha1 = p.sign_sha1(&body);
    let got = p
        .post(&body, Signing::Headers(vec![("X-Hub-Signature", sha1)]))
        .await;
    checks.push(expect_refused(
        Check::new(
            "signature.sha1_only",
            "a POST with only the SHA-1 X-Hub-Signature is refused",
        )
        .sent("POST, one change, a correct SHA-1 X-Hub-Signature and no X-Hub-Signature-256"),
        &got,
        "require X-Hub-Signature-256; SHA-1 is broken and an X-Hub-Signature alone must not \
         be enough",
    ));

    let (signed, _) = run.payloads.single();
    let altered = alter(&signed);
    let got = p.post(&altered, Signing::Over(&signed)).await;
    checks.push(expect_refused(
        Check::new(
            "signature.altered",
            "a body altered after signing is refused",
        )
        .sent("POST, the signature of the original body over a body with one byte changed"),
        &got,
        VERIFY,
    ));
    checks
}

/// `body` with one byte of a value changed and its length kept: what a tampering proxy sends.
fn alter(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    // A digit inside the body (an id or a timestamp), past the envelope's start.
    if let Some(i) = out.iter().rposition(u8::is_ascii_digit) {
        out[i] = if out[i] == b'9' { b'8' } else { out[i] + 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn alter_changes_one_digit_and_keeps_the_length() {
        let body = br#"{"entry":[{"id":"123"}]}"#;
        let altered = super::alter(body);
        assert_eq!(altered.len(), body.len());
        assert_eq!(altered.iter().zip(body).filter(|(a, b)| a != b).count(), 1);
    }
}
