//! Reading nested errors: what HTTP clients report at the top ("error sending request") is
//! generic, the innermost cause says what happened ("Connection refused").

use std::error::Error;

/// The text of the innermost cause of `e` (its own text when it has no source).
pub fn innermost_cause(e: &(dyn Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn walks_to_the_last_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        assert_eq!(innermost_cause(&Outer(io)), "Connection refused");
        let alone = std::io::Error::other("alone");
        assert_eq!(innermost_cause(&alone), "alone");
    }
}
