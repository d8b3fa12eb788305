//! The Graph-compatible API: `/{version}/{object-id}[/{edge}]`, as Graph routes it.
//!
//! One dispatcher reads the path, checks the version, gathers parameters and picks the edge
//! handler, so that every request (including unknown paths and methods) is answered in
//! Graph's own error envelope.

mod auth;
/// Invariants for the fuzz targets and their property tests; not an API.
#[doc(hidden)]
pub mod checks;
mod error;
mod media;
mod message_templates;
mod messages;
mod oauth;
mod params;
mod phone_numbers;
mod rate_limit;
mod subscribed_apps;
mod subscriptions;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use wabahook_delivery::egress::{self, EgressRefused};
use wabahook_domain::access;
use wabahook_store::{Token, Waba};

pub use auth::Caller;
pub use error::GraphError;
/// Where media downloads are answered; inbound media webhooks carry URLs under it too.
pub(crate) use media::DOWNLOAD_PATH as MEDIA_DOWNLOAD_PATH;
pub use params::Params;

use crate::config::ApiVersion;
use crate::AppState;

/// One Graph call being answered.
pub struct Call {
    pub method: Method,
    pub version: ApiVersion,
    pub headers: HeaderMap,
    pub params: Params,
    /// `X-Business-Use-Case-Usage` to send with the answer, success or error.
    pub usage: Option<String>,
}

impl Call {
    fn method_name(&self) -> &'static str {
        method_name(&self.method)
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "get",
        Method::POST => "post",
        Method::DELETE => "delete",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::HEAD => "head",
        Method::OPTIONS => "options",
        _ => "unknown",
    }
}

/// Entry point for every path that is not admin or a probe.
pub async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    // Media downloads answer bytes (or a bare 404), not Graph's JSON.
    if path == media::DOWNLOAD_PATH {
        return media::download(&state, req).await;
    }
    let mut call_version = state.config.max_version;
    let mut usage = None;
    let result = async {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (version, rest) = match segments.split_first() {
            Some((first, rest)) if looks_like_version(first) => {
                let v = ApiVersion::parse(first)
                    .filter(|v| state.config.accepts(*v))
                    .ok_or_else(|| {
                        GraphError::param(format!(
                            "Unsupported API version {first}. Supported versions are {} to {}",
                            state.config.min_version, state.config.max_version
                        ))
                    })?;
                (v, rest.to_vec())
            }
            _ => (state.config.max_version, segments.clone()),
        };
        call_version = version;
        let original_method = req.method().clone();
        // Uploads have their own, larger limit and a binary file part.
        if original_method == Method::POST {
            if let [id, "media"] = rest.as_slice() {
                return media::upload(&state, req, id).await;
            }
        }
        let (headers, params) = Params::from_request(req, state.config.max_body_bytes).await?;
        let method = effective_method(&original_method, &params)?;
        let mut call = Call {
            method,
            version,
            headers,
            params,
            usage: None,
        };
        let out = route(&state, &mut call, &rest).await;
        usage = call.usage.take();
        out
    }
    .await;
    let mut resp = match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    };
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&call_version.to_string()) {
        headers.insert("facebook-api-version", v);
    }
    if let Some(u) = usage.and_then(|u| HeaderValue::from_str(&u).ok()) {
        headers.insert("x-business-use-case-usage", u);
    }
    resp
}

fn looks_like_version(s: &str) -> bool {
    s.len() > 1 && s.starts_with('v') && s.as_bytes()[1].is_ascii_digit()
}

/// Graph lets clients that can only GET or POST name the method in a `method` parameter.
fn effective_method(actual: &Method, params: &Params) -> Result<Method, GraphError> {
    if *actual != Method::GET && *actual != Method::POST {
        return Ok(actual.clone());
    }
    match params.string("method")?.map(|m| m.to_ascii_lowercase()) {
        None => Ok(actual.clone()),
        Some(m) if m == "get" => Ok(Method::GET),
        Some(m) if m == "post" => Ok(Method::POST),
        Some(m) if m == "delete" => Ok(Method::DELETE),
        Some(m) => Err(GraphError::param(format!(
            "Param method must be one of {{GET, POST, DELETE}}, got {m}"
        ))),
    }
}

