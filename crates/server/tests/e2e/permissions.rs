//! Tokens and permissions: codes 104, 190, 100/33 and 200, and who may subscribe.

use serde_json::json;

use crate::harness::Ctx;

#[tokio::test]
async fn missing_and_invalid_tokens() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    for method in ["GET", "POST", "DELETE"] {
        let r = ctx.graph(method, &path, None, &[]).await;
        r.assert_graph_error(104);
        assert_eq!(r.body["error"]["type"], "OAuthException");
        ctx.graph(method, &path, Some("EAAWnot-a-real-token-at-all"), &[])
            .await
            .assert_graph_error(190);
    }
    // An app token with the wrong secret is invalid too.
    let bad = format!("{}|{}", w.app_id, "0".repeat(32));
    ctx.graph(
        "GET",
        &format!("/v23.0/{}/subscriptions", w.app_id),
        Some(&bad),
        &[],
    )
    .await
    .assert_graph_error(190);
    // A malformed Authorization header.
    let r = ctx
        .http
        .get(format!("{}{path}", ctx.base))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        190
    );
}

#[tokio::test]
async fn unknown_or_invisible_wabas_are_subcode_33() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let other = ctx.world(true).await;
    for waba in ["123456789012345", other.waba_id.as_str()] {
        for method in ["GET", "POST", "DELETE"] {
            let r = ctx
                .graph(
                    method,
                    &format!("/v23.0/{waba}/subscribed_apps"),
                    Some(&w.token),
                    &[],
                )
                .await;
            r.assert_graph_error(100);
            assert_eq!(r.body["error"]["error_subcode"], 33, "{}", r.body);
            assert_eq!(r.body["error"]["type"], "GraphMethodException");
            assert!(
                r.message()
                    .contains(&format!("Object with ID '{waba}' does not exist")),
                "{}",
                r.message()
            );
        }
    }
    // An app token cannot see WABAs.
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscribed_apps", w.waba_id),
            Some(&w.app_token()),
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn view_access_reads_but_cannot_change() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let viewer = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &["whatsapp_business_management"],
            &[(&w.waba_id, "VIEW")],
        )
        .await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    assert_eq!(
        ctx.graph("GET", &path, Some(&viewer), &[]).await.status,
        200
    );
    for method in ["POST", "DELETE"] {
        let r = ctx.graph(method, &path, Some(&viewer), &[]).await;
        r.assert_graph_error(200);
        assert_eq!(r.status, 403);
        assert!(
            r.message().starts_with("(#200) Permissions error"),
            "{}",
            r.message()
        );
    }
    assert_eq!(
        ctx.graph("GET", &path, Some(&viewer), &[]).await.body,
        json!({"data": []})
    );
}

#[tokio::test]
async fn management_permission_is_required() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let messaging_only = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &["whatsapp_business_messaging"],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    for method in ["GET", "POST", "DELETE"] {
        ctx.graph(method, &path, Some(&messaging_only), &[])
            .await
            .assert_graph_error(200);
    }
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}", w.phone_id),
            Some(&messaging_only),
            &[],
        )
        .await;
    r.assert_graph_error(200);
}

#[tokio::test]
async fn shared_apps_cannot_subscribe_granted_apps_can() {
    let ctx = Ctx::start().await;
    let client = ctx.world(true).await;
    // A partner business with its own app.
    let partner = ctx.create("businesses", json!({"name": "Partner"})).await;
    let partner_id = partner["id"].as_str().unwrap();
    let app = ctx
        .create(
            "apps",
            json!({"business_id": partner_id, "name": "Partner App"}),
        )
        .await;
    let app_id = app["id"].as_str().unwrap();

    // Shared with the client: the client's system user can make tokens for it, but it may not
    // subscribe to the client's WABA.
    ctx.create(
        "app_access",
        json!({"app_id": app_id, "business_id": client.business_id, "role": "SHARED"}),
    )
    .await;
    let shared = ctx
        .token(
            app_id,
            &client.business_id,
            &["whatsapp_business_management"],
            &[(&client.waba_id, "MANAGE")],
        )
        .await;
    let path = format!("/v23.0/{}/subscribed_apps", client.waba_id);
    let r = ctx.graph("POST", &path, Some(&shared), &[]).await;
    r.assert_graph_error(200);
    assert!(r.message().contains("shared"), "{}", r.message());
    assert_eq!(
        ctx.graph("GET", &path, Some(&shared), &[]).await.body,
        json!({"data": []})
    );

    // Granted by the client: now it may.
    ctx.create(
        "app_access",
        json!({"app_id": app_id, "business_id": client.business_id, "role": "GRANTED"}),
    )
    .await;
    ctx.graph("POST", &path, Some(&shared), &[])
        .await
        .assert_success();
    let r = ctx.graph("GET", &path, Some(&client.token), &[]).await;
    assert_eq!(
        r.body["data"][0]["whatsapp_business_api_data"]["name"],
        "Partner App"
    );

    // A partner token (issued by the partner's own business) may hold the client's WABA as an
    // asset once the client granted the app access.
    let partner_token = ctx
        .token(
            app_id,
            partner_id,
            &["whatsapp_business_management"],
            &[(&client.waba_id, "MANAGE")],
        )
        .await;
    ctx.graph("DELETE", &path, Some(&partner_token), &[])
        .await
        .assert_success();
}

