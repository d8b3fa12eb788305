//! Request logs without secrets. Graph clients may pass tokens and secrets in the query string
//! (`?access_token=`, `client_secret=`, `hub.verify_token=`), so the request span records the
//! path and a query whose secret values are replaced; headers (`Authorization`) are never
//! recorded. tower-http's default span logs the whole URI, hence a span of our own. The
//! redaction itself is `wabahook_model::redact`, which callback URLs in logs go through too.

use std::fmt;

use axum::http::{Request, Uri};
use tower_http::trace::MakeSpan;
use tracing::Span;
use wabahook_model::redact::{Hide, RedactedQuery};

pub use wabahook_model::redact::{is_secret_param, REDACTED};

/// A URI's path and query, with the values of secret parameters replaced by [`REDACTED`]; the
/// scheme and authority (which may hold user information) are left out.
pub struct RedactedUri<'a>(pub &'a Uri);

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        match self.0.query() {
            Some(query) => write!(
                f,
                "?{}",
                RedactedQuery {
                    query,
                    hide: Hide::SecretValues
                }
            ),
            None => Ok(()),
        }
    }
}

/// The span of each request: method, redacted URI and version, at DEBUG like tower-http's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            uri = %RedactedUri(request.uri()),
            version = ?request.version(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(uri: &str) -> String {
        RedactedUri(&uri.parse().unwrap()).to_string()
    }

    #[test]
    fn secret_values_are_replaced_and_the_rest_kept() {
        assert_eq!(
            redacted("/v23.0/me?fields=id,name&access_token=EAAB123&limit=5"),
            "/v23.0/me?fields=id,name&access_token=[redacted]&limit=5"
        );
        assert_eq!(
            redacted("/v23.0/oauth/access_token?client_id=1&client_secret=s3cr3t&grant_type=client_credentials"),
            "/v23.0/oauth/access_token?client_id=1&client_secret=[redacted]&grant_type=client_credentials"
        );
        assert_eq!(
            redacted("/hook?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42"),
            "/hook?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=42"
        );
        assert_eq!(
            redacted("/x?verify_token=vt&appsecret_proof=abc&code=xyz&input_token=t"),
            "/x?verify_token=[redacted]&appsecret_proof=[redacted]&code=[redacted]&input_token=[redacted]"
        );
        assert_eq!(redacted("/healthz"), "/healthz");
        assert_eq!(redacted("/x?"), "/x?");
    }

    #[test]
    fn encoded_and_odd_names_are_caught() {
        assert_eq!(
            redacted("/x?access%5Ftoken=t1&hub%2Everify_token=t2&ACCESS_TOKEN=t3"),
            "/x?access%5Ftoken=[redacted]&hub%2Everify_token=[redacted]&ACCESS_TOKEN=[redacted]"
        );
        // A secret name without a value, or given twice, leaks nothing either.
        assert_eq!(
            redacted("/x?access_token&access_token=a=b&access_token=c"),
            "/x?access_token=[redacted]&access_token=[redacted]&access_token=[redacted]"
        );
    }

    #[test]
    fn the_authority_is_left_out() {
        assert_eq!(
            redacted("http://user:pass@example.com/p?access_token=t"),
            "/p?access_token=[redacted]"
        );
    }
}
