//! Forward compatibility: a field and a message type Meta has not documented yet must still be
//! acknowledged, or Meta retries them for days.

use serde_json::json;

use super::expect_200;
use crate::payloads::Change;
use crate::probe::Signing;
use crate::report::Check;
use crate::Run;

const FIX: &str = "acknowledge every well-signed POST with 200 and ignore what you do not know: \
                   Meta adds fields and message types without notice";

pub async fn run(run: &Run<'_>) -> Vec<Check> {
    let unknown_field = run.payloads.single_of(Change {
        field: "business_capability_preview".into(),
        value: json!({ "event": "PREVIEW_ENABLED", "capability": { "name": "future", "level": 2 } }),
        marker: None,
    });
    let got = run.probe.post(&unknown_field, Signing::Correct).await;
    let field = expect_200(
        Check::new(
            "compat.unknown_field",
            "a change of an unknown field is acknowledged",
        )
        .sent("POST, one change of field business_capability_preview (not a field today)"),
        &got,
        FIX,
    );
    let unknown_type = run.payloads.single_of(run.payloads.incoming_unknown_type());
    let got = run.probe.post(&unknown_type, Signing::Correct).await;
    let kind = expect_200(
        Check::new(
            "compat.unknown_message_type",
            "a message of an unknown type is acknowledged",
        )
        .sent("POST, one incoming message of type \"hologram\" (not a type today)"),
        &got,
        FIX,
    );
    vec![field, kind]
}
