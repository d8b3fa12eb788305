//! Business Use Case rate limits on subscribed_apps: per (app, WABA), 200/hour or 5,000/hour
//! with a registered number, the usage header on every response, code 80008 when over.

use crate::harness::Ctx;

#[tokio::test]
async fn limit_trips_at_the_configured_count() {
    let ctx = Ctx::start_with(|c| {
        c.rate_limit.per_hour = 4;
        c.rate_limit.per_hour_registered = 1000;
    })
    .await;
    let w = ctx.world(false).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    let methods = ["GET", "POST", "GET", "DELETE"];
    for (i, method) in methods.iter().enumerate() {
        let r = ctx.graph(method, &path, Some(&w.token), &[]).await;
        assert_eq!(r.status, 200, "call {i}: {}", r.body);
        let usage = r.usage().expect("usage header");
        let entry = &usage[&w.waba_id][0];
        assert_eq!(entry["type"], "whatsapp_business_management");
        assert_eq!(entry["call_count"], (i as i64 + 1) * 25);
        for key in [
            "total_cputime",
            "total_time",
            "estimated_time_to_regain_access",
        ] {
            assert!(entry[key].is_i64(), "{key} in {usage}");
        }
    }
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    r.assert_graph_error(80008);
    assert_eq!(
        r.message(),
        "(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
    );
    let usage = r.usage().expect("usage header on the error too");
    assert_eq!(usage[&w.waba_id][0]["call_count"], 100);
    let regain = usage[&w.waba_id][0]["estimated_time_to_regain_access"]
        .as_i64()
        .unwrap();
    assert!((1..=60).contains(&regain), "{usage}");

    // Another app on the same WABA has its own count.
    let other_app = ctx
        .create(
            "apps",
            serde_json::json!({"business_id": w.business_id, "name": "Second"}),
        )
        .await;
    let other_token = ctx
        .token(
            other_app["id"].as_str().unwrap(),
            &w.business_id,
            &["whatsapp_business_management"],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    let r = ctx.graph("GET", &path, Some(&other_token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.usage().unwrap()[&w.waba_id][0]["call_count"], 25);
}

#[tokio::test]
async fn registered_numbers_get_the_higher_limit() {
    let ctx = Ctx::start_with(|c| {
        c.rate_limit.per_hour = 2;
        c.rate_limit.per_hour_registered = 5;
    })
    .await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    for i in 1..=5 {
        let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
        assert_eq!(r.status, 200, "call {i}");
        assert_eq!(r.usage().unwrap()[&w.waba_id][0]["call_count"], i * 20);
    }
    ctx.graph("GET", &path, Some(&w.token), &[])
        .await
        .assert_graph_error(80008);
}

#[tokio::test]
async fn default_limits_and_switching_off() {
    let ctx = Ctx::start().await;
    let w = ctx.world(false).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    // 1 of 200 calls, rounded up to a whole percent.
    assert_eq!(r.usage().unwrap()[&w.waba_id][0]["call_count"], 1);

    let ctx = Ctx::start_with(|c| c.rate_limit.enabled = false).await;
    let w = ctx.world(false).await;
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscribed_apps", w.waba_id),
            Some(&w.token),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.usage().is_none());
}

#[tokio::test]
async fn the_count_lives_in_the_store_across_restarts() {
    let dir = crate::harness::test_dir();
    let mut cfg = crate::harness::test_config(&dir);
    cfg.rate_limit.per_hour = 3;
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let w = ctx.world(false).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    for _ in 0..3 {
        assert_eq!(
            ctx.graph("GET", &path, Some(&w.token), &[]).await.status,
            200
        );
    }
    ctx.stop().await;
    let dir = std::mem::replace(&mut ctx.dir, crate::harness::test_dir());
    let ctx = Ctx::start_in(dir, cfg).await;
    ctx.graph("GET", &path, Some(&w.token), &[])
        .await
        .assert_graph_error(80008);
}
