//! The axum handshake handler and the `VerifiedWebhook` extractor, driven as a router would be.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use wabahook_receiver::axum::{handshake, VerifiedWebhook, WebhookConfig};
use wabahook_receiver::signature;

async fn receive(hook: VerifiedWebhook) -> String {
    hook.changes()
        .map(|c| format!("{}:{}", c.waba_id, c.change.field))
        .collect::<Vec<_>>()
        .join(",")
}

fn app() -> Router {
    Router::new()
        .route("/webhook", get(handshake).post(receive))
        .with_state(WebhookConfig::new("secret", "token"))
}

async fn call(req: Request<Body>) -> (StatusCode, String) {
    let resp = app().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get_req(query: &str) -> Request<Body> {
    Request::get(format!("/webhook?{query}"))
        .body(Body::empty())
        .unwrap()
}

fn post_req(body: &'static [u8], sig: Option<String>) -> Request<Body> {
    let mut b = Request::post("/webhook").header("content-type", "application/json");
    if let Some(s) = sig {
        b = b.header("X-Hub-Signature-256", s);
    }
    b.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn handshake_handler_answers_the_challenge_or_403() {
    let ok = call(get_req(
        "hub.mode=subscribe&hub.challenge=77&hub.verify_token=token",
    ))
    .await;
    assert_eq!(ok, (StatusCode::OK, "77".into()));
    let (status, text) = call(get_req(
        "hub.mode=subscribe&hub.challenge=77&hub.verify_token=nope",
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("does not match"), "{text}");
    assert_eq!(call(get_req("")).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn extractor_verifies_before_parsing() {
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"event":"PIN_CHANGED"},"field":"security"},{"value":{"x":"\u00e9"},"field":"x"}]},{"id":"2","changes":[{"value":{},"field":"y"}]}]}"#;
    let good = signature::sign("secret", BODY);
    assert_eq!(
        call(post_req(BODY, Some(good))).await,
        (StatusCode::OK, "1:security,1:x,2:y".into())
    );
    let (status, text) = call(post_req(BODY, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("missing"), "{text}");
    let (status, text) = call(post_req(BODY, Some("sha256=abc".into()))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("malformed"), "{text}");
    let (status, _) = call(post_req(BODY, Some(signature::sign("other", BODY)))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Correctly signed, but not an envelope.
    const NOT: &[u8] = b"[1,2]";
    let (status, _) = call(post_req(NOT, Some(signature::sign("secret", NOT)))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The example on Meta's "Webhooks for WhatsApp Business Accounts" page, as pasted: an array
/// holding one envelope.
const META_PAGE_EXAMPLE: &[u8] = br#"[ { "object": "whatsapp_business_account", "entry": [ { "id": "0", "time": 1602782939, "changes": [ { "field": "phone_number_name_update", "value": { "display_phone_number": "16505551111", "decision": "APPROVED", "requested_verified_name": "WhatsApp", "rejection_reason": null } } ] } ] } ]"#;

#[tokio::test]
async fn extractor_takes_metas_array_wrapped_example() {
    let good = signature::sign("secret", META_PAGE_EXAMPLE);
    assert_eq!(
        call(post_req(META_PAGE_EXAMPLE, Some(good))).await,
        (StatusCode::OK, "0:phone_number_name_update".into())
    );
    // The signature is still over the raw bytes, array and all.
    let (status, _) = call(post_req(
        META_PAGE_EXAMPLE,
        Some(signature::sign("other", META_PAGE_EXAMPLE)),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let p = wabahook_receiver::Payload::from_slice(META_PAGE_EXAMPLE).unwrap();
    let c = p.changes().next().unwrap();
    assert!(c.change.value.is_typed(), "{:?}", c.change.value);
    assert!(
        c.change.summary().contains("APPROVED"),
        "{}",
        c.change.summary()
    );
}
