//! Secrets kept out of logs and error messages: URLs and query strings with their secret parts
//! replaced, the one implementation every crate that logs a URL uses.
//!
//! Two strengths, for two kinds of URL:
//! - a request's query ([`Hide::SecretValues`]): Graph clients put tokens there
//!   (`?access_token=`), and only values whose name looks secret are hidden, so that a log
//!   reader still sees `fields=` or `limit=`;
//! - a callback URL ([`RedactedUrl`]): whoever configured it may have put a credential in any
//!   part of it, so the userinfo, every query value and the fragment are hidden, and the scheme,
//!   host, port, path and parameter names are kept, which is what a reader needs to tell
//!   receivers apart.

use std::fmt;

use url::Url;

/// What stands in a log for a secret value.
pub const REDACTED: &str = "[redacted]";

/// Whether a query parameter may carry a secret. Broad on purpose: a name that merely looks
/// like one costs a log reader a value, a missed one leaks a credential into every log store.
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "password", "proof", "signature"]
        .iter()
        .any(|word| name.contains(word))
        || name == "code"
}

/// Which values of a query are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hide {
    /// Those of parameters whose name looks secret ([`is_secret_param`]); a secret name given
    /// without a value is shown with a hidden one, so its form tells nothing either.
    SecretValues,
    /// Every value; a part without `=` is taken for a value, as `?<key>` is a common way of
    /// putting a key in a URL.
    AllValues,
}

/// A query string (without its `?`) with values hidden as `hide` says; names are kept as
/// written.
#[derive(Debug, Clone, Copy)]
pub struct RedactedQuery<'a> {
    pub query: &'a str,
    pub hide: Hide,
}

impl fmt::Display for RedactedQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.query.split('&').enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            let (raw_name, has_value) = match pair.split_once('=') {
                Some((name, _)) => (name, true),
                None => (pair, false),
            };
            let hidden = match self.hide {
                // Compared decoded, so that `access%5Ftoken` or `hub%2Everify_token` is caught.
                Hide::SecretValues => url::form_urlencoded::parse(raw_name.as_bytes())
                    .next()
                    .is_some_and(|(name, _)| is_secret_param(&name)),
                Hide::AllValues => !pair.is_empty(),
            };
            match (hidden, has_value || self.hide == Hide::SecretValues) {
                (false, _) => f.write_str(pair)?,
                (true, true) => write!(f, "{raw_name}={REDACTED}")?,
                (true, false) => f.write_str(REDACTED)?,
            }
        }
        Ok(())
    }
}

/// A URL fit for a log line or an error message: the userinfo (`user:password@`), the values
/// of the query and the fragment are replaced by [`REDACTED`]. Whatever it is given, it never
/// panics: a string that does not parse as a URL is redacted by its punctuation, taking
/// everything before the last `@` of its authority for userinfo.
#[derive(Debug, Clone, Copy)]
pub struct RedactedUrl<'a>(pub &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(self.0) {
            Ok(url) if !url.cannot_be_a_base() => write_parsed(&url, f),
            // `mailto:`, `data:` and the like: all of it may be the secret.
            Ok(url) => write!(f, "{}:{REDACTED}", url.scheme()),
            Err(_) => write_unparsed(self.0, f),
        }
    }
}

/// [`RedactedUrl`] as a string.
pub fn redact_url(url: &str) -> String {
    RedactedUrl(url).to_string()
}

fn write_parsed(url: &Url, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}://", url.scheme())?;
    if !url.username().is_empty() || url.password().is_some() {
        write!(f, "{REDACTED}@")?;
    }
    // An IPv6 host comes with its brackets.
    f.write_str(url.host_str().unwrap_or(""))?;
    if let Some(port) = url.port() {
        write!(f, ":{port}")?;
    }
    f.write_str(url.path())?;
    write_query_and_fragment(url.query(), url.fragment(), f)
}

