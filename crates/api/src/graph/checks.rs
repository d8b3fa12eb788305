//! Invariants of Graph parameter parsing, shared by the fuzz target `graph_params` (`fuzz/`) and
//! its property-test mirror (`tests/params_properties.rs`), so that both check exactly the same
//! thing through the dispatcher's own functions. Each panics when an invariant is broken; that
//! is what a fuzzer looks for.

use std::collections::HashMap;
use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};

use super::{effective_method, looks_like_version, GraphError, Params};
use crate::config::ApiVersion;

/// The body limit the checks parse under (the default is larger, but nothing here needs it).
const LIMIT: usize = 64 * 1024;

/// Stands for a value's bytes that no encoder could write as text (see [`refusals`]); ASCII
/// letters and digits only, so that every encoding writes it unchanged.
const MARKER: &str = "Zq7wabahookMARKERx9";

/// One way a Graph client sends its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Everything in the URL's query string.
    Query,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` with the given boundary, as `curl -F` sends.
    Multipart,
    /// A JSON object.
    Json,
}

pub const ENCODINGS: [Encoding; 4] = [
    Encoding::Query,
    Encoding::Form,
    Encoding::Multipart,
    Encoding::Json,
];

/// A request as the client would send it.
pub struct Encoded {
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// `query` in the URL and `body` in the body, sent in `encoding` (with [`Encoding::Query`] both
/// go in the URL, the body's last). `None` when `encoding` cannot carry these parameters: a
/// multipart name with a quote or a control character, a value holding the boundary, or a
/// boundary that RFC 2046 does not allow.
pub fn encode(
    encoding: Encoding,
    query: &[(String, String)],
    body: &[(String, String)],
    boundary: &str,
) -> Option<Encoded> {
    let form = |pairs: &[(String, String)]| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let mut uri = format!("/v25.0/1234/subscribed_apps?{}", form(query));
    let (content_type, bytes) = match encoding {
        Encoding::Query => {
            uri = format!(
                "/v25.0/1234/subscribed_apps?{}",
                form(&[query, body].concat())
            );
            (None, Vec::new())
        }
        Encoding::Form => (
            Some("application/x-www-form-urlencoded".to_string()),
            form(body).into_bytes(),
        ),
        Encoding::Json => {
            let members: Vec<String> = body
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(k.as_str()),
                        serde_json::Value::from(v.as_str())
                    )
                })
                .collect();
            (
                Some("application/json".to_string()),
                format!("{{{}}}", members.join(",")).into_bytes(),
            )
        }
        Encoding::Multipart => {
            let bchars = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
            if boundary.is_empty()
                || boundary.len() > 70
                || boundary.ends_with(' ')
                || !boundary.chars().all(bchars)
            {
                return None;
            }
            let delimiter = format!("--{boundary}");
            let header_safe = |s: &str| !s.chars().any(|c| c == '"' || c == '\\' || c.is_control());
            if body
                .iter()
                .any(|(k, v)| !header_safe(k) || k.contains(&delimiter) || v.contains(&delimiter))
            {
                return None;
            }
            let mut out = String::new();
            for (k, v) in body {
                out.push_str(&format!(
                    "{delimiter}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                ));
            }
            out.push_str(&format!("{delimiter}--\r\n"));
            (
                Some(format!("multipart/form-data; boundary=\"{boundary}\"")),
                out.into_bytes(),
            )
        }
    };
    Some(Encoded {
        uri,
        content_type,
        body: bytes,
    })
}

/// Parses a request as the dispatcher does; `None` when no request could carry these parts (a
/// URI or content type that HTTP does not allow).
pub fn parse(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    limit: usize,
) -> Option<Result<Params, GraphError>> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body)).ok()?;
    Some(block_on(Params::from_request(req, limit)).map(|(_, params)| params))
}

/// Any request: parsing never panics, what parses holds no NUL, the method override and the
/// version in the path keep their rules.
pub fn raw(path_and_query: &str, content_type: &str, body: &[u8]) {
    if let Some(first) = path_and_query.split(['/', '?']).find(|s| !s.is_empty()) {
        version(first);
    }
    let uri = format!("/{}", path_and_query.trim_start_matches('/'));
    let Some(parsed) = parse(Method::POST, &uri, Some(content_type), body.to_vec(), LIMIT) else {
        return;
    };
    let Ok(params) = parsed else {
        return;
    };
    for name in params.names() {
        assert!(
            !name.contains('\0'),
            "a parameter name with a NUL was accepted"
        );
        if let Ok(Some(s)) = params.string(name) {
            assert!(!s.contains('\0'), "parameter {name:?} holds a NUL");
        }
        let _ = params.bool(name);
        let _ = params.list(name);
        let _ = params.object(name);
    }
    method_override(&params);
}

/// A version segment: whatever parses is taken for a version by the dispatcher (not for an
/// object id) and prints back to itself.
pub fn version(segment: &str) {
    if let Some(v) = ApiVersion::parse(segment) {
        assert!(
            looks_like_version(segment),
            "{segment:?} parses as a version but is routed as an object id"
        );
        assert_eq!(ApiVersion::parse(&v.to_string()), Some(v), "{segment:?}");
    }
}

/// The `method` parameter overrides only GET and POST, and only to GET, POST or DELETE.
fn method_override(params: &Params) {
    for actual in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
        let overridable = actual == Method::GET || actual == Method::POST;
        match effective_method(&actual, params) {
            Ok(m) if !overridable || !params.contains("method") => assert_eq!(m, actual),
            Ok(m) => assert!(
                [Method::GET, Method::POST, Method::DELETE].contains(&m),
                "override to {m}"
            ),
            Err(e) => {
                assert!(overridable && params.contains("method"), "{e}");
                assert!(matches!(e, GraphError::Param(_)), "{e:?}");
            }
        }
    }
}

/// Well-formed parameters (no NUL) read back exactly in every encoding that can carry them: the
/// same names and values, a later value winning over an earlier one of the same name and the
/// body over the query, and the same method override.
pub fn round_trip(query: &[(String, String)], body: &[(String, String)], boundary: &str) {
    let all = || query.iter().chain(body);
    if all().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return;
    }
    let expected: HashMap<&str, &str> = all().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut overrides = Vec::new();
    for encoding in ENCODINGS {
        let Some(req) = encode(encoding, query, body, boundary) else {
            continue;
        };
        let params = parse(
            Method::POST,
            &req.uri,
            req.content_type.as_deref(),
            req.body,
            LIMIT,
        )
        .unwrap_or_else(|| panic!("{encoding:?}: the encoded request is not HTTP"))
        .unwrap_or_else(|e| panic!("{encoding:?}: well-formed parameters refused: {e}"));
        let mut names: Vec<&str> = params.names().collect();
        names.sort_unstable();
        let mut want: Vec<&str> = expected.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(names, want, "{encoding:?}: names");
        for (name, value) in &expected {
            let got = params
                .string(name)
                .unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
            assert_eq!(got.as_deref(), Some(*value), "{encoding:?}: {name:?}");
        }
        overrides.push(
            effective_method(&Method::POST, &params)
                .map_err(|e| e.to_string())
                .map(|m| m.to_string()),
        );
    }
    assert!(
        overrides.windows(2).all(|w| w[0] == w[1]),
        "the method override differs by encoding: {overrides:?}"
    );
}

/// Given well-formed `pairs` (at least one, no NUL, the last one's name used once), a NUL in
/// the last value, or bytes that are not UTF-8 (the overlong NUL `C0 80`), are refused alike in
/// every encoding, and so is a body one byte over the limit.
pub fn refusals(pairs: &[(String, String)], boundary: &str) {
    let Some(((name, value), rest)) = pairs.split_last() else {
        return;
    };
    if pairs.iter().any(|(k, v)| {
        k.contains('\0') || v.contains('\0') || k.contains(MARKER) || v.contains(MARKER)
    }) || rest.iter().any(|(k, _)| k == name)
    {
        return;
    }
    let with = |v: String| [rest, &[(name.clone(), v)]].concat();
    let nul = with(format!("{value}\0"));
    let overlong = with(format!("{value}{MARKER}"));
    let nul_message = format!(
        "Param {} must not contain NUL characters",
        name.chars().take(64).collect::<String>()
    );
    for encoding in ENCODINGS {
        let Some(req) = encode(encoding, &[], &nul, boundary) else {
            continue;
        };
        match parse(
            Method::POST,
            &req.uri,
            req.content_type.as_deref(),
            req.body,
            LIMIT,
        ) {
            Some(Err(GraphError::Param(m))) => assert_eq!(m, nul_message, "{encoding:?}"),
            other => panic!(
                "{encoding:?}: a NUL was not refused: {:?}",
                other.map(|r| r.map(|_| ()))
            ),
        }

        let Some(mut req) = encode(encoding, &[], &overlong, boundary) else {
            continue;
        };
        let raw: &[u8] = match encoding {
            Encoding::Query | Encoding::Form => b"%C0%80",
            Encoding::Multipart | Encoding::Json => b"\xC0\x80",
        };
        if encoding == Encoding::Query {
            req.uri = req.uri.replace(MARKER, "%C0%80");
        } else {
            req.body = replace(&req.body, MARKER.as_bytes(), raw);
        }
        match parse(
            Method::POST,
            &req.uri,
            req.content_type.as_deref(),
            req.body,
            LIMIT,
        ) {
            Some(Err(GraphError::Param(_))) => {}
            other => panic!(
                "{encoding:?}: an overlong NUL was not refused: {:?}",
                other.map(|r| r.map(|_| ()))
            ),
        }

        if encoding == Encoding::Query {
            continue;
        }
        let Some(req) = encode(encoding, &[], pairs, boundary) else {
            continue;
        };
        let limit = req.body.len() - 1;
        match parse(
            Method::POST,
            &req.uri,
            req.content_type.as_deref(),
            req.body,
            limit,
        ) {
            Some(Err(GraphError::PayloadTooLarge(n))) => assert_eq!(n, limit),
            other => panic!(
                "{encoding:?}: a body over the limit was not refused: {:?}",
                other.map(|r| r.map(|_| ()))
            ),
        }
    }
}

/// `haystack` with the one occurrence of `needle` replaced by `with`.
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the marker is in the encoded request");
    [&haystack[..at], with, &haystack[at + needle.len()..]].concat()
}

/// Runs a parse to completion: bodies here are in memory, and an oversized one is discarded
/// under a timer, which needs a runtime.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}
