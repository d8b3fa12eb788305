//! Message templates: Meta's management calls, the review that decides a new template a moment
//! later and says so in a `message_template_status_update`, the admin's decisions, and the
//! built-in `hello_world`.

use serde_json::{json, Value};
use wabahook_receiver::{FieldValue, Notification};

use crate::harness::{Ctx, Receiver, World};

const FIELDS: &str =
    "message_template_status_update,message_template_quality_update,template_category_update";

fn positional(name: &str) -> Value {
    json!({
        "name": name,
        "category": "UTILITY",
        "language": "en_US",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order update"},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.",
             "example": {"body_text": [["Pablo", "860198-230332"]]}},
            {"type": "FOOTER", "text": "Acme"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]}
        ]
    })
}

async fn create(ctx: &Ctx, w: &World, body: Value) -> crate::harness::Reply {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/message_templates", w.waba_id),
        Some(&w.token),
        body,
    )
    .await
}

/// Every template status change received so far, typed: (template id, event, reason).
fn status_updates(rx: &Receiver) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    for p in rx.posts() {
        let n = Notification::from_slice(&p.body).unwrap();
        for c in n.changes() {
            match &c.change.value {
                FieldValue::MessageTemplateStatusUpdate(v) => out.push((
                    v.message_template_id.unwrap(),
                    v.event.as_ref().unwrap().to_string(),
                    v.reason.clone().flatten().map(|r| r.to_string()),
                )),
                other if c.change.field == "message_template_status_update" => {
                    panic!("untyped status update: {}", other.to_value())
                }
                _ => {}
            }
        }
    }
    out
}