/// What the URL parser refused is cut at its first `#` and `?` (both ASCII, so every cut is
/// on a character boundary). Userinfo is looked for up to the query rather than up to the
/// first `/`, since a password may hold a `/`, which is one way such a URL fails to parse.
fn write_unparsed(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (before_fragment, fragment) = match text.split_once('#') {
        Some((b, frag)) => (b, Some(frag)),
        None => (text, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let rest = match before_query.find("://") {
        Some(i) => {
            f.write_str(&before_query[..i + 3])?;
            &before_query[i + 3..]
        }
        None => before_query,
    };
    match rest.rfind('@') {
        Some(at) => write!(f, "{REDACTED}@{}", &rest[at + 1..])?,
        None => f.write_str(rest)?,
    }
    write_query_and_fragment(query, fragment, f)
}

fn write_query_and_fragment(
    query: Option<&str>,
    fragment: Option<&str>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    if let Some(query) = query {
        let hide = Hide::AllValues;
        write!(f, "?{}", RedactedQuery { query, hide })?;
    }
    if fragment.is_some() {
        write!(f, "#{REDACTED}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str, hide: Hide) -> String {
        RedactedQuery { query: q, hide }.to_string()
    }

    #[test]
    fn secret_values_only_are_hidden_in_a_request_query() {
        let hide = Hide::SecretValues;
        assert_eq!(
            query("fields=id,name&access_token=EAAB123&limit=5", hide),
            "fields=id,name&access_token=[redacted]&limit=5"
        );
        assert_eq!(
            query(
                "access%5Ftoken=t1&hub%2Everify_token=t2&ACCESS_TOKEN=t3",
                hide
            ),
            "access%5Ftoken=[redacted]&hub%2Everify_token=[redacted]&ACCESS_TOKEN=[redacted]"
        );
        assert_eq!(
            query("access_token&access_token=a=b&code=c", hide),
            "access_token=[redacted]&access_token=[redacted]&code=[redacted]"
        );
        assert_eq!(query("", hide), "");
    }

    #[test]
    fn every_value_is_hidden_in_a_callback_query() {
        let hide = Hide::AllValues;
        assert_eq!(
            query("app=1&sig=abc&empty=&a=b=c", hide),
            "app=[redacted]&sig=[redacted]&empty=[redacted]&a=[redacted]"
        );
        assert_eq!(query("sk_live_123&&x=1", hide), "[redacted]&&x=[redacted]");
    }

    #[test]
    fn userinfo_query_values_and_fragments_are_hidden_in_urls() {
        assert_eq!(
            redact_url("https://user:pa%24%24@hooks.example.com:8443/in/wa?key=K1&app=a#frag"),
            "https://[redacted]@hooks.example.com:8443/in/wa?key=[redacted]&app=[redacted]#[redacted]"
        );
        assert_eq!(
            redact_url("https://only-user@hooks.example.com/x"),
            "https://[redacted]@hooks.example.com/x"
        );
        assert_eq!(
            redact_url("https://hooks.example.com/plain/path"),
            "https://hooks.example.com/plain/path"
        );
        assert_eq!(redact_url("http://h/p?"), "http://h/p?");
        assert_eq!(redact_url("http://h/p#"), "http://h/p#[redacted]");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(
            redact_url("http://u:p@[2001:db8::1]:9000/hook?token=t"),
            "http://[redacted]@[2001:db8::1]:9000/hook?token=[redacted]"
        );
        assert_eq!(
            redact_url("http://[::ffff:127.0.0.1]/"),
            "http://[::ffff:7f00:1]/"
        );
    }

    #[test]
    fn what_does_not_parse_is_redacted_by_its_punctuation() {
        // A `/` in the password makes the URL fail to parse; the password is still hidden.
        assert_eq!(
            redact_url("https://user:pa/ss@host.example/p?k=v#f"),
            "https://[redacted]@host.example/p?k=[redacted]#[redacted]"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        // Without `//`, this parses as scheme `user` and an opaque rest, all of it hidden.
        assert_eq!(redact_url("user:secret@host"), "user:[redacted]");
        assert_eq!(redact_url("//user:secret@host/p"), "[redacted]@host/p");
        assert_eq!(
            redact_url("http://[::1/x?t=1"),
            "http://[::1/x?t=[redacted]"
        );
        assert_eq!(
            redact_url("mailto:someone@example.com"),
            "mailto:[redacted]"
        );
        for odd in [
            "",
            "@",
            "?",
            "#",
            "://",
            "://@",
            "?#@",
            "http://@@/?&=&#",
            "é@ü?ß=é#€",
            "http://",
            "\u{0}://\u{0}@\u{0}",
            "[",
            "http://[",
            "http://:",
            "http://h:99999/",
        ] {
            let out = redact_url(odd);
            assert!(!out.contains("secret"), "{odd:?} → {out:?}");
        }
    }

    #[test]
    fn a_secret_anywhere_but_the_host_and_path_is_never_shown() {
        for url in [
            "https://SECRET:x@h/p",
            "https://x:SECRET@h/p",
            "https://h/p?t=SECRET",
            "https://h/p?SECRET",
            "https://h/p#SECRET",
            "https://h/p?a=1&t=SECRET&b=2",
            "https://x:SE/CRET@h/p",
            "https://SECRET@h/p?=SECRET",
        ] {
            let out = redact_url(url);
            assert!(
                !out.contains("SECRET") && !out.contains("CRET"),
                "{url} → {out}"
            );
            assert!(out.contains("h/p"), "{url} → {out}");
        }
    }
}
