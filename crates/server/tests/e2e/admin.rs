//! The admin API: creation and reading of every resource, its auth and its errors.

use serde_json::json;

use crate::harness::{Ctx, ADMIN};

#[tokio::test]
async fn create_and_read_every_resource() {
    let ctx = Ctx::start().await;
    let b = ctx.create("businesses", json!({"name": "Acme"})).await;
    let bid = b["id"].as_str().unwrap();
    assert!(wabahook_model::ids::is_graph_id(bid), "{b}");
    assert_eq!(
        ctx.admin_get(&format!("businesses/{bid}")).await.body["name"],
        "Acme"
    );

    let waba = ctx
        .create("wabas", json!({"business_id": bid, "name": "Support"}))
        .await;
    let wid = waba["id"].as_str().unwrap();
    let phone = ctx
        .create("phone_numbers", json!({"waba_id": wid, "display_phone_number": "15551234567", "verified_name": "Acme", "registered": false}))
        .await;
    assert_eq!(phone["registered"], false);
    let app = ctx
        .create(
            "apps",
            json!({"business_id": bid, "name": "Hooks", "link": "https://acme.example/app"}),
        )
        .await;
    let aid = app["id"].as_str().unwrap();
    let secret = app["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    let token = ctx
        .create("tokens", json!({"app_id": aid, "business_id": bid, "permissions": ["whatsapp_business_management"], "assets": [{"waba_id": wid, "access": "MANAGE"}]}))
        .await;
    let access_token = token["access_token"].as_str().unwrap();
    assert!(access_token.starts_with("EAA"), "{token}");

    // Reads never show secrets or token strings again.
    let r = ctx.admin_get(&format!("apps/{aid}")).await;
    assert_eq!(r.body["link"], "https://acme.example/app");
    assert!(r.body.get("secret").is_none(), "{}", r.body);
    let r = ctx
        .admin_get(&format!("tokens/{}", token["id"].as_str().unwrap()))
        .await;
    assert!(
        r.body.get("access_token").is_none() && r.body.get("token_hash").is_none(),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["assets"],
        json!([{"waba_id": wid, "access": "MANAGE"}])
    );
    assert_eq!(
        ctx.admin_get(&format!("phone_numbers?waba_id={wid}"))
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for kind in ["businesses", "wabas", "phone_numbers", "apps", "tokens"] {
        assert_eq!(
            ctx.admin_get(kind).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "{kind}"
        );
    }

    // The token made through the admin API works on Graph.
    ctx.graph(
        "POST",
        &format!("/v23.0/{wid}/subscribed_apps"),
        Some(access_token),
        &[],
    )
    .await
    .assert_success();
    // Fixed ids are accepted; using one twice is a conflict.
    ctx.create(
        "businesses",
        json!({"id": "111111111111111", "name": "Fixed"}),
    )
    .await;
    let r = ctx
        .admin_post(
            "businesses",
            json!({"id": "111111111111111", "name": "Again"}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "conflict");
}

#[tokio::test]
async fn admin_errors_and_auth() {
    let ctx = Ctx::start().await;
    let url = format!("{}/admin/v1/businesses", ctx.base);
    let r = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    let r = ctx
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let b = ctx.create("businesses", json!({"name": "Acme"})).await;
    let bid = b["id"].as_str().unwrap();
    let cases = [
        ("businesses", json!({})),
        ("businesses", json!({"name": ""})),
        ("businesses", json!({"name": 5})),
        ("businesses", json!({"name": "x", "extra": true})),
        ("businesses", json!({"name": "a".repeat(257)})),
        ("businesses", json!({"id": "007", "name": "x"})),
        (
            "wabas",
            json!({"business_id": "123456789012345", "name": "x"}),
        ),
        (
            "phone_numbers",
            json!({"waba_id": "123456789012345", "display_phone_number": "1555", "verified_name": "x"}),
        ),
        (
            "apps",
            json!({"business_id": bid, "name": "x", "secret": "has|pipe-in-it"}),
        ),
        (
            "apps",
            json!({"business_id": bid, "name": "x", "link": "javascript:alert(1)"}),
        ),
        (
            "tokens",
            json!({"app_id": "123456789012345", "business_id": bid, "permissions": ["x"]}),
        ),
        (
            "app_access",
            json!({"app_id": "123456789012345", "business_id": bid, "role": "OWNER"}),
        ),
    ];
    for (path, body) in cases {
        let r = ctx.admin_post(path, body.clone()).await;
        assert_eq!(r.status, 400, "{path} {body} → {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request");
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let waba = ctx
        .create("wabas", json!({"business_id": bid, "name": "W"}))
        .await;
    let app = ctx
        .create("apps", json!({"business_id": bid, "name": "A"}))
        .await;
    let aid = app["id"].as_str().unwrap();
    for body in [
        json!({"app_id": aid, "business_id": bid, "permissions": []}),
        json!({"app_id": aid, "business_id": bid, "permissions": ["whatsapp_business_management"], "assets": [{"waba_id": waba["id"], "access": "OWN"}]}),
        json!({"app_id": aid, "business_id": bid, "permissions": ["Bad Perm"]}),
    ] {
        let r = ctx.admin_post("tokens", body.clone()).await;
        assert_eq!(r.status, 400, "{body} → {}", r.body);
    }
    // A WABA of another business cannot be a token's asset without a grant.
    let other = ctx.create("businesses", json!({"name": "Other"})).await;
    let other_waba = ctx
        .create("wabas", json!({"business_id": other["id"], "name": "OW"}))
        .await;
    let r = ctx
        .admin_post("tokens", json!({"app_id": aid, "business_id": bid, "permissions": ["whatsapp_business_management"], "assets": [{"waba_id": other_waba["id"], "access": "MANAGE"}]}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = ctx
        .http
        .post(&url)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ctx
        .http
        .post(&url)
        .bearer_auth(ADMIN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ctx
        .http
        .post(&url)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );

    let r = ctx.admin_get("businesses/123456789012345").await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = ctx.admin_get("nothing-here").await;
    assert_eq!(r.status, 404);
    let r = ctx
        .http
        .delete(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // None of the failures wrote anything.
    for (kind, n) in [
        ("businesses", 2),
        ("wabas", 2),
        ("apps", 1),
        ("tokens", 0),
        ("phone_numbers", 0),
        ("app_access", 0),
    ] {
        assert_eq!(
            ctx.admin_get(kind).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            n,
            "{kind}"
        );
    }
}
