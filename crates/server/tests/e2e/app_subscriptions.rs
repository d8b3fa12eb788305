//! `/{app-id}/subscriptions`: the app's callback URL, its handshake and its fields.

use serde_json::json;

use crate::harness::{Ctx, Receiver, VERIFY_TOKEN};

#[tokio::test]
async fn subscribe_with_form_fields_then_add_and_remove() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    let app = w.app_token();
    let url = rx.url("/hook/app");

    let r = ctx.graph("GET", &path, Some(&app), &[]).await;
    assert_eq!(r.body, json!({"data": []}));

    ctx.graph(
        "POST",
        &path,
        Some(&app),
        &[
            ("object", "whatsapp_business_account"),
            ("callback_url", &url),
            ("verify_token", VERIFY_TOKEN),
            ("fields", "messages,message_template_status_update"),
            ("include_values", "true"),
        ],
    )
    .await
    .assert_success();
    assert_eq!(rx.handshakes().len(), 1);

    let r = ctx.graph("GET", &path, Some(&app), &[]).await;
    assert_eq!(
        r.body,
        json!({"data": [{
            "object": "whatsapp_business_account",
            "callback_url": url,
            "active": true,
            "include_client_certificate": false,
            "fields": [
                {"name": "message_template_status_update", "version": "v23.0"},
                {"name": "messages", "version": "v23.0"},
            ],
        }]})
    );

    // Fields are added to those subscribed, under the version of the call; the same URL and
    // token need no new handshake. A JSON array works as well as a comma list.
    ctx.graph_json(
        "POST",
        &format!("/v25.0/{}/subscriptions", w.app_id),
        Some(&app),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN,
               "fields": ["security", "messages", "some_future_field"]}),
    )
    .await
    .assert_success();
    assert_eq!(
        rx.handshakes().len(),
        1,
        "unchanged URL and token: no handshake"
    );
    let r = ctx.graph("GET", &path, Some(&app), &[]).await;
    let fields = &r.body["data"][0]["fields"];
    assert_eq!(
        fields,
        &json!([
            {"name": "message_template_status_update", "version": "v23.0"},
            {"name": "messages", "version": "v25.0"},
            {"name": "security", "version": "v25.0"},
            {"name": "some_future_field", "version": "v25.0"},
        ])
    );

    // Removing some fields, then the whole object.
    ctx.graph(
        "DELETE",
        &path,
        Some(&app),
        &[
            ("object", "whatsapp_business_account"),
            ("fields", "security,messages"),
        ],
    )
    .await
    .assert_success();
    let r = ctx.graph("GET", &path, Some(&app), &[]).await;
    let names: Vec<&str> = r.body["data"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["message_template_status_update", "some_future_field"]
    );

    ctx.graph(
        "DELETE",
        &path,
        Some(&app),
        &[("object", "whatsapp_business_account")],
    )
    .await
    .assert_success();
    assert_eq!(
        ctx.graph("GET", &path, Some(&app), &[]).await.body,
        json!({"data": []})
    );
}

#[tokio::test]
async fn multipart_form_as_curl_dash_f_sends() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let form = reqwest::multipart::Form::new()
        .text("object", "whatsapp_business_account")
        .text("callback_url", rx.url("/hook"))
        .text("fields", "account_update")
        .text("verify_token", VERIFY_TOKEN)
        .text("access_token", w.app_token());
    let r = ctx
        .http
        .post(format!("{}/{}/subscriptions", ctx.base, w.app_id))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unversioned paths use the newest accepted version.
    let r = ctx
        .graph(
            "GET",
            &format!("/{}/subscriptions", w.app_id),
            Some(&w.app_token()),
            &[],
        )
        .await;
    assert_eq!(
        r.body["data"][0]["fields"],
        json!([{"name": "account_update", "version": "v26.0"}])
    );
}

