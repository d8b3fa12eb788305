//! Graph call parameters, gathered the way Graph accepts them: query string, JSON body,
//! form-encoded body or multipart form (as `curl -F` sends). Body values win over query values.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

use super::error::GraphError;
use crate::body::BodyError;

#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Json(Value),
}

impl Param {
    /// Whether the value holds a NUL anywhere: no store keeps one in text, so it is refused
    /// at the edge.
    fn has_nul(&self) -> bool {
        fn json(v: &Value) -> bool {
            match v {
                Value::String(s) => s.contains('\0'),
                Value::Array(a) => a.iter().any(json),
                Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || json(v)),
                _ => false,
            }
        }
        match self {
            Param::Text(s) => s.contains('\0'),
            Param::Json(v) => json(v),
        }
    }
}

#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, Param>,
}

impl Params {
    /// Reads every parameter of `req`, refusing bodies over `limit` bytes.
    pub async fn from_request(req: Request, limit: usize) -> Result<(HeaderMap, Self), GraphError> {
        let (parts, body) = req.into_parts();
        let mut params = Params::default();
        if let Some(q) = parts.uri.query() {
            for (k, v) in form_pairs(q.as_bytes())? {
                params.values.insert(k, Param::Text(v));
            }
        }
        let bytes = crate::body::read_limited(body, limit)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => GraphError::PayloadTooLarge(limit),
                BodyError::Unreadable(e) => {
                    GraphError::param(format!("The request body could not be read: {e}"))
                }
            })?;
        if !bytes.is_empty() {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if content_type.starts_with("application/json") {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| GraphError::param(format!("Invalid JSON in request body: {e}")))?;
                let Value::Object(map) = value else {
                    return Err(GraphError::param("The JSON request body must be an object"));
                };
                for (k, v) in map {
                    params.values.insert(k, Param::Json(v));
                }
            } else if content_type.starts_with("multipart/form-data") {
                let req = Request::from_parts(parts.clone(), Body::from(bytes));
                let mut form = Multipart::from_request(req, &())
                    .await
                    .map_err(|e| GraphError::param(format!("Invalid multipart body: {e}")))?;
                while let Some(field) = form
                    .next_field()
                    .await
                    .map_err(|e| GraphError::param(format!("Invalid multipart body: {e}")))?
                {
                    let Some(name) = field.name().map(str::to_owned) else {
                        continue;
                    };
                    // The bytes as sent: multer's `text()` would drop a leading byte-order
                    // mark and replace bad UTF-8, so a value would differ by encoding.
                    let bytes = field.bytes().await.map_err(|e| {
                        GraphError::param(format!("Invalid multipart field {name}: {e}"))
                    })?;
                    let text = utf8(bytes.to_vec(), &name)?;
                    params.values.insert(name, Param::Text(text));
                }
            } else {
                // Graph treats a body without a JSON or multipart type as a form.
                for (k, v) in form_pairs(&bytes)? {
                    params.values.insert(k, Param::Text(v));
                }
            }
        }
        if let Some(name) = params
            .values
            .iter()
            .find_map(|(k, v)| (k.contains('\0') || v.has_nul()).then_some(k))
        {
            return Err(GraphError::param(format!(
                "Param {} must not contain NUL characters",
                shorten(name)
            )));
        }
        Ok((parts.headers, params))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A string parameter. Numbers are accepted as their decimal text, as Graph does.
    pub fn string(&self, name: &str) -> Result<Option<String>, GraphError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Param::Text(s)) => Ok(Some(s.clone())),
            Some(Param::Json(Value::String(s))) => Ok(Some(s.clone())),
            Some(Param::Json(Value::Number(n))) => Ok(Some(n.to_string())),
            Some(Param::Json(Value::Null)) => Ok(None),
            Some(Param::Json(_)) => {
                Err(GraphError::param(format!("Param {name} must be a string")))
            }
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, GraphError> {
        let bad = || GraphError::param(format!("Param {name} must be a boolean"));
        match self.values.get(name) {
            None | Some(Param::Json(Value::Null)) => Ok(None),
            Some(Param::Json(Value::Bool(b))) => Ok(Some(*b)),
            // Graph takes 1 and 0 as well, and SDKs that print a boolean capitalised (Python's
            // `True`) get through too.
            Some(Param::Json(Value::Number(n))) => match n.as_u64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(bad()),
            },
            Some(Param::Json(Value::String(s))) | Some(Param::Text(s)) => {
                if s == "1" || s.eq_ignore_ascii_case("true") {
                    Ok(Some(true))
                } else if s == "0" || s.eq_ignore_ascii_case("false") {
                    Ok(Some(false))
                } else {
                    Err(bad())
                }
            }
            Some(Param::Json(_)) => Err(bad()),
        }
    }

    /// A list of strings: a JSON array, or text holding a JSON array or a comma-separated list.
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, GraphError> {
        let bad = || {
            GraphError::param(format!(
                "Param {name} must be an array of strings or a comma-separated list"
            ))
        };
        let from_array = |items: &Vec<Value>| -> Result<Vec<String>, GraphError> {
            items
                .iter()
                .map(|v| v.as_str().map(|s| s.trim().to_string()).ok_or_else(bad))
                .collect()
        };
        let list = match self.values.get(name) {
            None | Some(Param::Json(Value::Null)) => return Ok(None),
            Some(Param::Json(Value::Array(items))) => from_array(items)?,
            Some(Param::Json(Value::String(s))) | Some(Param::Text(s)) => {
                let t = s.trim();
                if t.starts_with('[') {
                    match serde_json::from_str::<Value>(t) {
                        Ok(Value::Array(items)) => from_array(&items)?,
                        _ => return Err(bad()),
                    }
                } else {
                    t.split(',').map(|p| p.trim().to_string()).collect()
                }
            }
            Some(Param::Json(_)) => return Err(bad()),
        };
        Ok(Some(list.into_iter().filter(|s| !s.is_empty()).collect()))
    }

    /// Any JSON parameter: JSON as sent, or text holding JSON (as form and multipart bodies
    /// carry arrays and objects).
    pub fn json_value(&self, name: &str) -> Result<Option<Value>, GraphError> {
        match self.values.get(name) {
            None | Some(Param::Json(Value::Null)) => Ok(None),
            Some(Param::Json(v)) => Ok(Some(v.clone())),
            Some(Param::Text(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| GraphError::param(format!("Param {name} must be valid JSON"))),
        }
    }

    /// A JSON object parameter, given as JSON or as text holding a JSON object.
    pub fn object(&self, name: &str) -> Result<Option<Map<String, Value>>, GraphError> {
        let bad = || GraphError::param(format!("Param {name} must be a JSON object"));
        match self.values.get(name) {
            None | Some(Param::Json(Value::Null)) => Ok(None),
            Some(Param::Json(Value::Object(m))) => Ok(Some(m.clone())),
            Some(Param::Json(Value::String(s))) | Some(Param::Text(s)) => {
                match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(m)) => Ok(Some(m)),
                    _ => Err(bad()),
                }
            }
            Some(Param::Json(_)) => Err(bad()),
        }
    }

    /// The names of every parameter, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Every parameter but the access token as one JSON object, for calls whose body is a
    /// document (sending a message): form and multipart values holding a JSON object or array
    /// are read as JSON, as Graph reads them.
    pub fn to_json(&self) -> Map<String, Value> {
        self.values
            .iter()
            .filter(|(k, _)| k.as_str() != "access_token")
            .map(|(k, v)| {
                let value = match v {
                    Param::Json(j) => j.clone(),
                    Param::Text(t) => {
                        let trimmed = t.trim_start();
                        match trimmed.starts_with('{') || trimmed.starts_with('[') {
                            true => {
                                serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
                            }
                            false => Value::String(t.clone()),
                        }
                    }
                };
                (k.clone(), value)
            })
            .collect()
    }
}

