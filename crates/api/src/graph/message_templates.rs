//! `/{waba-id}/message_templates` (list, create, delete) and the template node
//! `/{template-id}` (read, edit): Meta's template management, over the simulator's templates.

use axum::http::header;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use wabahook_domain::access;
use wabahook_simulator::templates::{self, NewTemplate};
use wabahook_store::{Template, Token};

use super::auth::{authenticate, Caller};
use super::{success, unknown, waba_call, Call, GraphError};
use crate::AppState;

/// What a list shows of each template when `fields` is not given (Meta's default).
const DEFAULT_FIELDS: &[&str] = &[
    "name",
    "parameter_format",
    "components",
    "language",
    "status",
    "category",
    "id",
];
const READABLE_FIELDS: &[&str] = &[
    "id",
    "name",
    "language",
    "status",
    "category",
    "components",
    "parameter_format",
    "quality_score",
    "rejected_reason",
];
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;
/// Meta's limit on `hsm_ids` in one delete.
const MAX_DELETE_IDS: usize = 100;

fn wanted_fields(call: &Call) -> Result<Vec<String>, GraphError> {
    let wanted = call
        .params
        .list("fields")?
        .unwrap_or_else(|| DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect());
    if let Some(bad) = wanted
        .iter()
        .find(|f| !READABLE_FIELDS.contains(&f.as_str()))
    {
        return Err(GraphError::param(format!(
            "Tried accessing nonexisting field ({bad}) on node type (WhatsAppMessageTemplate)"
        )));
    }
    Ok(wanted)
}

/// A template as Graph shows it, with the fields asked for (`id` always).
fn template_json(t: &Template, now_ms: i64, fields: &[String]) -> Value {
    let (status, reason) = t.status_at(now_ms);
    let mut out = Map::new();
    for f in fields {
        let v = match f.as_str() {
            "name" => json!(t.name),
            "language" => json!(t.language),
            "status" => json!(status),
            "category" => json!(t.category),
            "parameter_format" => json!(t.parameter_format),
            "components" => serde_json::from_str(&t.components).unwrap_or_else(|_| json!([])),
            "quality_score" => json!({"score": t.quality_score, "date": t.quality_at}),
            "rejected_reason" => json!(reason.unwrap_or("NONE")),
            _ => continue,
        };
        out.insert(f.clone(), v);
    }
    out.insert("id".into(), json!(t.id));
    Value::Object(out)
}

fn cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("template:{id}"))
}

fn from_cursor(c: &str) -> Result<String, GraphError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("template:").map(str::to_string))
        .ok_or_else(|| GraphError::param("Invalid cursor"))
}

pub async fn get(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (_, waba) = waba_call(state, call, waba_id, true).await?;
    let fields = wanted_fields(call)?;
    let limit = match call.params.string("limit")? {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_LIMIT),
            _ => return Err(GraphError::param("Param limit must be a positive integer")),
        },
    };
    let name = call.params.string("name")?;
    let status = call.params.list("status")?;
    let category = call.params.list("category")?;
    let language = call.params.list("language")?;
    let now_ms = state.now_ms();
    let all = templates::list(state.store.as_ref(), &waba.id, now_ms).await?;
    let upper = |v: Option<Vec<String>>| {
        v.map(|l| {
            l.into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect::<Vec<_>>()
        })
    };
    let (status, category) = (upper(status), upper(category));
    let matching: Vec<&Template> = all
        .iter()
        .filter(|t| {
            name.as_deref()
                .is_none_or(|n| t.name.contains(&n.to_ascii_lowercase()))
                && status
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == t.status_at(now_ms).0))
                && category.as_ref().is_none_or(|c| c.contains(&t.category))
                && language.as_ref().is_none_or(|l| {
                    l.iter()
                        .any(|l| l.replace('-', "_").eq_ignore_ascii_case(&t.language))
                })
        })
        .collect();
    // Cursors name a template; a page starts after `after`, or ends before `before`.
    let (start, end) = if let Some(after) = call.params.string("after")? {
        let id = from_cursor(&after)?;
        let at = matching
            .iter()
            .position(|t| t.id == id)
            .map_or(matching.len(), |i| i + 1);
        (at, (at + limit).min(matching.len()))
    } else if let Some(before) = call.params.string("before")? {
        let id = from_cursor(&before)?;
        let at = matching.iter().position(|t| t.id == id).unwrap_or(0);
        (at.saturating_sub(limit), at)
    } else {
        (0, limit.min(matching.len()))
    };
    let page = &matching[start..end];
    let data: Vec<Value> = page
        .iter()
        .map(|t| template_json(t, now_ms, &fields))
        .collect();
    let mut out = json!({ "data": data });
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let mut paging = json!({
            "cursors": {"before": cursor(&first.id), "after": cursor(&last.id)}
        });
        let base = page_url(state, call, &waba.id);
        if end < matching.len() {
            paging["next"] = json!(format!("{base}&after={}", cursor(&last.id)));
        }
        if start > 0 {
            paging["previous"] = json!(format!("{base}&before={}", cursor(&first.id)));
        }
        out["paging"] = paging;
    }
    Ok(out)
}

/// The list URL without its cursor, for `paging.next` and `previous`: the same filters and
/// fields, on this server.
fn page_url(state: &AppState, call: &Call, waba_id: &str) -> String {
    let host = call
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.https { "https" } else { "http" };
    let mut url = format!(
        "{scheme}://{host}/{}/{waba_id}/message_templates?",
        call.version
    );
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for key in ["fields", "limit", "name", "status", "category", "language"] {
        if let Ok(Some(v)) = call.params.string(key) {
            query.append_pair(key, &v);
        } else if let Ok(Some(v)) = call.params.list(key) {
            query.append_pair(key, &v.join(","));
        }
    }
    url.push_str(&query.finish());
    url
}

