//! The verification handshake: Meta sends `GET <callback>?hub.mode=subscribe&hub.challenge=…&
//! hub.verify_token=…` and expects the challenge back (HTTP 200) when the token is the one
//! configured, anything else (answer 403) when it is not.

use subtle::ConstantTimeEq;

/// Why a verification request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("hub.mode must be \"subscribe\"")]
    NotSubscribe,
    #[error("hub.challenge is missing")]
    MissingChallenge,
    #[error("hub.verify_token is missing")]
    MissingToken,
    #[error("hub.verify_token does not match")]
    TokenMismatch,
    #[error("the query string is malformed")]
    MalformedQuery,
}

/// Checks the three parameters and returns the challenge to answer with.
pub fn verify(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Result<String, HandshakeError> {
    if mode != Some("subscribe") {
        return Err(HandshakeError::NotSubscribe);
    }
    let token = verify_token.ok_or(HandshakeError::MissingToken)?;
    if !bool::from(token.as_bytes().ct_eq(expected_token.as_bytes())) {
        return Err(HandshakeError::TokenMismatch);
    }
    challenge
        .map(str::to_owned)
        .ok_or(HandshakeError::MissingChallenge)
}

/// [`verify`] on a raw, URL-encoded query string (`hub.mode=subscribe&…`).
pub fn verify_query(query: &str, expected_token: &str) -> Result<String, HandshakeError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| HandshakeError::MalformedQuery)?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    verify(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
        expected_token,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_challenge_only_for_the_right_token() {
        assert_eq!(
            verify_query(
                "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
                "meatyhamhock"
            ),
            Ok("1158201444".into())
        );
        assert_eq!(
            verify_query("hub.mode=subscribe&hub.challenge=1&hub.verify_token=x", "y"),
            Err(HandshakeError::TokenMismatch)
        );
        assert_eq!(
            verify_query(
                "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=y",
                "y"
            ),
            Err(HandshakeError::NotSubscribe)
        );
        assert_eq!(
            verify_query("hub.mode=subscribe&hub.verify_token=y", "y"),
            Err(HandshakeError::MissingChallenge)
        );
        assert_eq!(
            verify_query("hub.mode=subscribe&hub.challenge=1", "y"),
            Err(HandshakeError::MissingToken)
        );
        assert_eq!(verify_query("", "y"), Err(HandshakeError::NotSubscribe));
        // Percent-encoding is decoded.
        assert_eq!(
            verify_query(
                "hub.mode=subscribe&hub.challenge=a%20b&hub.verify_token=t%26u",
                "t&u"
            ),
            Ok("a b".into())
        );
    }
}
