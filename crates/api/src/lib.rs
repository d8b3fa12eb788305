//! The HTTP surface of wabahook: the Graph-compatible API, the admin API and health probes.
//!
//! [`router`] builds one axum `Router` from an [`AppState`]; the server binary only binds it.
//! Requests flow: router → extractor (params, auth) → handler → `wabahook_domain` (the rules) /
//! store. Handlers translate between HTTP and the domain; they own no rule of the world.

pub mod admin;
pub mod body;
pub mod config;
pub mod graph;
pub mod handshake;
mod health;
pub mod limits;
pub mod redact;
pub mod relay;

use std::sync::Arc;

use axum::Router;
use wabahook_delivery::Engine;
use wabahook_model::clock::Clock;
use wabahook_store::DynStore;

pub use config::ApiConfig;
pub use handshake::CallbackVerifier;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<ApiConfig>,
    pub verifier: Arc<CallbackVerifier>,
    /// The delivery engine: its clock and configuration for accepting events, and its wake-up.
    pub engine: Arc<Engine>,
    /// The messaging simulator: its settings and this node's rate counters.
    pub simulator: Arc<wabahook_simulator::send::Simulator>,
}

impl AppState {
    pub fn new(
        store: DynStore,
        config: ApiConfig,
        engine: Arc<Engine>,
    ) -> Result<Self, handshake::VerifierBuildError> {
        let verifier = CallbackVerifier::for_config(&config)?;
        let simulator = Arc::new(wabahook_simulator::send::Simulator::new(
            config.simulator.clone(),
        ));
        Ok(AppState {
            store,
            config: Arc::new(config),
            verifier: Arc::new(verifier),
            engine,
            simulator,
        })
    }

    /// The engine's clock, which the store reads too: every handler takes time from here, so a
    /// test that moves a manual clock moves the API's time with the rest.
    pub fn clock(&self) -> &dyn Clock {
        self.engine.clock().as_ref()
    }

    /// Milliseconds since the Unix epoch on [`AppState::clock`].
    pub fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }

    /// Seconds since the Unix epoch on [`AppState::clock`], the unit of every `*_at` column.
    pub fn now_unix(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The whole HTTP application. Graph paths are matched last, so that `/admin/v1/…` and the
/// probes are never mistaken for Graph object ids. The Graph and admin APIs share one limit of
/// requests in flight; the probes are outside it.
pub fn router(state: AppState) -> Router {
    let request_limits = state.config.limits.clone();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(request_limits.max_in_flight));
    let admin = limits::apply(
        admin::router(state.clone()),
        limits::Surface::Admin,
        in_flight.clone(),
        request_limits.body_timeout,
    );
    // Relay mode's ingest, matched before the Graph paths like the admin API.
    let ingest = state.config.relay.enabled.then(|| {
        limits::apply(
            relay::router(&state.config.relay.ingest_path),
            limits::Surface::Text,
            in_flight.clone(),
            request_limits.body_timeout,
        )
    });
    let graph = limits::apply(
        Router::new().fallback(graph::dispatch),
        limits::Surface::Graph,
        in_flight,
        request_limits.body_timeout,
    );
    Router::new()
        .merge(health::router())
        .nest("/admin/v1", admin)
        .merge(ingest.unwrap_or_default())
        .merge(graph)
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(redact::RequestSpan))
}
