//! `/{phone-number-id}`: the phone-number-level override callback (`webhook_configuration`)
//! and the few phone number fields wabahook knows.

use serde_json::{json, Map, Value};
use wabahook_store::CallbackOverride;

use super::auth::{authenticate, Caller};
use super::params::object_string;
use super::{check_callback, check_verify_token, success, unknown, Call, GraphError};
use crate::AppState;
use wabahook_domain::access;
use wabahook_store::{PhoneNumber, Token, Waba};

const MAX_OVERRIDE_URI: usize = 200;
const READABLE_FIELDS: &[&str] = &[
    "id",
    "display_phone_number",
    "verified_name",
    "webhook_configuration",
];

/// The caller's token and the phone number, if that token can see the number's WABA.
async fn visible_number(
    state: &AppState,
    call: &Call,
    id: &str,
) -> Result<(Token, PhoneNumber, Waba), GraphError> {
    let caller = authenticate(state.store.as_ref(), &call.headers, &call.params).await?;
    let Caller::System(token) = caller else {
        return Err(unknown(call, id));
    };
    let Some(number) = state.store.phone_number(id).await? else {
        return Err(unknown(call, id));
    };
    let waba = match state.store.waba(&number.waba_id).await? {
        Some(w) if access::can_see(&token, &w.id) => w,
        _ => return Err(unknown(call, id)),
    };
    access::require_management(&token)?;
    Ok((token, number, waba))
}

pub async fn get(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    let (token, number, waba) = visible_number(state, call, id).await?;
    let wanted = call.params.list("fields")?.unwrap_or_else(|| {
        vec![
            "verified_name".into(),
            "display_phone_number".into(),
            "id".into(),
        ]
    });
    if let Some(bad) = wanted
        .iter()
        .find(|f| !READABLE_FIELDS.contains(&f.as_str()))
    {
        return Err(GraphError::param(format!(
            "Tried accessing nonexisting field ({bad}) on node type (WhatsAppBusinessPhoneNumber)"
        )));
    }
    let mut out = Map::new();
    for f in &wanted {
        let value = match f.as_str() {
            "verified_name" => json!(number.verified_name),
            "display_phone_number" => json!(number.display_phone_number),
            "webhook_configuration" => webhook_configuration(state, &token, &number, &waba).await?,
            _ => continue,
        };
        out.insert(f.clone(), value);
    }
    out.insert("id".into(), json!(number.id));
    Ok(Value::Object(out))
}

/// The callbacks that apply to this number for the caller's app, most specific first, as
/// Meta reports them: each level only when set.
async fn webhook_configuration(
    state: &AppState,
    token: &Token,
    number: &PhoneNumber,
    waba: &Waba,
) -> Result<Value, GraphError> {
    let mut conf = Map::new();
    if let Some(o) = state
        .store
        .phone_override(&token.app_id, &number.id)
        .await?
    {
        conf.insert("phone_number".into(), json!(o.callback_uri));
    }
    if let Some(s) = state
        .store
        .waba_subscription(&token.app_id, &waba.id)
        .await?
    {
        if let Some(o) = s.override_callback {
            conf.insert("whatsapp_business_account".into(), json!(o.callback_uri));
        }
    }
    if let Some(s) = state.store.app_subscription(&token.app_id).await? {
        conf.insert("application".into(), json!(s.callback_url));
    }
    Ok(Value::Object(conf))
}

pub async fn post(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    let (token, number, waba) = visible_number(state, call, id).await?;
    access::require_manage(&token, &waba)?;
    let conf = call
        .params
        .object("webhook_configuration")?
        .ok_or_else(|| GraphError::param("The parameter webhook_configuration is required"))?;
    const OUTER: &str = "webhook_configuration";
    let uri = object_string(&conf, OUTER, "override_callback_uri")?.ok_or_else(|| {
        GraphError::param("The parameter webhook_configuration[override_callback_uri] is required")
    })?;
    if uri.is_empty() {
        state
            .store
            .set_phone_override(&token.app_id, &number.id, None)
            .await?;
        return Ok(success());
    }
    check_callback(
        state,
        "webhook_configuration[override_callback_uri]",
        &uri,
        MAX_OVERRIDE_URI,
    )?;
    let verify_token = check_verify_token(
        "webhook_configuration[verify_token]",
        object_string(&conf, OUTER, "verify_token")?,
    )?;
    let mtls = super::subscriptions::includes_client_certificate(state, &token.app_id).await?;
    state
        .verifier
        .verify(&uri, &verify_token, mtls)
        .await
        .map_err(GraphError::Handshake)?;
    let o = CallbackOverride {
        callback_uri: uri,
        verify_token,
    };
    state
        .store
        .set_phone_override(&token.app_id, &number.id, Some(&o))
        .await?;
    Ok(success())
}
