//! `/{app-id}/subscriptions`: the app's one webhook callback for `whatsapp_business_account`,
//! the fields it receives, and whether its webhooks present the client certificate (mTLS, per
//! app only). Requires the app's own access token.

use serde_json::{json, Value};
use wabahook_domain::{fields, WABA_OBJECT};
use wabahook_model::secrets;
use wabahook_store::{App, AppSubscription, SubscribedField};

use super::auth::{authenticate, Caller};
use super::{check_callback, check_verify_token, success, unknown, Call, GraphError};
use crate::AppState;

const MAX_CALLBACK_URL: usize = 1024;

/// Whether the app's handshakes and deliveries present the client certificate: its
/// `include_client_certificate`, which also holds for its WABA and phone-number overrides.
pub(super) async fn includes_client_certificate(
    state: &AppState,
    app_id: &str,
) -> Result<bool, GraphError> {
    Ok(state
        .store
        .app_subscription(app_id)
        .await?
        .is_some_and(|s| s.include_client_certificate))
}

/// The app named in the path, if the caller holds that app's token.
async fn own_app(state: &AppState, call: &Call, app_id: &str) -> Result<App, GraphError> {
    match authenticate(state.store.as_ref(), &call.headers, &call.params).await? {
        Caller::App(app) if app.id == app_id => Ok(app),
        Caller::App(_) => Err(unknown(call, app_id)),
        Caller::System(_) => Err(GraphError::Permission(
            "This method must be called with an app access_token ({app-id}|{app-secret})".into(),
        )),
    }
}

/// `object` must name the one object type wabahook serves.
fn check_object(call: &Call, required: bool) -> Result<(), GraphError> {
    match call.params.string("object")? {
        None if required => Err(GraphError::param("The parameter object is required")),
        None => Ok(()),
        Some(o) if o == WABA_OBJECT => Ok(()),
        Some(o) => Err(GraphError::param(format!(
            "Param object must be one of {{{WABA_OBJECT}}}, got {o}"
        ))),
    }
}

fn check_fields(names: &[String]) -> Result<(), GraphError> {
    if let Some(bad) = names.iter().find(|f| !fields::is_well_formed(f)) {
        return Err(GraphError::param(format!(
            "Param fields contains {bad:?}, which is not a field name (lowercase letters, digits and _)"
        )));
    }
    Ok(())
}

pub async fn get(state: &AppState, call: &mut Call, app_id: &str) -> Result<Value, GraphError> {
    let app = own_app(state, call, app_id).await?;
    let data: Vec<Value> = state
        .store
        .app_subscription(&app.id)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "object": s.object,
                "callback_url": s.callback_url,
                "active": s.active,
                "include_client_certificate": s.include_client_certificate,
                "fields": s.fields.iter().map(|f| json!({"name": f.name, "version": f.version})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({ "data": data }))
}

pub async fn post(state: &AppState, call: &mut Call, app_id: &str) -> Result<Value, GraphError> {
    let app = own_app(state, call, app_id).await?;
    check_object(call, true)?;
    let p = &call.params;
    let fields = p.list("fields")?;
    if let Some(f) = &fields {
        check_fields(f)?;
    }
    let include_values = p.bool("include_values")?;
    let include_client_certificate = p.bool("include_client_certificate")?;
    let callback_url = p.string("callback_url")?;
    let verify_token = p.string("verify_token")?;
    let existing = state.store.app_subscription(&app.id).await?;

    // mTLS only on a verified callback: one already verified, or one this call verifies.
    let verifies_here = callback_url.is_some() || existing.is_some();
    if include_client_certificate == Some(true) && !verifies_here {
        return Err(GraphError::param(
            "Param include_client_certificate requires a verified callback URL: set callback_url and verify_token first, or in the same call",
        ));
    }

    let (callback_url, verify_token) = match (callback_url, &existing) {
        (Some(url), _) => {
            check_callback(state, "callback_url", &url, MAX_CALLBACK_URL)?;
            let token = match verify_token {
                Some(t) => check_verify_token("verify_token", Some(t))?,
                // Keeping the URL and leaving out the token keeps the stored token.
                None => match &existing {
                    Some(e) if e.callback_url == url => e.verify_token.clone(),
                    _ => check_verify_token("verify_token", None)?,
                },
            };
            (url, token)
        }
        (None, Some(e)) => match verify_token {
            Some(t) => (
                e.callback_url.clone(),
                check_verify_token("verify_token", Some(t))?,
            ),
            None => (e.callback_url.clone(), e.verify_token.clone()),
        },
        (None, None) => return Err(GraphError::param("The parameter callback_url is required")),
    };
    let fields = match (fields, &existing) {
        (Some(f), _) if !f.is_empty() => f,
        (Some(_), _) => {
            return Err(GraphError::param(
                "Param fields must name at least one field",
            ))
        }
        (None, Some(_)) => Vec::new(),
        (None, None) => return Err(GraphError::param("The parameter fields is required")),
    };

    let changed = existing.as_ref().is_none_or(|e| {
        e.callback_url != callback_url
            || !secrets::constant_time_eq(e.verify_token.as_bytes(), verify_token.as_bytes())
            || !e.verified
    });
    // The flag as it will be after this call: a handshake made while turning it on already
    // presents the certificate, so a receiver that requires one can pass it.
    let include_client_certificate = include_client_certificate
        .or(existing.as_ref().map(|e| e.include_client_certificate))
        .unwrap_or(false);
    if changed {
        state
            .verifier
            .verify(&callback_url, &verify_token, include_client_certificate)
            .await
            .map_err(GraphError::Handshake)?;
    }
    let sub = AppSubscription {
        app_id: app.id.clone(),
        object: WABA_OBJECT.into(),
        callback_url,
        verify_token,
        verified: true,
        include_values: include_values
            .or(existing.as_ref().map(|e| e.include_values))
            .unwrap_or(true),
        include_client_certificate,
        active: true,
        fields: Vec::new(),
        updated_at: state.now_unix(),
    };
    let version = call.version.to_string();
    let add: Vec<SubscribedField> = fields
        .into_iter()
        .map(|name| SubscribedField {
            name,
            version: version.clone(),
        })
        .collect();
    state.store.save_app_subscription(&sub, &add).await?;
    Ok(success())
}

pub async fn delete(state: &AppState, call: &mut Call, app_id: &str) -> Result<Value, GraphError> {
    let app = own_app(state, call, app_id).await?;
    check_object(call, false)?;
    let fields = call.params.list("fields")?;
    if let Some(f) = &fields {
        check_fields(f)?;
    }
    let fields = fields.filter(|f| !f.is_empty());
    state
        .store
        .remove_app_subscription(&app.id, fields.as_deref())
        .await?;
    Ok(success())
}
