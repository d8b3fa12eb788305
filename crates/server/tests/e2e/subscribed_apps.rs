//! `/{waba-id}/subscribed_apps`: POST, GET, DELETE, the WABA override and its handshake.

use serde_json::json;

use crate::harness::{Ctx, Receiver, VERIFY_TOKEN};

#[tokio::test]
async fn subscribe_list_unsubscribe() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);

    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"data": []}));

    ctx.graph("POST", &path, Some(&w.token), &[])
        .await
        .assert_success();
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(
        r.body,
        json!({"data": [{"whatsapp_business_api_data": {
            "id": w.app_id,
            "name": "Acme Hooks",
            "link": format!("https://www.facebook.com/games/?app_id={}", w.app_id),
        }}]})
    );

    // Subscribing twice is harmless.
    ctx.graph("POST", &path, Some(&w.token), &[])
        .await
        .assert_success();
    assert_eq!(
        ctx.graph("GET", &path, Some(&w.token), &[]).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    ctx.graph("DELETE", &path, Some(&w.token), &[])
        .await
        .assert_success();
    assert_eq!(
        ctx.graph("GET", &path, Some(&w.token), &[]).await.body,
        json!({"data": []})
    );
}

#[tokio::test]
async fn token_as_access_token_parameter_and_method_override() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v25.0/{}/subscribed_apps", w.waba_id);
    ctx.graph("POST", &path, None, &[("access_token", &w.token)])
        .await
        .assert_success();
    let r = ctx
        .graph("GET", &path, None, &[("access_token", &w.token)])
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    // Graph's `method=delete` on a GET.
    ctx.graph(
        "GET",
        &path,
        None,
        &[("access_token", &w.token), ("method", "delete")],
    )
    .await
    .assert_success();
    let r = ctx
        .graph("GET", &path, None, &[("access_token", &w.token)])
        .await;
    assert_eq!(r.body["data"], json!([]));
}

#[tokio::test]
async fn waba_override_is_verified_stored_and_removed() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    let uri = rx.url("/hook/waba");

    let r = ctx
        .graph_json(
            "POST",
            &path,
            Some(&w.token),
            json!({"override_callback_uri": uri, "verify_token": VERIFY_TOKEN}),
        )
        .await;
    r.assert_success();
    let hs = rx.handshakes();
    assert_eq!(hs.len(), 1);
    assert_eq!(hs[0]["hub.mode"], "subscribe");
    assert_eq!(hs[0]["hub.verify_token"], VERIFY_TOKEN);
    assert!(hs[0]["hub.challenge"].parse::<u64>().is_ok(), "{:?}", hs[0]);

    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.body["data"][0]["override_callback_uri"], json!(uri));

    // A plain POST removes the override but keeps the subscription.
    ctx.graph("POST", &path, Some(&w.token), &[])
        .await
        .assert_success();
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert!(
        r.body["data"][0].get("override_callback_uri").is_none(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn failed_handshakes_change_nothing() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    let post = |uri: String, token: &'static str| {
        let ctx = &ctx;
        let path = path.clone();
        let t = w.token.clone();
        async move {
            ctx.graph_json(
                "POST",
                &path,
                Some(&t),
                json!({"override_callback_uri": uri, "verify_token": token}),
            )
            .await
        }
    };

    let r = post(rx.url("/notfound"), VERIFY_TOKEN).await;
    r.assert_graph_error(2200);
    assert_eq!(
        r.message(),
        "(#2200) Callback verification failed with the following errors: HTTP Status Code = 404; HTTP Message = Not Found"
    );

    let r = post(rx.url("/hook"), "wrong-token").await;
    r.assert_graph_error(2200);
    assert!(
        r.message().contains("HTTP Status Code = 403"),
        "{}",
        r.message()
    );

    let r = post(rx.url("/wrong"), VERIFY_TOKEN).await;
    r.assert_graph_error(2201);
    assert!(
        r.message().contains("received=\"not-the-challenge\""),
        "{}",
        r.message()
    );

    let r = post(rx.url("/slow"), VERIFY_TOKEN).await;
    r.assert_graph_error(2200);
    assert!(r.message().contains("curl_errno = 28"), "{}", r.message());

    // Redirects are not followed.
    let r = post(rx.url("/redirect"), VERIFY_TOKEN).await;
    r.assert_graph_error(2200);
    assert!(
        r.message().contains("HTTP Status Code = 307"),
        "{}",
        r.message()
    );

    // Nothing listens on port 9 of loopback: connection refused.
    let r = post("http://127.0.0.1:9/hook".into(), VERIFY_TOKEN).await;
    r.assert_graph_error(2200);
    assert!(r.message().contains("curl_errno = 7"), "{}", r.message());

    // None of these subscribed the app.
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.body, json!({"data": []}));

    // With a subscription and an override in place, a failing new override keeps the old one.
    let good = rx.url("/hook/good");
    post(good.clone(), VERIFY_TOKEN).await.assert_success();
    post(rx.url("/notfound"), VERIFY_TOKEN)
        .await
        .assert_graph_error(2200);
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.body["data"][0]["override_callback_uri"], json!(good));
}

#[tokio::test]
async fn override_parameters_are_checked() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);

    let base = rx.url("/hook/");
    let long = format!("{base}{}", "a".repeat(201 - base.len()));
    assert_eq!(long.len(), 201);
    let r = ctx
        .graph_json(
            "POST",
            &path,
            Some(&w.token),
            json!({"override_callback_uri": long, "verify_token": VERIFY_TOKEN}),
        )
        .await;
    r.assert_graph_error(100);
    assert!(r.message().contains("at most 200"), "{}", r.message());
    // Exactly 200 characters is fine.
    let ok = &long[..200];
    ctx.graph_json(
        "POST",
        &path,
        Some(&w.token),
        json!({"override_callback_uri": ok, "verify_token": VERIFY_TOKEN}),
    )
    .await
    .assert_success();

    let r = ctx
        .graph_json(
            "POST",
            &path,
            Some(&w.token),
            json!({"override_callback_uri": rx.url("/hook")}),
        )
        .await;
    r.assert_graph_error(100);
    assert!(r.message().contains("verify_token"), "{}", r.message());

    for bad in ["not a url", "ftp://example.com/x", "/relative"] {
        let r = ctx
            .graph_json(
                "POST",
                &path,
                Some(&w.token),
                json!({"override_callback_uri": bad, "verify_token": "x"}),
            )
            .await;
        r.assert_graph_error(100);
    }
    let r = ctx
        .graph_json(
            "POST",
            &path,
            Some(&w.token),
            json!({"override_callback_uri": 12, "verify_token": {"a": 1}}),
        )
        .await;
    r.assert_graph_error(100);

    // The 200-character override from above is still the one in force.
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.body["data"][0]["override_callback_uri"], json!(ok));
}