#[tokio::test]
async fn app_subscriptions_need_the_apps_own_token() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let other = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    ctx.graph("GET", &path, None, &[])
        .await
        .assert_graph_error(104);
    ctx.graph("GET", &path, Some(&w.token), &[])
        .await
        .assert_graph_error(200);
    let r = ctx.graph("GET", &path, Some(&other.app_token()), &[]).await;
    r.assert_graph_error(100);
    assert_eq!(r.body["error"]["error_subcode"], 33);
    let r = ctx
        .graph(
            "GET",
            "/v23.0/123456789012345/subscriptions",
            Some(&w.app_token()),
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn oauth_client_credentials() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let r = ctx
        .graph(
            "GET",
            "/v23.0/oauth/access_token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &w.app_id),
                ("client_secret", &w.app_secret),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"access_token": w.app_token(), "token_type": "bearer"})
    );
    // The issued token works on the app's subscriptions.
    let token = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        ctx.graph(
            "GET",
            &format!("/v23.0/{}/subscriptions", w.app_id),
            Some(&token),
            &[]
        )
        .await
        .status,
        200
    );

    let r = ctx
        .graph(
            "GET",
            "/v23.0/oauth/access_token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &w.app_id),
                ("client_secret", "nope"),
            ],
        )
        .await;
    r.assert_graph_error(1);
    assert_eq!(r.message(), "Error validating client secret.");
    let r = ctx
        .graph(
            "GET",
            "/v23.0/oauth/access_token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "123456789012345"),
                ("client_secret", "x"),
            ],
        )
        .await;
    r.assert_graph_error(101);
    ctx.graph(
        "GET",
        "/v23.0/oauth/access_token",
        None,
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_graph_error(101);
    let r = ctx
        .graph(
            "GET",
            "/v23.0/oauth/access_token",
            None,
            &[
                ("grant_type", "password"),
                ("client_id", &w.app_id),
                ("client_secret", &w.app_secret),
            ],
        )
        .await;
    r.assert_graph_error(100);
}

/// Where a test puts the `access_token` parameter.
#[derive(Debug, Clone, Copy)]
enum ParamIn {
    Query,
    Form,
    Multipart,
    Json,
}

/// Sends `method path` with `header` as `Authorization: Bearer` and `param` as the
/// `access_token` parameter in `place`.
async fn call_with(
    ctx: &Ctx,
    method: &str,
    path: &str,
    header: Option<&str>,
    param: Option<(&str, ParamIn)>,
) -> crate::harness::Reply {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = ctx.http.request(m, format!("{}{path}", ctx.base));
    if let Some(h) = header {
        req = req.bearer_auth(h);
    }
    req = match param {
        None => req,
        Some((t, ParamIn::Query)) => req.query(&[("access_token", t)]),
        Some((t, ParamIn::Form)) => req.form(&[("access_token", t)]),
        Some((t, ParamIn::Multipart)) => {
            req.multipart(reqwest::multipart::Form::new().text("access_token", t.to_string()))
        }
        Some((t, ParamIn::Json)) => req.json(&json!({"access_token": t})),
    };
    Ctx::reply(req.send().await.unwrap()).await
}

#[tokio::test]
async fn an_access_token_parameter_wins_over_the_header() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let app = w.app_token();
    let bad_app = format!("{}|{}", w.app_id, "0".repeat(32));
    // (method, path, the token the route wants, a token of the other kind)
    let routes = [
        (
            "GET",
            format!("/v23.0/{}/subscribed_apps", w.waba_id),
            w.token.clone(),
            app.clone(),
        ),
        (
            "GET",
            format!("/v23.0/{}/subscriptions", w.app_id),
            app.clone(),
            w.token.clone(),
        ),
        (
            "GET",
            format!("/v23.0/{}", w.phone_id),
            w.token.clone(),
            app.clone(),
        ),
    ];
    let places = [
        ParamIn::Query,
        ParamIn::Form,
        ParamIn::Multipart,
        ParamIn::Json,
    ];
    for (method, path, right, wrong) in &routes {
        // The header alone.
        let r = call_with(&ctx, method, path, Some(right), None).await;
        assert_eq!(r.status, 200, "{method} {path} header only: {}", r.body);
        // The header of the wrong kind alone fails.
        let r = call_with(&ctx, method, path, Some(wrong), None).await;
        assert!(r.status >= 400, "{method} {path} wrong header: {}", r.body);
        for place in places {
            // The parameter alone.
            let r = call_with(&ctx, method, path, None, Some((right, place))).await;
            assert_eq!(r.status, 200, "{method} {path} {place:?} only: {}", r.body);
            // Both: the parameter wins over a header holding the other kind of token.
            let r = call_with(&ctx, method, path, Some(wrong), Some((right, place))).await;
            assert_eq!(r.status, 200, "{method} {path} {place:?} both: {}", r.body);
            // A bad parameter with a good header fails as the parameter's failure.
            for bad in ["EAAWnot-a-real-token-at-all", bad_app.as_str()] {
                call_with(&ctx, method, path, Some(right), Some((bad, place)))
                    .await
                    .assert_graph_error(190);
            }
        }
    }
    // The pywa case: a system-user token in the session's header, the app token as the
    // parameter of `POST /{app-id}/subscriptions`.
    let receiver = crate::harness::Receiver::start().await;
    let r = ctx
        .http
        .post(format!("{}/v23.0/{}/subscriptions", ctx.base, w.app_id))
        .bearer_auth(&w.token)
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", receiver.url("/hook/pywa").as_str()),
            ("verify_token", crate::harness::VERIFY_TOKEN),
            ("fields", "messages"),
            ("access_token", app.as_str()),
        ])
        .send()
        .await
        .unwrap();
    Ctx::reply(r).await.assert_success();
    // And the other way round: the app token in the header does not stop a system-user
    // token parameter from subscribing the app to its WABA.
    let r = ctx
        .http
        .post(format!("{}/v23.0/{}/subscribed_apps", ctx.base, w.waba_id))
        .bearer_auth(&app)
        .query(&[("access_token", w.token.as_str())])
        .send()
        .await
        .unwrap();
    Ctx::reply(r).await.assert_success();
}