pub async fn post(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (token, waba) = waba_call(state, call, waba_id, true).await?;
    access::require_manage(&token, &waba)?;
    let input = NewTemplate {
        name: call.params.string("name")?,
        category: call.params.string("category")?,
        language: call.params.string("language")?,
        parameter_format: call.params.string("parameter_format")?,
        components: call.params.json_value("components")?,
    };
    let t = templates::create(
        state.store.as_ref(),
        &state.engine,
        &templates::ReviewConfig::from(&state.config.simulator),
        &waba.id,
        &input,
    )
    .await?;
    Ok(json!({"id": t.id, "status": "PENDING", "category": t.category}))
}

/// `hsm_ids`: a JSON array of ids (numbers or strings) or a comma-separated list.
fn id_list(call: &Call, name: &str) -> Result<Option<Vec<String>>, GraphError> {
    let bad = || GraphError::param(format!("Param {name} must be an array of template ids"));
    let value = match call.params.json_value(name) {
        Ok(v) => v,
        Err(_) => call.params.string(name)?.map(|s| {
            Value::Array(
                s.split(',')
                    .map(|p| Value::String(p.trim().to_string()))
                    .collect(),
            )
        }),
    };
    let Some(value) = value else { return Ok(None) };
    let items = match value {
        Value::Array(items) => items,
        Value::Number(_) | Value::String(_) => vec![value],
        _ => return Err(bad()),
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) if !s.is_empty() => Ok(s),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub async fn delete(state: &AppState, call: &mut Call, waba_id: &str) -> Result<Value, GraphError> {
    let (token, waba) = waba_call(state, call, waba_id, true).await?;
    access::require_manage(&token, &waba)?;
    let name = call.params.string("name")?;
    let hsm_id = call.params.string("hsm_id")?;
    let hsm_ids = id_list(call, "hsm_ids")?;
    let now_ms = state.now_ms();
    let all = templates::list(state.store.as_ref(), &waba.id, now_ms).await?;
    let chosen: Vec<&Template> = match (name, hsm_id, hsm_ids) {
        (None, None, Some(ids)) => {
            if ids.is_empty() || ids.len() > MAX_DELETE_IDS {
                return Err(GraphError::param(format!(
                    "Param hsm_ids must hold between 1 and {MAX_DELETE_IDS} template ids"
                )));
            }
            // Any id that is not a template of this WABA fails the whole call.
            ids.iter()
                .map(|id| {
                    all.iter().find(|t| t.id == *id).ok_or_else(|| {
                        GraphError::param(format!("Template {id} does not exist on this account"))
                    })
                })
                .collect::<Result<_, _>>()?
        }
        (_, _, Some(_)) => {
            return Err(GraphError::param(
                "Param hsm_ids cannot be combined with name or hsm_id",
            ))
        }
        (Some(name), Some(id), None) => {
            let t = all
                .iter()
                .find(|t| t.id == id && t.name == name)
                .ok_or_else(|| {
                    GraphError::param(format!("Template {id} named {name} does not exist"))
                })?;
            vec![t]
        }
        (Some(name), None, None) => {
            let found: Vec<&Template> = all.iter().filter(|t| t.name == name).collect();
            if found.is_empty() {
                return Err(GraphError::param(format!(
                    "Message template \"{name}\" does not exist"
                )));
            }
            found
        }
        (None, Some(_), None) => {
            return Err(GraphError::param("Param name is required with hsm_id"))
        }
        (None, None, None) => {
            return Err(GraphError::param(
                "The parameter name is required (or hsm_ids)",
            ))
        }
    };
    if let Some(t) = chosen.iter().find(|t| t.status_at(now_ms).0 == "DISABLED") {
        return Err(GraphError::param(format!(
            "Template {} is disabled and cannot be deleted",
            t.name
        )));
    }
    let ids: Vec<String> = chosen.iter().map(|t| t.id.clone()).collect();
    state.store.delete_templates(&ids).await?;
    Ok(success())
}

/// The caller's token and template `id`, if the token can see the template's WABA.
async fn visible_template(
    state: &AppState,
    call: &Call,
    id: &str,
) -> Result<(Token, Template), GraphError> {
    let caller = authenticate(state.store.as_ref(), &call.headers, &call.params).await?;
    let Caller::System(token) = caller else {
        return Err(unknown(call, id));
    };
    let t = match state.store.template(id).await? {
        Some(t) if access::can_see(&token, &t.waba_id) => t,
        _ => return Err(unknown(call, id)),
    };
    access::require_management(&token)?;
    Ok((token, t))
}

/// `GET /{template-id}`.
pub async fn get_node(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    let (_, t) = visible_template(state, call, id).await?;
    let fields = wanted_fields(call)?;
    Ok(template_json(&t, state.now_ms(), &fields))
}

/// `POST /{template-id}`: edit the category and/or the components.
pub async fn post_node(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    let (token, t) = visible_template(state, call, id).await?;
    let waba = state
        .store
        .waba(&t.waba_id)
        .await?
        .ok_or_else(|| unknown(call, id))?;
    access::require_manage(&token, &waba)?;
    let category = call.params.string("category")?;
    let components = call.params.json_value("components")?;
    templates::edit(
        state.store.as_ref(),
        &state.engine,
        &templates::ReviewConfig::from(&state.config.simulator),
        id,
        category.as_deref(),
        components.as_ref(),
    )
    .await?;
    Ok(success())
}