#[tokio::test]
async fn a_new_template_is_pending_then_approved_or_rejected_by_the_review() {
    let ctx = Ctx::start_with(|c| c.simulator.template_review_ms = 1_500).await;
    let w = ctx.world(true).await;
    let rx = Receiver::start().await;
    w.subscribe(&ctx, &rx.url("/hook"), FIELDS).await;

    let r = create(&ctx, &w, positional("order_shipped")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "PENDING");
    assert_eq!(r.body["category"], "UTILITY");
    let approved_id = r.body["id"].as_str().unwrap().to_string();
    let r = create(&ctx, &w, positional("please_reject_this")).await;
    assert_eq!(r.body["status"], "PENDING", "{}", r.body);
    let rejected_id = r.body["id"].as_str().unwrap().to_string();

    let status = ctx
        .graph(
            "GET",
            &format!("/v23.0/{approved_id}"),
            Some(&w.token),
            &[("fields", "status")],
        )
        .await;
    assert_eq!(status.body, json!({"status": "PENDING", "id": approved_id}));

    rx.wait_changes(2).await;
    let mut updates = status_updates(&rx);
    updates.sort();
    let mut want = vec![
        (
            approved_id.parse::<i64>().unwrap(),
            "APPROVED".to_string(),
            Some("NONE".to_string()),
        ),
        (
            rejected_id.parse::<i64>().unwrap(),
            "REJECTED".to_string(),
            Some("INVALID_FORMAT".to_string()),
        ),
    ];
    want.sort();
    assert_eq!(updates, want);

    // Once the webhook is out, the status reads as decided.
    let status = ctx
        .graph(
            "GET",
            &format!("/v23.0/{approved_id}"),
            Some(&w.token),
            &[("fields", "status,quality_score")],
        )
        .await;
    assert_eq!(status.body["status"], "APPROVED");
    assert_eq!(status.body["quality_score"]["score"], "UNKNOWN");
    let status = ctx
        .graph(
            "GET",
            &format!("/v23.0/{rejected_id}"),
            Some(&w.token),
            &[("fields", "status,rejected_reason")],
        )
        .await;
    assert_eq!(status.body["status"], "REJECTED");
    assert_eq!(status.body["rejected_reason"], "INVALID_FORMAT");

    // An admin decides at any time; quality and category changes are webhooks too.
    let r = ctx
        .admin_post(
            &format!("templates/{approved_id}/review"),
            json!({"status": "PAUSED"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "PAUSED");
    let r = ctx
        .admin_post(
            &format!("templates/{approved_id}/quality"),
            json!({"score": "YELLOW"}),
        )
        .await;
    assert_eq!(r.body["quality_score"], "YELLOW", "{}", r.body);
    let r = ctx
        .admin_post(
            &format!("templates/{approved_id}/category"),
            json!({"category": "MARKETING"}),
        )
        .await;
    assert_eq!(r.body["category"], "MARKETING", "{}", r.body);
    let posts = rx.wait_changes(5).await;
    let fields: Vec<(String, bool)> = posts
        .iter()
        .flat_map(|p| {
            Notification::from_slice(&p.body)
                .unwrap()
                .changes()
                .map(|c| (c.change.field.clone(), c.change.value.is_typed()))
                .collect::<Vec<_>>()
        })
        .collect();
    for f in FIELDS.split(',') {
        assert!(
            fields.contains(&(f.to_string(), true)),
            "{f} missing or untyped in {fields:?}"
        );
    }
    assert!(status_updates(&rx).contains(&(
        approved_id.parse().unwrap(),
        "PAUSED".into(),
        Some("NONE".into())
    )));
    let bad = ctx
        .admin_post(
            &format!("templates/{approved_id}/review"),
            json!({"status": "GREAT"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn an_admin_decision_replaces_the_scheduled_one() {
    let ctx = Ctx::start_with(|c| c.simulator.template_review_ms = 600_000).await;
    let w = ctx.world(true).await;
    let rx = Receiver::start().await;
    w.subscribe(&ctx, &rx.url("/hook"), FIELDS).await;
    let id = create(&ctx, &w, positional("slow_review")).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ctx
        .admin_post(
            &format!("templates/{id}/review"),
            json!({"status": "REJECTED", "reason": "PROMOTIONAL"}),
        )
        .await;
    assert_eq!(r.body["status"], "REJECTED", "{}", r.body);
    assert_eq!(r.body["review_at_ms"], Value::Null);
    rx.wait_changes(1).await;
    assert_eq!(
        status_updates(&rx),
        vec![(
            id.parse().unwrap(),
            "REJECTED".into(),
            Some("PROMOTIONAL".into())
        )]
    );
    // The scheduled approval was cancelled with the decision that replaced it.
    let cancelled = ctx.admin_get("deliveries?state=cancelled").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let cancelled = cancelled.body["data"].as_array().unwrap().clone();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["field"], "message_template_status_update");
    // Nothing else is left to say later.
    for d in ctx.admin_get("deliveries?state=pending").await.body["data"]
        .as_array()
        .unwrap()
    {
        assert!(d["id"] != cancelled[0]["id"], "{d}");
    }
}

#[tokio::test]
async fn templates_are_listed_filtered_paged_and_deleted() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/message_templates", w.waba_id);

    // Every WABA has Meta's hello_world, approved.
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hello = &r.body["data"][0];
    assert_eq!(hello["name"], "hello_world");
    assert_eq!(hello["language"], "en_US");
    assert_eq!(hello["status"], "APPROVED");
    assert_eq!(hello["components"][1]["type"], "BODY");

    for name in ["alpha", "bravo", "charlie", "delta"] {
        assert_eq!(create(&ctx, &w, positional(name)).await.status, 200);
    }
    let mut es = positional("alpha");
    es["language"] = json!("es_MX");
    assert_eq!(create(&ctx, &w, es).await.status, 200);

    // Duplicates and bad creations, with Meta's codes.
    let dup = create(&ctx, &w, positional("alpha")).await;
    dup.assert_graph_error(100);
    assert_eq!(dup.body["error"]["error_subcode"], 2388024, "{}", dup.body);
    assert!(dup
        .message()
        .contains("Content in This Language Already Exists"));
    for bad in [
        json!({"name": "Bad Name", "category": "UTILITY", "language": "en_US", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "ok_name", "category": "PROMO", "language": "en_US", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "ok_name", "category": "UTILITY", "language": "xx", "components": [{"type": "BODY", "text": "x"}]}),
        json!({"name": "ok_name", "category": "UTILITY", "language": "en_US", "components": [{"type": "FOOTER", "text": "x"}]}),
        json!({"name": "ok_name", "category": "UTILITY", "language": "en_US", "components": [{"type": "BODY", "text": "{{1}}"}]}),
        json!({"name": "ok_name", "category": "UTILITY", "language": "en_US", "parameter_format": "NAMED",
               "components": [{"type": "BODY", "text": "{{first_name}}"}]}),
        json!({"name": "ok_name", "category": "UTILITY", "language": "en_US"}),
    ] {
        create(&ctx, &w, bad).await.assert_graph_error(100);
    }
    let named = create(
        &ctx,
        &w,
        json!({"name": "named_one", "category": "MARKETING", "language": "en_US", "parameter_format": "NAMED",
               "components": [{"type": "body", "text": "Hi {{first_name}}",
                               "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]}}]}),
    )
    .await;
    assert_eq!(named.body["category"], "MARKETING", "{}", named.body);

    // Filters.
    let names = |r: &crate::harness::Reply| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    t["name"].as_str().unwrap(),
                    t["language"].as_str().unwrap_or("?")
                )
            })
            .collect()
    };
    let r = ctx
        .graph("GET", &path, Some(&w.token), &[("name", "alpha")])
        .await;
    assert_eq!(names(&r), ["alpha/en_US", "alpha/es_MX"]);
    let r = ctx
        .graph("GET", &path, Some(&w.token), &[("language", "es_MX")])
        .await;
    assert_eq!(names(&r), ["alpha/es_MX"]);
    let r = ctx
        .graph("GET", &path, Some(&w.token), &[("category", "marketing")])
        .await;
    assert_eq!(names(&r), ["named_one/en_US"]);
    let r = ctx
        .graph("GET", &path, Some(&w.token), &[("status", "APPROVED")])
        .await;
    assert_eq!(names(&r), ["hello_world/en_US"]);
    let r = ctx
        .graph("GET", &path, Some(&w.token), &[("status", "PENDING")])
        .await;
    assert_eq!(names(&r).len(), 6);
    let r = ctx
        .graph(
            "GET",
            &path,
            Some(&w.token),
            &[("fields", "name,status"), ("limit", "1")],
        )
        .await;
    let only = r.body["data"][0].as_object().unwrap();
    let mut keys: Vec<&str> = only.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "name", "status"]);

    // Paging: three at a time, by cursor, with `next` while more remain.
    let mut seen = Vec::new();
    let mut r = ctx
        .graph("GET", &path, Some(&w.token), &[("limit", "3")])
        .await;
    loop {
        seen.extend(names(&r));
        let Some(next) = r.body["paging"]["next"].as_str().map(str::to_string) else {
            break;
        };
        assert!(next.starts_with(&ctx.base), "{next}");
        let after = r.body["paging"]["cursors"]["after"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(next.contains(&after));
        r = Ctx::reply(
            ctx.http
                .get(&next)
                .bearer_auth(&w.token)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(seen[0], "hello_world/en_US");

    // Edits: only approved, rejected or paused templates; an approved one keeps its category;
    // new components go through review again.
    let hello_id = ctx
        .graph("GET", &path, Some(&w.token), &[("name", "hello_world")])
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let delta_id = ctx
        .graph("GET", &path, Some(&w.token), &[("name", "delta")])
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let node = |id: &str| format!("/v23.0/{id}");
    ctx.graph_json(
        "POST",
        &node(&delta_id),
        Some(&w.token),
        json!({"components": [{"type": "BODY", "text": "x"}]}),
    )
    .await
    .assert_graph_error(100);
    ctx.graph_json(
        "POST",
        &node(&hello_id),
        Some(&w.token),
        json!({"category": "MARKETING"}),
    )
    .await
    .assert_graph_error(100);
    ctx.graph_json(
        "POST",
        &node(&hello_id),
        Some(&w.token),
        json!({"components": [{"type": "BODY", "text": "Hello again"}]}),
    )
    .await
    .assert_success();
    let edited = ctx
        .graph(
            "GET",
            &node(&hello_id),
            Some(&w.token),
            &[("fields", "status,components")],
        )
        .await;
    assert_eq!(edited.body["status"], "PENDING", "{}", edited.body);
    assert_eq!(edited.body["components"][0]["text"], "Hello again");
    // Another business's token does not see the template.
    let other = ctx.world(true).await;
    ctx.graph("GET", &node(&hello_id), Some(&other.token), &[])
        .await
        .assert_graph_error(100);

    // Deletes: by name (every language), by hsm_id + name, by hsm_ids.
    let all = ctx
        .graph("GET", &path, Some(&w.token), &[("limit", "100")])
        .await;
    let id_of = |name: &str| -> String {
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    ctx.graph("DELETE", &path, Some(&w.token), &[("name", "alpha")])
        .await
        .assert_success();
    ctx.graph("DELETE", &path, Some(&w.token), &[("name", "alpha")])
        .await
        .assert_graph_error(100);
    ctx.graph(
        "DELETE",
        &path,
        Some(&w.token),
        &[("name", "bravo"), ("hsm_id", &id_of("charlie"))],
    )
    .await
    .assert_graph_error(100);
    ctx.graph(
        "DELETE",
        &path,
        Some(&w.token),
        &[("name", "bravo"), ("hsm_id", &id_of("bravo"))],
    )
    .await
    .assert_success();
    let ids = format!("[{},{}]", id_of("charlie"), id_of("hello_world"));
    ctx.graph(
        "DELETE",
        &path,
        Some(&w.token),
        &[("hsm_ids", &ids), ("name", "charlie")],
    )
    .await
    .assert_graph_error(100);
    let with_unknown = format!("[{},100000000000000]", id_of("delta"));
    ctx.graph(
        "DELETE",
        &path,
        Some(&w.token),
        &[("hsm_ids", &with_unknown)],
    )
    .await
    .assert_graph_error(100);
    ctx.graph("DELETE", &path, Some(&w.token), &[("hsm_ids", &ids)])
        .await
        .assert_success();
    let r = ctx.graph("GET", &path, Some(&w.token), &[]).await;
    assert_eq!(names(&r), ["delta/en_US", "named_one/en_US"]);

    // A token without whatsapp_business_management gets code 200.
    let messaging_only = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &["whatsapp_business_messaging"],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    ctx.graph("GET", &path, Some(&messaging_only), &[])
        .await
        .assert_graph_error(200);
}
