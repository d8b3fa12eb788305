//! `/{waba-id}/subscribed_apps`: subscribe, list and unsubscribe apps on a WABA, with the
//! optional WABA-level override callback.

use serde_json::{json, Value};
use wabahook_domain::access;
use wabahook_store::CallbackOverride;

use super::{check_callback, check_verify_token, success, waba_call, Call, GraphError};
use crate::AppState;

/// Meta's documented limit on override URLs.
const MAX_OVERRIDE_URI: usize = 200;

pub async fn get(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (_, waba) = waba_call(state, call, waba_id, true).await?;
    let mut data = Vec::new();
    for sub in state.store.waba_subscriptions(&waba.id).await? {
        let Some(app) = state.store.app(&sub.app_id).await? else {
            continue;
        };
        let mut entry = json!({
            "whatsapp_business_api_data": {"link": app.link, "name": app.name, "id": app.id}
        });
        if let Some(o) = sub.override_callback {
            entry["override_callback_uri"] = Value::String(o.callback_uri);
        }
        data.push(entry);
    }
    Ok(json!({ "data": data }))
}

pub async fn post(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (token, waba) = waba_call(state, call, waba_id, true).await?;
    access::require_manage(&token, &waba)?;
    let app =
        state.store.app(&token.app_id).await?.ok_or_else(|| {
            GraphError::Internal(format!("token {} names a missing app", token.id))
        })?;
    let app_access = state.store.app_access(&app.id).await?;
    access::require_app_may_edit(&app, &waba, &app_access)?;
    let uri = call.params.string("override_callback_uri")?;
    let verify_token = call.params.string("verify_token")?;
    let override_callback = match uri {
        // Subscribing without an override removes any override set before.
        None => None,
        Some(uri) => {
            check_callback(state, "override_callback_uri", &uri, MAX_OVERRIDE_URI)?;
            let verify_token = check_verify_token("verify_token", verify_token)?;
            let mtls = super::subscriptions::includes_client_certificate(state, &app.id).await?;
            state
                .verifier
                .verify(&uri, &verify_token, mtls)
                .await
                .map_err(GraphError::Handshake)?;
            Some(CallbackOverride {
                callback_uri: uri,
                verify_token,
            })
        }
    };
    state
        .store
        .subscribe_app(&app.id, &waba.id, override_callback.as_ref())
        .await?;
    Ok(success())
}

pub async fn delete(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (token, waba) = waba_call(state, call, waba_id, true).await?;
    access::require_manage(&token, &waba)?;
    // Unsubscribing stops pending deliveries at once, in the same transaction; they stay in
    // the log as cancelled.
    let now = state.now_ms();
    let cancelled = state
        .store
        .unsubscribe_app(&token.app_id, &waba.id, now)
        .await?
        .unwrap_or(0);
    if cancelled > 0 {
        tracing::info!(app = %token.app_id, waba = %waba.id, cancelled, "unsubscribed; pending deliveries cancelled");
    }
    Ok(success())
}
