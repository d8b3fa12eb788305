//! Bad input on the Graph API: every request gets a Graph error, none changes anything, none
//! crashes the server.

use serde_json::json;

use crate::harness::Ctx;

#[tokio::test]
async fn malformed_bodies_versions_paths_and_sizes() {
    let ctx = Ctx::start_with(|c| c.graph.max_body_bytes = 4096).await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    let send = |body: &'static [u8], ct: &'static str| {
        let ctx = &ctx;
        let url = format!("{}{path}", ctx.base);
        let token = w.token.clone();
        async move {
            let r = ctx
                .http
                .post(url)
                .bearer_auth(token)
                .header("content-type", ct)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    for (body, ct) in [
        (&b"{not json"[..], "application/json"),
        (b"[1,2,3]", "application/json"),
        (b"\"just a string\"", "application/json"),
        (b"\xff\xfe", "application/json"),
        (
            b"override_callback_uri=not%20a%20url&verify_token=t",
            "application/x-www-form-urlencoded",
        ),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    ] {
        let (status, v) = send(body, ct).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], 100, "{v}");
    }

    // Too large: 413 in Graph's envelope.
    let big = vec![b'a'; 10_000];
    let r = ctx
        .http
        .post(format!("{}{path}", ctx.base))
        .bearer_auth(&w.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{v}"
    );

    // Versions.
    for v in ["v18.0", "v27.0", "v23.1", "v99999999999.0", "v2x.0"] {
        let r = ctx
            .graph(
                "GET",
                &format!("/{v}/{}/subscribed_apps", w.waba_id),
                Some(&w.token),
                &[],
            )
            .await;
        r.assert_graph_error(100);
        assert!(r.message().contains("version"), "{v}: {}", r.message());
    }

    // Unknown paths and methods.
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscribed_appz", w.waba_id),
            Some(&w.token),
            &[],
        )
        .await;
    r.assert_graph_error(2500);
    assert_eq!(r.message(), "Unknown path components: /subscribed_appz");
    ctx.graph("GET", "/v23.0/a/b/c", Some(&w.token), &[])
        .await
        .assert_graph_error(2500);
    ctx.graph("GET", "/v23.0", Some(&w.token), &[])
        .await
        .assert_graph_error(2500);
    let r = ctx.graph("PUT", &path, Some(&w.token), &[]).await;
    r.assert_graph_error(100);
    assert!(
        r.message().starts_with("Unsupported put request."),
        "{}",
        r.message()
    );
    let r = ctx
        .graph("GET", "/v23.0/not-an-id", Some(&w.token), &[])
        .await;
    assert_eq!(r.body["error"]["error_subcode"], 33);
    ctx.graph("GET", &path, Some(&w.token), &[("method", "patch")])
        .await
        .assert_graph_error(100);

    // An absurd token is refused, not looked up.
    let long = "x".repeat(5000);
    ctx.graph("GET", &path, Some(&long), &[])
        .await
        .assert_graph_error(190);

    // Nothing above subscribed anything, and the server still answers.
    assert_eq!(
        ctx.graph("GET", &path, Some(&w.token), &[]).await.body,
        json!({"data": []})
    );
    assert_eq!(
        ctx.http
            .get(format!("{}/healthz", ctx.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn random_bytes_never_crash_the_server() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let paths = [
        format!("/v23.0/{}/subscribed_apps", w.waba_id),
        format!("/v23.0/{}/subscriptions", w.app_id),
        format!("/v23.0/{}", w.phone_id),
        "/v23.0/oauth/access_token".to_string(),
    ];
    // A deterministic xorshift stream: the same bytes every run, so failures reproduce.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..200 {
        let len = (next() % 300) as usize;
        let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let ct = [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
        ][i % 3];
        let path = &paths[i % paths.len()];
        let token = if i % 2 == 0 {
            w.token.clone()
        } else {
            w.app_token()
        };
        let r = ctx
            .http
            .post(format!("{}{path}", ctx.base))
            .bearer_auth(token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.expect("always JSON");
        assert!(status < 500, "{status} {v}");
        if status != 200 {
            assert!(v["error"]["code"].is_i64(), "{v}");
        }
    }
    assert_eq!(
        ctx.graph("GET", &paths[0], Some(&w.token), &[])
            .await
            .status,
        200
    );
}

/// Python's standard library sends the whole body before it reads the answer; a server that
/// answered and closed early would leave it with a broken pipe instead of the 413.
#[tokio::test]
async fn an_oversized_body_is_answered_413_to_pythons_urllib() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let script = r#"
import json, sys, urllib.request, urllib.error
url, token = sys.argv[1], sys.argv[2]
body = b"a=" + b"x" * (32 * 1024 * 1024)
req = urllib.request.Request(url, data=body, method="POST", headers={
    "Authorization": "Bearer " + token, "Content-Type": sys.argv[3]})
try:
    urllib.request.urlopen(req, timeout=30)
    print(json.dumps({"status": 200}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": json.loads(e.read())}))
"#;
    for (path, token, content_type) in [
        (
            format!("/v23.0/{}/subscribed_apps", w.waba_id),
            w.token.clone(),
            "application/x-www-form-urlencoded",
        ),
        (
            "/admin/v1/businesses".to_string(),
            crate::harness::ADMIN.to_string(),
            "application/json",
        ),
    ] {
        let out = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(format!("{}{path}", ctx.base))
            .arg(&token)
            .arg(content_type)
            .output()
            .await
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], 413, "{path}: {v}");
        let message = if path.starts_with("/admin") {
            assert_eq!(v["body"]["error"]["code"], "payload_too_large", "{v}");
            v["body"]["error"]["message"].as_str().unwrap().to_string()
        } else {
            assert_eq!(v["body"]["error"]["type"], "OAuthException", "{v}");
            v["body"]["error"]["message"].as_str().unwrap().to_string()
        };
        assert!(message.contains("larger than"), "{v}");
    }
}

/// A NUL or an overlong id is refused at the edge with the API's own 400, the same on every
/// store (PostgreSQL cannot keep a NUL in text, SQLite can), and changes nothing.
#[tokio::test]
async fn nul_characters_and_overlong_ids_are_400_on_every_store() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let long = "1".repeat(300);

    // Graph: object ids in the path.
    for id in [format!("{}%00", w.waba_id), long.clone(), "abc".into()] {
        let r = ctx
            .graph(
                "GET",
                &format!("/v23.0/{id}/subscribed_apps"),
                Some(&w.token),
                &[],
            )
            .await;
        r.assert_graph_error(100);
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["error"]["error_subcode"], 33, "{}", r.body);
    }
    // Graph: parameters, as a form and as JSON.
    let path = format!("/v23.0/{}/subscriptions", w.app_id);
    let r = ctx
        .graph(
            "POST",
            &path,
            Some(&w.app_token()),
            &[
                ("object", "whatsapp_business_account"),
                ("callback_url", "http://127.0.0.1:9/x"),
                ("verify_token", "a\0b"),
                ("fields", "messages"),
            ],
        )
        .await;
    r.assert_graph_error(100);
    assert!(r.message().contains("NUL"), "{}", r.body);
    let r = ctx
        .graph_json(
            "POST",
            &path,
            Some(&w.app_token()),
            json!({"object": "whatsapp_business_account", "callback_url": "http://127.0.0.1:9/x",
                   "verify_token": "t", "fields": ["messages\u{0}"]}),
        )
        .await;
    r.assert_graph_error(100);

    // Admin: ids in the path, in queries and in bodies.
    let before = ctx.admin_get("wabas").await.body["data"]
        .as_array()
        .unwrap()
        .len();
    for path in [
        "events/%00".to_string(),
        format!("events/{long}"),
        format!("businesses/{}%00", w.business_id),
        format!("wabas/{long}"),
        "deliveries?app_id=%00".into(),
        format!("deliveries?event_id={long}"),
        "phone_numbers?waba_id=%00".into(),
    ] {
        let r = ctx.admin_get(&path).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {}",
            r.body
        );
    }
    for (path, body) in [
        (
            "wabas",
            json!({"business_id": format!("{}\u{0}", w.business_id), "name": "x"}),
        ),
        ("wabas", json!({"business_id": long, "name": "x"})),
        (
            "wabas",
            json!({"business_id": w.business_id, "name": "x\u{0}"}),
        ),
        (
            "events",
            json!({"waba_id": format!("{}\u{0}", w.waba_id), "field": "account_update", "value": {}}),
        ),
        ("replay", json!({"event_id": "\u{0}"})),
        ("replay", json!({"app_id": long})),
    ] {
        let r = ctx.admin_post(path, body.clone()).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path} {body}: {}",
            r.body
        );
    }
    let after = ctx.admin_get("wabas").await.body["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was created");
}
