//! Who is calling: a system-user token or an app access token (`{app-id}|{app-secret}`), taken
//! from the `access_token` parameter or, without one, `Authorization: Bearer|OAuth …`.

use axum::http::{header, HeaderMap};
use wabahook_model::secrets;
use wabahook_store::{App, Store, Token};

use super::error::GraphError;
use super::params::Params;

pub enum Caller {
    /// A system user's token, acting for `token.app_id`.
    System(Token),
    /// An app access token.
    App(App),
}

/// The token string, if the request carries one. An `access_token` parameter (query, form,
/// multipart or JSON body) wins over the `Authorization` header, as on Graph: SDKs such as pywa
/// keep a system-user token in the header of their session and pass the app token as the
/// parameter of the calls that need it.
fn raw_token(headers: &HeaderMap, params: &Params) -> Result<Option<String>, GraphError> {
    if let Some(token) = params.string("access_token")?.filter(|t| !t.is_empty()) {
        return Ok(Some(token));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| GraphError::InvalidToken)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
        let token = rest.trim();
        if !token.is_empty() {
            return Ok(Some(token.to_string()));
        }
    }
    Err(GraphError::InvalidToken)
}

pub async fn authenticate(
    store: &dyn Store,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Caller, GraphError> {
    let token = raw_token(headers, params)?.ok_or(GraphError::NoToken)?;
    if token.len() > 1024 {
        return Err(GraphError::InvalidToken);
    }
    if let Some((app_id, secret)) = token.split_once('|') {
        let app = store.app(app_id).await?.ok_or(GraphError::InvalidToken)?;
        if !secrets::constant_time_eq(app.secret.as_bytes(), secret.as_bytes()) {
            return Err(GraphError::InvalidToken);
        }
        return Ok(Caller::App(app));
    }
    store
        .token_by_hash(&secrets::token_hash(&token))
        .await?
        .map(Caller::System)
        .ok_or(GraphError::InvalidToken)
}
