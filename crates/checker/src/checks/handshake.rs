//! The verification handshake: the right token gets exactly the challenge back; a wrong token
//! or missing parameters do not.

use rand::Rng;
use url::Url;

use crate::probe::Exchange;
use crate::report::Check;
use crate::Run;

pub async fn run(run: &Run<'_>) -> Vec<Check> {
    vec![valid(run).await, wrong_token(run).await, missing(run).await]
}

/// `url` with the handshake's parameters added to its own query, as Meta adds them.
fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(params);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

fn challenge() -> String {
    // Meta's challenges are decimal numbers.
    rand::thread_rng()
        .gen_range(1_000_000_000u64..10_000_000_000)
        .to_string()
}

async fn valid(run: &Run<'_>) -> Check {
    let check = Check::new(
        "handshake.valid",
        "the right verify token gets the challenge",
    );
    let challenge = challenge();
    let params = [
        ("hub.mode", "subscribe"),
        ("hub.challenge", challenge.as_str()),
        ("hub.verify_token", run.target.verify_token.as_str()),
    ];
    let url = with_params(&run.probe.url, &params);
    let got = run.probe.get(&url).await;
    let check = check
        .sent(format!(
            "GET {} with hub.mode=subscribe, hub.challenge={challenge} and the verify token",
            run.probe.url
        ))
        .got(got.describe());
    if got.is_200() && got.body == challenge {
        return check.pass("answered 200 with exactly the challenge");
    }
    if got.is_200() {
        let body = got.body.trim();
        let fix = "answer with the value of hub.challenge alone as the body (text/plain): no \
                   quotes, no JSON, no whitespace";
        return if body == challenge {
            check.warn("answered the challenge with whitespace around it", fix)
        } else if body.trim_matches('"') == challenge {
            check.fail("answered the challenge as a JSON string, in quotes", fix)
        } else {
            check.fail(
                "answered 200 without the challenge; Meta would not verify it",
                fix,
            )
        };
    }
    // The endpoint may answer the handshake at another path than its POSTs: say where.
    if let Some(other) = variant_answering(run, &challenge).await {
        return check.fail(
            format!("not answered here, but answered at {other}"),
            "Meta sends the handshake GET to exactly the callback URL you register: serve the \
             GET on the same path as the POSTs",
        );
    }
    check.fail(
        "the handshake was not answered; Meta would not verify this URL",
        "on GET, compare hub.verify_token with your token and answer 200 with hub.challenge",
    )
}

/// The URL with its trailing slash toggled, when that one answers the handshake.
async fn variant_answering(run: &Run<'_>, challenge: &str) -> Option<String> {
    let mut u = Url::parse(&run.probe.url).ok()?;
    let path = u.path().to_owned();
    let other = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p.to_owned(),
        Some(_) => return None,
        None => format!("{path}/"),
    };
    u.set_path(&other);
    let base = u.to_string();
    let params = [
        ("hub.mode", "subscribe"),
        ("hub.challenge", challenge),
        ("hub.verify_token", run.target.verify_token.as_str()),
    ];
    let got: Exchange = run.probe.get(&with_params(&base, &params)).await;
    (got.is_200() && got.body.trim() == challenge).then_some(base)
}

async fn wrong_token(run: &Run<'_>) -> Check {
    let check = Check::new("handshake.wrong_token", "a wrong verify token is refused");
    let challenge = challenge();
    let wrong = format!("{}-not-it", run.target.verify_token);
    let params = [
        ("hub.mode", "subscribe"),
        ("hub.challenge", challenge.as_str()),
        ("hub.verify_token", wrong.as_str()),
    ];
    let got = run.probe.get(&with_params(&run.probe.url, &params)).await;
    let check = check
        .sent("GET with hub.mode=subscribe, a challenge and a wrong verify token")
        .got(got.describe());
    if got.is_200() && got.body.trim().trim_matches('"') == challenge {
        check.fail(
            "answered the challenge to a wrong token: anyone could register this URL",
            "answer the challenge only when hub.verify_token equals your token; else 403",
        )
    } else if got.status.is_none() {
        check.warn(
            "no answer",
            "make sure the endpoint answers the handshake GET, then run again",
        )
    } else {
        check.pass(format!("refused ({})", got.status.unwrap_or_default()))
    }
}

async fn missing(run: &Run<'_>) -> Check {
    let check = Check::new(
        "handshake.missing_params",
        "a GET without the handshake's parameters is refused",
    );
    let bare = run.probe.get(&run.probe.url).await;
    let challenge = challenge();
    let params = [
        ("hub.challenge", challenge.as_str()),
        ("hub.verify_token", run.target.verify_token.as_str()),
    ];
    let no_mode = run.probe.get(&with_params(&run.probe.url, &params)).await;
    let check = check
        .sent("GET without parameters; GET with the token and a challenge but no hub.mode")
        .got(format!("{}; {}", bare.describe(), no_mode.describe()));
    if bare.status.is_some_and(|s| s >= 500) || no_mode.status.is_some_and(|s| s >= 500) {
        return check.fail(
            "answered a server error: the handshake code fails on missing parameters",
            "treat a missing hub.mode, hub.verify_token or hub.challenge as a bad request (400)",
        );
    }
    if no_mode.is_200() && no_mode.body.trim().trim_matches('"') == challenge {
        return check.warn(
            "answered the challenge without hub.mode=subscribe",
            "check hub.mode == \"subscribe\" as well as the token",
        );
    }
    if bare.is_2xx() {
        return check.warn(
            "answered 2xx to a GET without parameters",
            "refuse a GET without the handshake's parameters (400) unless it is a health probe \
             you rely on",
        );
    }
    if bare.status.is_none() {
        return check.warn("no answer", "make sure the endpoint is up, then run again");
    }
    check.pass("refused both")
}
