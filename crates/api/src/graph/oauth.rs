//! `GET /{v}/oauth/access_token?grant_type=client_credentials`: how SDKs obtain the app token.

use serde_json::{json, Value};
use wabahook_model::graph_error::codes;
use wabahook_model::secrets;

use super::{Call, GraphError};
use crate::AppState;

pub async fn access_token(state: &AppState, call: &mut Call) -> Result<Value, GraphError> {
    let p = &call.params;
    let client_id = p
        .string("client_id")?
        .filter(|s| !s.is_empty())
        .ok_or(GraphError::OAuth {
            code: codes::INVALID_CLIENT_ID,
            message: "Missing client_id parameter.".into(),
        })?;
    let grant_type = p.string("grant_type")?;
    if grant_type.as_deref() != Some("client_credentials") {
        return Err(GraphError::param(
            "Param grant_type must be client_credentials (the only grant wabahook issues)",
        ));
    }
    let client_secret = p.string("client_secret")?.unwrap_or_default();
    let app = state
        .store
        .app(&client_id)
        .await?
        .ok_or(GraphError::OAuth {
            code: codes::INVALID_CLIENT_ID,
            message: "Error validating application. Invalid application ID.".into(),
        })?;
    if !secrets::constant_time_eq(app.secret.as_bytes(), client_secret.as_bytes()) {
        return Err(GraphError::OAuth {
            code: codes::UNKNOWN_OAUTH,
            message: "Error validating client secret.".into(),
        });
    }
    Ok(json!({"access_token": format!("{}|{}", app.id, app.secret), "token_type": "bearer"}))
}
