//! Limits on requests, applied to each API surface (Graph, admin, and the plain-text receiver
//! of `wabahook listen`) so that each refuses in its own envelope; the probes stay outside
//! them, so that a load balancer still sees a live node while it sheds load.
//!
//! - In flight: past `max_in_flight` requests at once, more get 503 at once instead of waiting,
//!   since a queue behind a slow store only makes every caller wait longer and holds their
//!   connections meanwhile.
//! - Body time: the whole body must arrive within `body_timeout` of the request's head; a body
//!   still trickling in then gets 408 and its connection is closed. tower-http's body timeout
//!   limits the wait for each chunk, which a client sending a byte now and then never trips.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Json, Router};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::load_shed::LoadShedLayer;
use tower::ServiceBuilder;
use wabahook_model::{ids, GraphErrorBody, GraphErrorEnvelope};

/// The request limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Requests of the Graph and admin APIs handled at once (together); more get 503.
    pub max_in_flight: usize,
    /// How long a request's whole body may take to arrive; longer gets 408.
    pub body_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_in_flight: 1024,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Which API a request belongs to, for the envelope of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Graph,
    Admin,
    /// A webhook receiver, whose senders read only the status: the message as plain text.
    Text,
}

impl Surface {
    fn refuse(self, status: StatusCode, message: String) -> Response {
        match self {
            Surface::Text => (status, format!("{message}\n")).into_response(),
            Surface::Admin => {
                let code = if status == StatusCode::REQUEST_TIMEOUT {
                    "request_timeout"
                } else {
                    "unavailable"
                };
                (
                    status,
                    Json(json!({"error": {"code": code, "message": message}})),
                )
                    .into_response()
            }
            // Code 2 is Graph's "temporary issue, retry", which SDKs already retry on.
            Surface::Graph => (
                status,
                Json(GraphErrorEnvelope {
                    error: GraphErrorBody {
                        message,
                        kind: "OAuthException".into(),
                        code: 2,
                        error_data: None,
                        error_subcode: None,
                        is_transient: Some(true),
                        fbtrace_id: ids::new_fbtrace_id(),
                    },
                }),
            )
                .into_response(),
        }
    }
}

/// `router` under the request limits; `in_flight` is shared by every surface.
pub fn apply<S>(
    router: Router<S>,
    surface: Surface,
    in_flight: Arc<Semaphore>,
    body_timeout: Duration,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(middleware::from_fn_with_state(
            (surface, body_timeout),
            body_deadline,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |e: BoxError| async move {
                    overloaded(surface, e)
                }))
                .layer(LoadShedLayer::new())
                .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight)),
        )
}

fn overloaded(surface: Surface, e: BoxError) -> Response {
    if !e.is::<Overloaded>() {
        // The layers below fail in no other way; should that change, it is still our fault.
        tracing::error!(error = %e, "request limit layer failed");
    }
    let mut resp = surface.refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many requests in flight on this server. Please retry your request later.".into(),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

async fn body_deadline(
    State((surface, limit)): State<(Surface, Duration)>,
    req: Request,
    next: Next,
) -> Response {
    if http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + limit;
    let req = req.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline,
            sleep: None,
            expired: expired.clone(),
        })
    });
    let resp = next.run(req).await;
    if !expired.load(Ordering::Relaxed) {
        return resp;
    }
    // Whatever the handler made of the cut-off body, the truth is that it came too slowly.
    let mut resp = surface.refuse(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "The request body did not arrive within {} ms.",
            limit.as_millis()
        ),
    );
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A request body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    /// Made on the first wait only: most bodies arrive with their head and need no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl DeadlineBody {
    fn expire(&self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.expired.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(BodyTimedOut.into())))
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            // A body that keeps a reader busy with a byte at a time is still held to the deadline.
            if frame.is_some() && this.sleep.as_ref().is_some_and(|s| s.is_elapsed()) {
                return this.expire();
            }
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        this.expire()
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn slow_body() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let stream = futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|b| b.map(Ok::<_, std::io::Error>))
        });
        (tx, Body::from_stream(stream))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_read_whole() {
        let (tx, body) = slow_body();
        let expired = Arc::new(AtomicBool::new(false));
        let body = DeadlineBody {
            inner: body,
            deadline: Instant::now() + Duration::from_secs(10),
            sleep: None,
            expired: expired.clone(),
        };
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                tx.send(Bytes::from_static(b"ab")).await.unwrap();
            }
        });
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"ababab");
        assert!(!expired.load(Ordering::Relaxed));
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_trickling_in_at_the_deadline_fails() {
        let (tx, body) = slow_body();
        let expired = Arc::new(AtomicBool::new(false));
        let body = DeadlineBody {
            inner: body,
            deadline: Instant::now() + Duration::from_secs(5),
            sleep: None,
            expired: expired.clone(),
        };
        let _sender = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if tx.send(Bytes::from_static(b"a")).await.is_err() {
                    return;
                }
            }
        });
        let err = body.collect().await.unwrap_err();
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert!(expired.load(Ordering::Relaxed));
    }
}