async fn route(state: &AppState, call: &mut Call, rest: &[&str]) -> Result<Value, GraphError> {
    let method = call.method.clone();
    // An object id that is not a Graph id names no object; it never reaches the store, so
    // every store answers alike (and a NUL is not a database error).
    if let [id] | [id, "subscribed_apps" | "subscriptions" | "message_templates" | "messages"] =
        rest
    {
        if !wabahook_model::ids::is_graph_id(id) {
            let shown: String = id.chars().take(64).collect();
            return Err(unknown(call, &shown));
        }
    }
    match rest {
        ["oauth", "access_token"] if method == Method::GET || method == Method::POST => {
            oauth::access_token(state, call).await
        }
        [id, "subscribed_apps"] => match method {
            Method::GET => subscribed_apps::get(state, call, id).await,
            Method::POST => subscribed_apps::post(state, call, id).await,
            Method::DELETE => subscribed_apps::delete(state, call, id).await,
            _ => Err(unknown(call, id)),
        },
        [id, "subscriptions"] => match method {
            Method::GET => subscriptions::get(state, call, id).await,
            Method::POST => subscriptions::post(state, call, id).await,
            Method::DELETE => subscriptions::delete(state, call, id).await,
            _ => Err(unknown(call, id)),
        },
        [id, "messages"] => match method {
            Method::POST => messages::post(state, call, id).await,
            _ => Err(unknown(call, id)),
        },
        [id, "message_templates"] => match method {
            Method::GET => message_templates::get(state, call, id).await,
            Method::POST => message_templates::post(state, call, id).await,
            Method::DELETE => message_templates::delete(state, call, id).await,
            _ => Err(unknown(call, id)),
        },
        // A bare id names a phone number, a template or a media object.
        [id] => match (method, node_kind(state, id).await?) {
            (Method::GET, Node::Template) => message_templates::get_node(state, call, id).await,
            (Method::POST, Node::Template) => message_templates::post_node(state, call, id).await,
            (Method::GET, Node::Media) => media::get(state, call, id).await,
            (Method::DELETE, Node::Media) => media::delete(state, call, id).await,
            (Method::GET, _) => phone_numbers::get(state, call, id).await,
            (Method::POST, _) => phone_numbers::post(state, call, id).await,
            _ => Err(unknown(call, id)),
        },
        [] => Err(GraphError::UnknownPath("/".into())),
        [_, extra @ ..] => Err(GraphError::UnknownPath(format!("/{}", extra.join("/")))),
    }
}

/// What a bare object id names.
enum Node {
    PhoneNumberOrUnknown,
    Template,
    Media,
}

async fn node_kind(state: &AppState, id: &str) -> Result<Node, GraphError> {
    if state.store.phone_number(id).await?.is_some() {
        return Ok(Node::PhoneNumberOrUnknown);
    }
    if state.store.template(id).await?.is_some() {
        return Ok(Node::Template);
    }
    if state.store.media(id).await?.is_some() {
        return Ok(Node::Media);
    }
    Ok(Node::PhoneNumberOrUnknown)
}

fn unknown(call: &Call, id: &str) -> GraphError {
    GraphError::UnknownObject {
        method: call.method_name(),
        id: id.to_string(),
    }
}

/// The caller's system-user token and the WABA it names, if the token can see that WABA.
/// Counts the call against the Business Use Case limit of (token's app, WABA) once the pair
/// is known, and refuses it when over the limit.
async fn waba_call(
    state: &AppState,
    call: &mut Call,
    waba_id: &str,
    counted: bool,
) -> Result<(Token, Waba), GraphError> {
    let caller = auth::authenticate(state.store.as_ref(), &call.headers, &call.params).await?;
    let Caller::System(token) = caller else {
        return Err(unknown(call, waba_id));
    };
    let waba = match state.store.waba(waba_id).await? {
        Some(w) if access::can_see(&token, &w.id) => w,
        _ => return Err(unknown(call, waba_id)),
    };
    if counted {
        let registered = state
            .store
            .phone_numbers(Some(&waba.id))
            .await?
            .iter()
            .any(|p| p.registered);
        let usage = rate_limit::count_call(
            state.store.as_ref(),
            &state.config.rate_limit,
            &token.app_id,
            &waba.id,
            registered,
            state.now_unix(),
        )
        .await?;
        if let Some(u) = usage {
            call.usage = Some(u.header);
            if !u.allowed {
                return Err(GraphError::RateLimited);
            }
        }
    }
    access::require_management(&token)?;
    Ok((token, waba))
}

/// Checks an override or callback URL: absolute http(s) with a host, at most `max` characters;
/// and, with the egress guard on, https (if required) and no forbidden address as its host.
///
/// The guard's refusal is code 100, a bad parameter, as Graph answers a malformed URL: the
/// value is refused as given, before any request, so Meta's 2200 ("callback verification
/// failed", with curl's error) would describe a handshake that never happened. A name that
/// passes here is checked again when a handshake or a delivery resolves it, and fails there
/// with 2200 or an attempt error.
fn check_callback(state: &AppState, name: &str, value: &str, max: usize) -> Result<(), GraphError> {
    if value.chars().count() > max {
        return Err(GraphError::param(format!(
            "Param {name} must be at most {max} characters long"
        )));
    }
    let url = match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            return Err(GraphError::param(format!(
                "Param {name} must be a valid http or https URL"
            )))
        }
    };
    let Some(guard) = state.verifier.egress() else {
        return Ok(());
    };
    egress::check_url(guard, &url).map_err(|refused| {
        GraphError::param(match refused {
            EgressRefused::NotHttps(_) => format!("Param {name} must be a valid https URL"),
            EgressRefused::Address(r) => {
                format!("Param {name} must not point to a private, local or reserved address: {r}")
            }
            other => format!("Param {name} is not allowed: {other}"),
        })
    })
}

/// Checks a verify token: present, not empty, bounded.
fn check_verify_token(name: &str, value: Option<String>) -> Result<String, GraphError> {
    match value {
        None => Err(GraphError::param(format!(
            "The parameter {name} is required"
        ))),
        Some(v) if v.is_empty() => {
            Err(GraphError::param(format!("Param {name} must not be empty")))
        }
        Some(v) if v.len() > 4096 => Err(GraphError::param(format!(
            "Param {name} must be at most 4096 characters long"
        ))),
        Some(v) => Ok(v),
    }
}

fn success() -> Value {
    serde_json::json!({"success": true})
}
