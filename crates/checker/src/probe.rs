//! The one HTTP client of a run: POSTs signed like the delivery engine's, handshake GETs, and
//! what came back, described for the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wabahook_delivery::{egress, tls};
use wabahook_model::egress::EgressGuard;
use wabahook_receiver::signature;

use crate::target::{Options, SetupError, Target};

/// Largest part of an answer kept for the report.
const KEEP: usize = 300;

/// Largest echo read.
const ECHO_MAX: u64 = 8 << 20;

/// How a POST is signed.
pub enum Signing<'a> {
    /// `X-Hub-Signature-256` over the exact bytes with the app secret, as Meta signs.
    Correct,
    None,
    /// These headers instead.
    Headers(Vec<(&'static str, String)>),
    /// Correct, over other bytes than those sent.
    Over(&'a [u8]),
}

/// One request and its answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub status: Option<u16>,
    pub latency: Duration,
    /// The start of the answer's body.
    pub body: String,
    /// Why there was no answer.
    pub error: Option<String>,
    /// The endpoint's certificate did not verify.
    pub certificate_problem: Option<String>,
}

impl Exchange {
    pub fn is_200(&self) -> bool {
        self.status == Some(200)
    }

    pub fn is_2xx(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// `200 "ok" (12 ms)`, or why nothing came back.
    pub fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) if self.body.is_empty() => {
                format!("{s} (empty body, {})", ms(self.latency))
            }
            (Some(s), _) => format!("{s} {:?} ({})", self.body, ms(self.latency)),
            (None, Some(e)) => format!("no answer: {e}"),
            (None, None) => "no answer".into(),
        }
    }
}

pub fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[derive(Clone)]
pub struct Probe {
    client: reqwest::Client,
    guard: Option<Arc<EgressGuard>>,
    pub url: String,
    secret: String,
    pub timeout: Duration,
}

impl Probe {
    pub fn new(target: &Target, options: &Options) -> Result<Probe, SetupError> {
        let parsed =
            url::Url::parse(&target.url).map_err(|_| SetupError::Url(target.url.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SetupError::Url(target.url.clone()));
        }
        if let Some(echo) = &options.echo_url {
            let e = url::Url::parse(echo).map_err(|_| SetupError::Url(echo.clone()))?;
            if !matches!(e.scheme(), "http" | "https") {
                return Err(SetupError::Url(echo.clone()));
            }
        }
        if options.speed_requests == 0 || options.concurrency == 0 {
            return Err(SetupError::Invalid(
                "the speed and concurrency checks need at least one request",
            ));
        }
        if !(options.speed_rate.is_finite() && options.speed_rate > 0.0) {
            return Err(SetupError::Invalid("the rate must be a positive number"));
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .pool_max_idle_per_host(options.concurrency.max(8))
            .user_agent(&options.user_agent);
        if let Some(identity) = &options.client_identity {
            builder = builder.identity(identity.clone());
        }
        let client = tls::trust(
            egress::guard_client(builder, options.egress.as_ref()),
            &options.extra_roots,
        )
        .build()
        .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Probe {
            client,
            guard: options.egress.clone(),
            url: target.url.clone(),
            secret: target.app_secret.clone(),
            timeout: options.timeout,
        })
    }

    /// POSTs `body` to the endpoint, signed as `signing` says.
    pub async fn post(&self, body: &[u8], signing: Signing<'_>) -> Exchange {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        match signing {
            Signing::Correct => {
                req = req.header(signature::HEADER, signature::sign(&self.secret, body));
            }
            Signing::Over(other) => {
                req = req.header(signature::HEADER, signature::sign(&self.secret, other));
            }
            Signing::None => {}
            Signing::Headers(headers) => {
                for (name, value) in headers {
                    req = req.header(name, value);
                }
            }
        }
        self.send(&self.url, req.body(body.to_vec())).await
    }

    /// A correctly signed POST of `body` (signature `sig`) that can run on a task of its own.
    pub fn post_detached(
        &self,
        body: Vec<u8>,
        sig: String,
    ) -> impl std::future::Future<Output = Exchange> + Send + 'static {
        let probe = self.clone();
        async move {
            probe
                .post(&body, Signing::Headers(vec![(signature::HEADER, sig)]))
                .await
        }
    }

    /// The signature Meta would send for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        signature::sign(&self.secret, body)
    }

    /// The SHA-1 signature Meta sends as `X-Hub-Signature`.
    pub fn sign_sha1(&self, body: &[u8]) -> String {
        use hmac::{Mac, SimpleHmac};
        let mut mac = SimpleHmac::<sha1::Sha1>::new_from_slice(self.secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(body);
        format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// GETs `url` (the endpoint with handshake parameters, or the echo URL).
    pub async fn get(&self, url: &str) -> Exchange {
        self.send(url, self.client.get(url)).await
    }

    /// The whole body of a GET of `url` (at most 8 MiB), for the echo.
    pub async fn get_text(&self, url: &str) -> Option<String> {
        if let Some(g) = self.guard.as_deref() {
            egress::check_target(g, url).ok()?;
        }
        let resp = self.client.get(url).send().await.ok()?;
        if resp.content_length().is_some_and(|n| n > ECHO_MAX) {
            return None;
        }
        let bytes = resp.bytes().await.ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Exchange {
        if let Some(refused) = self
            .guard
            .as_deref()
            .and_then(|g| egress::check_target(g, url).err())
        {
            return failed(Duration::ZERO, refused.to_string(), None);
        }
        let started = Instant::now();
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.bytes().await.map(|b| head(&b)).unwrap_or_default();
                Exchange {
                    status: Some(status),
                    latency: started.elapsed(),
                    body,
                    error: None,
                    certificate_problem: None,
                }
            }
            Err(e) => {
                let problem = tls::certificate_problem(&e);
                let why = match (&problem, egress::refusal_of(&e)) {
                    (_, Some(refused)) => refused.to_string(),
                    (Some(p), _) => format!("TLS certificate problem: {p}"),
                    _ if e.is_timeout() => format!("no answer within {}", ms(self.timeout)),
                    _ => wabahook_model::innermost_cause(&e),
                };
                failed(started.elapsed(), why, problem)
            }
        }
    }
}

fn failed(latency: Duration, error: String, certificate_problem: Option<String>) -> Exchange {
    Exchange {
        status: None,
        latency,
        body: String::new(),
        error: Some(error),
        certificate_problem,
    }
}

fn head(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(KEEP);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
