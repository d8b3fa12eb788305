//! `/{phone-number-id}` `webhook_configuration`: the phone-number override and the view of all
//! three callback levels.

use serde_json::json;

use crate::harness::{Ctx, Receiver, VERIFY_TOKEN};

#[tokio::test]
async fn override_levels_as_meta_reports_them() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let phone = format!("/v23.0/{}", w.phone_id);
    let conf = [("fields", "webhook_configuration")];

    // Nothing configured yet.
    let r = ctx.graph("GET", &phone, Some(&w.token), &conf).await;
    assert_eq!(
        r.body,
        json!({"webhook_configuration": {}, "id": w.phone_id})
    );

    let app_url = rx.url("/hook/app");
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscriptions", w.app_id),
        Some(&w.app_token()),
        json!({"object": "whatsapp_business_account", "callback_url": app_url, "verify_token": VERIFY_TOKEN, "fields": "messages"}),
    )
    .await
    .assert_success();
    let r = ctx.graph("GET", &phone, Some(&w.token), &conf).await;
    assert_eq!(
        r.body,
        json!({"webhook_configuration": {"application": app_url}, "id": w.phone_id})
    );

    let waba_url = rx.url("/hook/waba");
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        json!({"override_callback_uri": waba_url, "verify_token": VERIFY_TOKEN}),
    )
    .await
    .assert_success();

    let phone_url = rx.url("/hook/phone");
    ctx.graph_json(
        "POST",
        &phone,
        Some(&w.token),
        json!({"webhook_configuration": {"override_callback_uri": phone_url, "verify_token": VERIFY_TOKEN}}),
    )
    .await
    .assert_success();
    let r = ctx.graph("GET", &phone, Some(&w.token), &conf).await;
    assert_eq!(
        r.body,
        json!({"webhook_configuration": {"phone_number": phone_url, "whatsapp_business_account": waba_url, "application": app_url}, "id": w.phone_id})
    );
    assert_eq!(rx.handshakes().len(), 3);

    // An empty URI removes the phone-number override (form body holding JSON, as Graph allows).
    ctx.graph(
        "POST",
        &phone,
        Some(&w.token),
        &[("webhook_configuration", r#"{"override_callback_uri":""}"#)],
    )
    .await
    .assert_success();
    let r = ctx.graph("GET", &phone, Some(&w.token), &conf).await;
    assert!(
        r.body["webhook_configuration"]
            .get("phone_number")
            .is_none(),
        "{}",
        r.body
    );

    // Default fields of the node.
    let r = ctx.graph("GET", &phone, Some(&w.token), &[]).await;
    assert_eq!(
        r.body,
        json!({"verified_name": "Acme", "display_phone_number": "+1 555 010 2030", "id": w.phone_id})
    );
}

#[tokio::test]
async fn bad_phone_override_requests() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let phone = format!("/v23.0/{}", w.phone_id);
    let post = |body: serde_json::Value| {
        let ctx = &ctx;
        let (phone, token) = (phone.clone(), w.token.clone());
        async move { ctx.graph_json("POST", &phone, Some(&token), body).await }
    };
    post(json!({})).await.assert_graph_error(100);
    post(json!({"webhook_configuration": "nope"}))
        .await
        .assert_graph_error(100);
    post(json!({"webhook_configuration": {"verify_token": "x"}}))
        .await
        .assert_graph_error(100);
    post(json!({"webhook_configuration": {"override_callback_uri": rx.url("/hook")}}))
        .await
        .assert_graph_error(100);
    let long = format!("{}{}", rx.url("/hook/"), "x".repeat(200));
    post(json!({"webhook_configuration": {"override_callback_uri": long, "verify_token": VERIFY_TOKEN}}))
        .await
        .assert_graph_error(100);
    post(json!({"webhook_configuration": {"override_callback_uri": rx.url("/wrong"), "verify_token": VERIFY_TOKEN}}))
        .await
        .assert_graph_error(2201);
    post(json!({"webhook_configuration": {"override_callback_uri": rx.url("/notfound"), "verify_token": VERIFY_TOKEN}}))
        .await
        .assert_graph_error(2200);
    let r = ctx
        .graph(
            "GET",
            &phone,
            Some(&w.token),
            &[("fields", "webhook_configuration")],
        )
        .await;
    assert_eq!(r.body["webhook_configuration"], json!({}));
    let r = ctx
        .graph("GET", &phone, Some(&w.token), &[("fields", "nonsense")])
        .await;
    r.assert_graph_error(100);
    assert!(
        r.message().contains("nonexisting field (nonsense)"),
        "{}",
        r.message()
    );

    // VIEW access reads but cannot set.
    let viewer = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &["whatsapp_business_management"],
            &[(&w.waba_id, "VIEW")],
        )
        .await;
    assert_eq!(
        ctx.graph("GET", &phone, Some(&viewer), &[]).await.status,
        200
    );
    let r = ctx
        .graph_json(
            "POST",
            &phone,
            Some(&viewer),
            json!({"webhook_configuration": {"override_callback_uri": ""}}),
        )
        .await;
    r.assert_graph_error(200);
    // Another business's token cannot see the number.
    let other = ctx.world(true).await;
    let r = ctx.graph("GET", &phone, Some(&other.token), &[]).await;
    assert_eq!(r.body["error"]["error_subcode"], 33);
}
