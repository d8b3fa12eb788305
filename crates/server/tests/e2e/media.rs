//! Media: upload (multipart, as curl, pywa and whatsapp-api-js send it), lookup, download with
//! the token from the URL the lookup gives, delete, and the limits.

use std::sync::Arc;

use reqwest::multipart::{Form, Part};
use sha2::Digest;
use wabahook_model::clock::ManualClock;
use wabahook_server::Application;

use crate::harness::{test_config, test_dir, Ctx, Reply, World};

fn file_form(bytes: Vec<u8>, mime: &str, with_type: bool, with_product: bool) -> Form {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name("picture.png")
            .mime_str(mime)
            .unwrap(),
    );
    if with_type {
        form = form.text("type", mime.to_string());
    }
    if with_product {
        form = form.text("messaging_product", "whatsapp");
    }
    form
}

async fn upload(ctx: &Ctx, w: &World, query: &str, form: Form) -> Reply {
    let resp = ctx
        .http
        .post(format!("{}/v23.0/{}/media{query}", ctx.base, w.phone_id))
        .bearer_auth(&w.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    Ctx::reply(resp).await
}

/// Meta's SHA-256 of media, base64.
fn sha256(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// A server on a manual clock, so that download URLs can be made to expire.
async fn start_on(clock: Arc<ManualClock>) -> Ctx {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.simulator.media_max_bytes = 256 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Application::build_on(cfg, listener, clock)
        .await
        .expect("server builds")
        .spawn();
    Ctx {
        base: format!("http://{}", server.addr()),
        server: Some(server),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        dir,
    }
}

#[tokio::test]
async fn media_is_uploaded_looked_up_downloaded_and_deleted() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let ctx = start_on(clock.clone()).await;
    let w = ctx.world(true).await;
    let bytes: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();

    let r = upload(
        &ctx,
        &w,
        "",
        file_form(bytes.clone(), "image/png", true, true),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // whatsapp-api-js: messaging_product in the query, the type from the file part.
    let r = upload(
        &ctx,
        &w,
        "?messaging_product=whatsapp",
        file_form(b"%PDF-1.4".to_vec(), "application/pdf", false, false),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = ctx
        .graph("GET", &format!("/v23.0/{id}"), Some(&w.token), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["messaging_product"], "whatsapp");
    assert_eq!(r.body["mime_type"], "image/png");
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["file_size"], bytes.len().to_string());
    assert_eq!(r.body["sha256"], sha256(&bytes));
    let url = r.body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&ctx.base), "{url}");

    // With the token: the bytes and their type.
    let got = ctx
        .http
        .get(&url)
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    let body = got.bytes().await.unwrap();
    assert_eq!(sha256(&body), sha256(&bytes));
    assert_eq!(body.as_ref(), bytes.as_slice());
    // Without it, or with a wrong one: 404.
    assert_eq!(ctx.http.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(
        ctx.http
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Five minutes later the URL is dead; a new lookup gives a working one.
    clock.advance_ms(5 * 60 * 1000);
    assert_eq!(
        ctx.http
            .get(&url)
            .bearer_auth(&w.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let fresh = ctx
        .graph("GET", &format!("/v23.0/{id}"), Some(&w.token), &[])
        .await;
    let fresh_url = fresh.body["url"].as_str().unwrap().to_string();
    assert_ne!(fresh_url, url);
    assert_eq!(
        ctx.http
            .get(&fresh_url)
            .bearer_auth(&w.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Deleted: gone from lookup and download.
    ctx.graph("DELETE", &format!("/v23.0/{id}"), Some(&w.token), &[])
        .await
        .assert_success();
    assert_eq!(
        ctx.http
            .get(&fresh_url)
            .bearer_auth(&w.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    ctx.graph("GET", &format!("/v23.0/{id}"), Some(&w.token), &[])
        .await
        .assert_graph_error(100);
    ctx.graph("DELETE", &format!("/v23.0/{id}"), Some(&w.token), &[])
        .await
        .assert_graph_error(100);
    // The phone number is still the phone number.
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}", w.phone_id),
            Some(&w.token),
            &[],
        )
        .await;
    assert_eq!(r.body["id"], w.phone_id.as_str(), "{}", r.body);
}

#[tokio::test]
async fn bad_uploads_get_meta_errors() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let ctx = start_on(clock).await;
    let w = ctx.world(true).await;

    // Over `media_max_bytes` (256 KB here): Meta's upload error; far over it, the body is
    // refused before it is read whole (413).
    let r = upload(
        &ctx,
        &w,
        "",
        file_form(vec![1; 300 * 1024], "image/png", true, true),
    )
    .await;
    r.assert_graph_error(131053);
    let r = upload(
        &ctx,
        &w,
        "",
        file_form(vec![1; 400 * 1024], "image/png", true, true),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Under both limits (a sticker may be 500 KB), it is taken; per-type limits are unit-tested.
    let r = upload(
        &ctx,
        &w,
        "",
        file_form(vec![1; 200 * 1024], "image/webp", true, true),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A type Meta does not take, and a file part that says otherwise than `type`.
    let r = upload(
        &ctx,
        &w,
        "",
        file_form(vec![1; 10], "image/gif", true, true),
    )
    .await;
    r.assert_graph_error(131053);
    let form = Form::new()
        .part(
            "file",
            Part::bytes(vec![1; 10])
                .file_name("a.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text("type", "video/mp4")
        .text("messaging_product", "whatsapp");
    upload(&ctx, &w, "", form).await.assert_graph_error(131053);
    // messaging_product missing.
    let r = upload(
        &ctx,
        &w,
        "",
        file_form(vec![1; 10], "image/png", true, false),
    )
    .await;
    r.assert_graph_error(100);
    assert!(r.message().contains("messaging_product"), "{}", r.body);
    // No file.
    let form = Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png");
    upload(&ctx, &w, "", form).await.assert_graph_error(100);
    // No token.
    let resp = ctx
        .http
        .post(format!("{}/v23.0/{}/media", ctx.base, w.phone_id))
        .multipart(file_form(vec![1; 10], "image/png", true, true))
        .send()
        .await
        .unwrap();
    Ctx::reply(resp).await.assert_graph_error(104);
}
