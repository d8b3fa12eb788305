//! `POST /admin/v1/apps/{id}/check_receiver`: the conformance checks of `wabahook_checker`
//! against an app's configured callback, with its secret and verify token, through the same
//! egress guard, CAs and client certificate as its deliveries. Answers the report as JSON.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use wabahook_checker::{Options, Report, Target};

use super::requests::ObjectId;
use super::{AdminError, AdminJson};
use crate::AppState;

/// Optional settings of the run; every one has the command line's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    fields: Option<Vec<String>>,
    echo_url: Option<String>,
    requests: Option<usize>,
    rate: Option<f64>,
    max_median_ms: Option<u64>,
    max_p99_ms: Option<u64>,
    concurrency: Option<usize>,
    timeout_ms: Option<u64>,
}

/// Bounds that keep one admin call from becoming a load test of someone's endpoint.
const MAX_REQUESTS: usize = 1000;
const MAX_CONCURRENCY: usize = 64;
const MAX_TIMEOUT_MS: u64 = 60_000;

pub async fn check_receiver(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
    AdminJson(body): AdminJson<Option<CheckRequest>>,
) -> Result<Json<Report>, AdminError> {
    let r = body.unwrap_or_default();
    let app = s
        .store
        .app(&id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no app {id}")))?;
    let sub = s
        .store
        .app_subscription(&id)
        .await?
        .filter(|sub| !sub.callback_url.is_empty())
        .ok_or_else(|| {
            AdminError::Conflict(format!(
                "app {id} has no callback URL: subscribe it with POST /{{app-id}}/subscriptions first"
            ))
        })?;
    if r.requests.is_some_and(|n| n == 0 || n > MAX_REQUESTS)
        || r.concurrency.is_some_and(|n| n == 0 || n > MAX_CONCURRENCY)
        || r.timeout_ms.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_MS)
    {
        return Err(AdminError::Invalid(format!(
            "requests must be 1 to {MAX_REQUESTS}, concurrency 1 to {MAX_CONCURRENCY}, \
             timeout_ms 1 to {MAX_TIMEOUT_MS}"
        )));
    }
    let d = Options::default();
    let options = Options {
        fields: r.fields.unwrap_or(d.fields),
        echo_url: r.echo_url,
        speed_requests: r.requests.unwrap_or(d.speed_requests),
        speed_rate: r.rate.unwrap_or(d.speed_rate),
        max_median: r.max_median_ms.map_or(d.max_median, Duration::from_millis),
        max_p99: r.max_p99_ms.map_or(d.max_p99, Duration::from_millis),
        concurrency: r.concurrency.unwrap_or(d.concurrency),
        timeout: r.timeout_ms.map_or(d.timeout, Duration::from_millis),
        extra_roots: s.config.extra_roots.clone(),
        // The app's deliveries present the client chain only with mTLS on; so does its check.
        client_identity: sub
            .include_client_certificate
            .then(|| s.config.client_identity.clone())
            .flatten(),
        egress: s.config.egress.clone(),
        user_agent: s.config.user_agent.clone(),
    };
    let target = Target {
        url: sub.callback_url,
        app_secret: app.secret.to_string(),
        verify_token: sub.verify_token.to_string(),
    };
    wabahook_checker::run(&target, &options)
        .await
        .map(Json)
        .map_err(|e| AdminError::Invalid(e.to_string()))
}