#[tokio::test]
async fn changed_url_or_token_is_verified_first() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    let app = w.app_token();
    let first = rx.url("/hook/one");
    let sub = |url: String, token: &'static str| {
        let ctx = &ctx;
        let (path, app) = (path.clone(), app.clone());
        async move {
            ctx.graph_json(
                "POST",
                &path,
                Some(&app),
                json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": token, "fields": "messages"}),
            )
            .await
        }
    };
    sub(first.clone(), VERIFY_TOKEN).await.assert_success();

    sub(rx.url("/notfound"), VERIFY_TOKEN)
        .await
        .assert_graph_error(2200);
    sub(rx.url("/wrong"), VERIFY_TOKEN)
        .await
        .assert_graph_error(2201);
    sub(rx.url("/slow"), VERIFY_TOKEN)
        .await
        .assert_graph_error(2200);
    // Same URL, new token that the endpoint rejects.
    sub(first.clone(), "another-token")
        .await
        .assert_graph_error(2200);

    let r = ctx.graph("GET", &path, Some(&app), &[]).await;
    assert_eq!(r.body["data"][0]["callback_url"], json!(first));
    assert_eq!(
        r.body["data"][0]["fields"],
        json!([{"name": "messages", "version": "v23.0"}])
    );

    // A failed first subscription stores nothing at all.
    let other = ctx.world(true).await;
    let r = ctx
        .graph_json(
            "POST",
            &format!("/v23.0/{}/subscriptions", other.app_id),
            Some(&other.app_token()),
            json!({"object": "whatsapp_business_account", "callback_url": rx.url("/notfound"), "verify_token": VERIFY_TOKEN, "fields": "messages"}),
        )
        .await;
    r.assert_graph_error(2200);
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscriptions", other.app_id),
            Some(&other.app_token()),
            &[],
        )
        .await;
    assert_eq!(r.body, json!({"data": []}));
}

#[tokio::test]
async fn parameters_are_checked() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    let app = w.app_token();
    let url = rx.url("/hook");
    let cases = [
        json!({"callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "messages"}),
        json!({"object": "page", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "messages"}),
        json!({"object": "whatsapp_business_account", "verify_token": VERIFY_TOKEN, "fields": "messages"}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "fields": "messages"}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": ""}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": [1, 2]}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "Bad Field"}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "messages", "include_values": "maybe"}),
        json!({"object": "whatsapp_business_account", "callback_url": "mailto:x@y.z", "verify_token": VERIFY_TOKEN, "fields": "messages"}),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": "", "fields": "messages"}),
    ];
    for body in cases {
        let r = ctx
            .graph_json("POST", &path, Some(&app), body.clone())
            .await;
        assert_eq!(r.code(), 100, "{body} → {}", r.body);
    }
    assert!(rx.handshakes().is_empty(), "no handshake for a bad request");
    assert_eq!(
        ctx.graph("GET", &path, Some(&app), &[]).await.body,
        json!({"data": []})
    );
    let r = ctx
        .graph("DELETE", &path, Some(&app), &[("object", "user")])
        .await;
    r.assert_graph_error(100);
}

#[tokio::test]
async fn client_certificate_flag_is_kept() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    ctx.graph_json(
        "POST",
        &path,
        Some(&w.app_token()),
        json!({"object": "whatsapp_business_account", "callback_url": rx.url("/hook"), "verify_token": VERIFY_TOKEN,
               "fields": "messages", "include_client_certificate": true, "include_values": false}),
    )
    .await
    .assert_success();
    let clock = std::sync::Arc::new(wabahook_model::clock::SystemClock);
    let store = wabahook_store::open(&ctx.dir.store_url(), clock)
        .await
        .unwrap();
    let sub = store.app_subscription(&w.app_id).await.unwrap().unwrap();
    assert!(sub.include_client_certificate);
    assert!(!sub.include_values);
    assert!(sub.verified);
    // Adding a field later keeps both flags.
    ctx.graph_json(
        "POST",
        &path,
        Some(&w.app_token()),
        json!({"object": "whatsapp_business_account", "fields": "security"}),
    )
    .await
    .assert_success();
    let sub = store.app_subscription(&w.app_id).await.unwrap().unwrap();
    assert!(sub.include_client_certificate && !sub.include_values);
    assert_eq!(sub.fields.len(), 2);
}