/// `application/x-www-form-urlencoded` pairs, as `form_urlencoded` splits them but refusing what
/// is not UTF-8 once decoded (as a JSON body must be), where that crate would replace it.
fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, GraphError> {
    let decode = |raw: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    };
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = String::from_utf8(decode(name)).map_err(|e| {
                let shown = String::from_utf8_lossy(e.as_bytes());
                GraphError::param(format!("Param {} must be valid UTF-8", shorten(&shown)))
            })?;
            let value = utf8(decode(value), &name)?;
            Ok((name, value))
        })
        .collect()
}

/// A parameter's value as text; bytes that are not UTF-8 (an overlong NUL, Latin-1) are
/// refused in every encoding alike rather than changed.
fn utf8(bytes: Vec<u8>, name: &str) -> Result<String, GraphError> {
    String::from_utf8(bytes)
        .map_err(|_| GraphError::param(format!("Param {} must be valid UTF-8", shorten(name))))
}

/// A parameter's name as an error message shows it: without NULs, at most 64 characters.
fn shorten(name: &str) -> String {
    name.chars().filter(|c| *c != '\0').take(64).collect()
}

/// A string field of a JSON object parameter, with the same type rule as [`Params::string`].
pub fn object_string(
    obj: &Map<String, Value>,
    outer: &str,
    name: &str,
) -> Result<Option<String>, GraphError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::param(format!(
            "Param {outer}[{name}] must be a string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, Param)]) -> Params {
        Params {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn lists_from_every_shape() {
        let p = params(&[
            ("a", Param::Text("messages, account_update".into())),
            ("b", Param::Text("[\"messages\",\"security\"]".into())),
            ("c", Param::Json(serde_json::json!(["x", "y"]))),
            ("d", Param::Json(serde_json::json!([1]))),
            ("e", Param::Json(serde_json::json!({"k": 1}))),
        ]);
        assert_eq!(
            p.list("a").unwrap().unwrap(),
            ["messages", "account_update"]
        );
        assert_eq!(p.list("b").unwrap().unwrap(), ["messages", "security"]);
        assert_eq!(p.list("c").unwrap().unwrap(), ["x", "y"]);
        assert!(p.list("d").is_err());
        assert!(p.list("e").is_err());
        assert_eq!(p.list("missing").unwrap(), None);
    }

    #[test]
    fn booleans_and_strings() {
        let p = params(&[
            ("t", Param::Text("true".into())),
            ("f", Param::Json(Value::Bool(false))),
            ("bad", Param::Text("yes".into())),
            ("obj", Param::Json(serde_json::json!({}))),
            ("num", Param::Json(serde_json::json!(12))),
            ("one", Param::Json(serde_json::json!(1))),
            ("zero", Param::Text("0".into())),
            ("py", Param::Text("True".into())),
            ("upper", Param::Json(Value::String("FALSE".into()))),
        ]);
        assert_eq!(p.bool("t").unwrap(), Some(true));
        assert_eq!(p.bool("f").unwrap(), Some(false));
        assert_eq!(p.bool("one").unwrap(), Some(true));
        assert_eq!(p.bool("zero").unwrap(), Some(false));
        assert_eq!(p.bool("py").unwrap(), Some(true));
        assert_eq!(p.bool("upper").unwrap(), Some(false));
        assert!(p.bool("bad").is_err());
        assert!(p.bool("num").is_err());
        assert!(p.bool("obj").is_err());
        assert!(p.string("obj").is_err());
        assert_eq!(p.string("num").unwrap().as_deref(), Some("12"));
    }
}
