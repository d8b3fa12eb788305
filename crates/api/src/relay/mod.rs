//! Relay mode's ingest: Meta's real webhooks come in at `relay.ingest_path`, once, and leave as
//! events fanned out by the engine to every internal app, exactly as sandbox events are.
//!
//! GET is Meta's handshake, answered for the verify token of any upstream app. POST reads the raw
//! body, checks `X-Hub-Signature-256` over those bytes against each upstream app's secret, splits
//! it into changes (each `value` kept byte for byte, see [`parse`]), routes each change as
//! `accept` would, and writes it all — ingest log row, events, deliveries, quarantined changes —
//! in ONE store transaction ([`wabahook_store::RelayStore::ingest`]). Meta gets its 200 only
//! after that commit, and a 5xx when the store cannot write, so that it retries.

pub mod parse;
pub mod settings;

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use wabahook_delivery::routing::{self, AcceptError};
use wabahook_domain::world::{self, NewBusiness, NewPhoneNumber, NewWaba};
use wabahook_domain::DomainError;
use wabahook_model::ids;
use wabahook_receiver::{handshake, signature};
use wabahook_store::{
    Event, IngestChange, IngestWrite, Ingested, NewIngest, OnConflict, QuarantinedChange,
    StoreError, UpstreamApp,
};

pub use settings::{RelaySettings, UnknownWabas, UpstreamAppSettings};

use crate::AppState;

/// The ingest's one error type; Meta reads only the status, so the message is plain text.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("X-Hub-Signature-256 is missing")]
    MissingSignature,
    #[error("X-Hub-Signature-256 matches no upstream app's secret")]
    BadSignature,
    #[error("hub.verify_token matches no upstream app")]
    BadVerifyToken,
    #[error("{0}")]
    BadHandshake(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body could not be read: {0}")]
    Unreadable(String),
    /// The store cannot take it now: Meta retries.
    #[error("cannot store the webhook now; retry")]
    Unavailable(String),
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = match &self {
            IngestError::MissingSignature
            | IngestError::BadSignature
            | IngestError::BadVerifyToken => StatusCode::FORBIDDEN,
            IngestError::BadHandshake(_) | IngestError::Unreadable(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unavailable(detail) => {
                tracing::error!(%detail, "relay ingest failed; Meta will retry");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        if status == StatusCode::FORBIDDEN {
            tracing::warn!(error = %self, "relay ingest refused");
        }
        (status, format!("{self}\n")).into_response()
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Unavailable(e.to_string())
    }
}

/// The ingest route at `path`, for [`crate::router`].
pub fn router(path: &str) -> Router<AppState> {
    Router::new().route(path, get(handshake).post(ingest))
}

/// Meta's verification GET: the challenge back when the verify token is any upstream app's.
async fn handshake(
    State(s): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<String, IngestError> {
    let query = query.unwrap_or_default();
    let apps = s.store.upstream_apps().await?;
    let mut refusal = IngestError::BadVerifyToken;
    // Every app is tried, so the time taken says nothing of which token came close.
    let mut answer = None;
    for app in &apps {
        match handshake::verify_query(&query, &app.verify_token) {
            Ok(challenge) => answer = answer.or(Some(challenge)),
            Err(handshake::HandshakeError::TokenMismatch) => {}
            Err(e) => refusal = IngestError::BadHandshake(e.to_string()),
        }
    }
    answer.ok_or(refusal)
}

/// Meta's POST: verified, split, routed and stored in one transaction before the 200.
async fn ingest(State(s): State<AppState>, req: Request) -> Result<StatusCode, IngestError> {
    let limit = s.config.relay.max_body_bytes;
    let signature = header(req.headers(), "x-hub-signature-256");
    let body = crate::body::read_limited(req.into_body(), limit)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge => IngestError::TooLarge(limit),
            crate::body::BodyError::Unreadable(e) => IngestError::Unreadable(e),
        })?;
    let signature = signature.ok_or(IngestError::MissingSignature)?;
    let app = signed_by(&s.store.upstream_apps().await?, &body, &signature)
        .ok_or(IngestError::BadSignature)?;
    let received_at_ms = s.now_ms();
    let outcome = take(&s, &app, &body, signature, received_at_ms).await?;
    if let Ingested::Stored { events, .. } = &outcome {
        if !events.is_empty() {
            s.engine.wake();
        }
    }
    tracing::info!(upstream_app = %app, outcome = ?outcome, "relay ingest");
    Ok(StatusCode::OK)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The upstream app whose secret signed `body`; every app is tried (each check is constant
/// time), so the time taken does not tell which secret came close.
fn signed_by(apps: &[UpstreamApp], body: &[u8], signature: &str) -> Option<String> {
    let mut found = None;
    for app in apps {
        if signature::verify(&app.secret, body, Some(signature)).is_ok() && found.is_none() {
            found = Some(app.id.clone());
        }
    }
    found
}

/// A new write for the same changes is tried on a conflict (another node took the same body
/// or an event id at the same moment); past this many, the store is in trouble.
const MAX_TRIES: usize = 3;

/// Routes the body's changes and stores everything; see [`wabahook_store::RelayStore::ingest`].
async fn take(
    s: &AppState,
    upstream_app_id: &str,
    body: &Bytes,
    signature: String,
    received_at_ms: i64,
) -> Result<Ingested, IngestError> {
    let text = std::str::from_utf8(body);
    let parsed = match text {
        Ok(t) => parse::changes(t),
        Err(e) => Err(format!("the body is not UTF-8: {e}")),
    };
    let (changes, error) = match parsed {
        Ok(c) => (c, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let log = NewIngest {
        upstream_app_id: upstream_app_id.to_string(),
        body: String::from_utf8_lossy(body).into_owned(),
        signature,
        body_hash: hex::encode(Sha256::digest(body)),
        received_at_ms,
        changes: changes.len() as i64,
        error,
    };
    let window_ms = (s.config.relay.dedup_window_secs as i64).saturating_mul(1000);
    let dedup_since_ms = if window_ms == 0 {
        i64::MAX
    } else {
        received_at_ms - window_ms
    };
    let mut tries = 0;
    loop {
        let mut write = IngestWrite {
            log: log.clone(),
            changes: Vec::with_capacity(changes.len()),
            quarantine: Vec::new(),
            expires_at_ms: routing::expires_at(s.engine.config(), received_at_ms),
            dedup_since_ms,
        };
        for c in &changes {
            match route(s, c).await? {
                Some(deliveries) => write.changes.push(IngestChange {
                    event: Event {
                        id: ids::new_ordered_graph_id(received_at_ms),
                        waba_id: c.waba_id.clone(),
                        field: c.field.clone(),
                        value_json: c.value.to_string(),
                        phone_number_id: c.phone_number_id.clone(),
                        time: c.time.unwrap_or(received_at_ms.div_euclid(1000)),
                        created_at_ms: received_at_ms,
                    },
                    deliveries,
                    change_hash: change_hash(&c.waba_id, &c.field, c.value),
                }),
                None => write.quarantine.push(QuarantinedChange {
                    waba_id: c.waba_id.clone(),
                    field: c.field.clone(),
                    value: c.value.to_string(),
                    phone_number_id: c.phone_number_id.clone(),
                }),
            }
        }
        match s.store.ingest(&write).await {
            Err(StoreError::Conflict(_)) if tries + 1 < MAX_TRIES => tries += 1,
            done => return Ok(done?),
        }
    }
}

/// SHA-256 of (WABA, field, value bytes): what makes two changes the same change.
pub fn change_hash(waba_id: &str, field: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [waba_id, field, value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The deliveries of change `c`, or `None` when it goes to quarantine: its WABA or phone number
/// is unknown (and, under `create`, could not be created), or its field is no field name.
async fn route(
    s: &AppState,
    c: &parse::UpstreamChange<'_>,
) -> Result<Option<Vec<wabahook_store::NewDelivery>>, IngestError> {
    let mut created = false;
    loop {
        let routed = routing::deliveries_for(
            s.store.as_ref(),
            s.engine.routes(),
            &c.waba_id,
            &c.field,
            c.phone_number_id.as_deref(),
        )
        .await;
        match routed {
            Ok(d) => return Ok(Some(d)),
            Err(AcceptError::Store(e)) => return Err(e.into()),
            Err(AcceptError::UnknownWaba(_) | AcceptError::ForeignPhoneNumber(..))
                if !created && s.config.relay.unknown_wabas == UnknownWabas::Create =>
            {
                created = true;
                if !create_unknown(s, c).await? {
                    return Ok(None);
                }
            }
            Err(_) => return Ok(None),
        }
    }
}

/// Creates the WABA of `c` (and its phone number) under `relay.business_id`, before the ingest's
/// transaction: creating is idempotent, so a failed ingest leaves a WABA that Meta's retry
/// finds. False when it cannot be done (the phone number is another WABA's, a bad id): the
/// change is then quarantined.
async fn create_unknown(s: &AppState, c: &parse::UpstreamChange<'_>) -> Result<bool, IngestError> {
    let Some(business_id) = s.config.relay.business_id.clone() else {
        return Ok(false);
    };
    let store = s.store.as_ref();
    let clock = s.clock();
    if store.waba(&c.waba_id).await?.is_none() {
        let made = world::put_waba(
            store,
            clock,
            NewWaba {
                id: Some(c.waba_id.clone()),
                business_id: business_id.clone(),
                name: format!("WABA {}", c.waba_id),
            },
            OnConflict::Fail,
        )
        .await;
        if !created_or_there(made)? {
            return Ok(false);
        }
        tracing::info!(waba = %c.waba_id, business = %business_id, "relay created an unknown WABA");
    }
    if let (Some(phone), Some(display)) = (&c.phone_number_id, &c.display_phone_number) {
        if store.phone_number(phone).await?.is_none() {
            let made = world::put_phone_number(
                store,
                clock,
                NewPhoneNumber {
                    id: Some(phone.clone()),
                    waba_id: c.waba_id.clone(),
                    display_phone_number: display.clone(),
                    verified_name: format!("Phone {phone}"),
                    registered: true,
                },
                OnConflict::Fail,
            )
            .await;
            if !created_or_there(made)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether a creation left the object in place: made now, or by another node meanwhile. A store
/// failure is the ingest's failure; a refused input is not.
fn created_or_there<T>(made: Result<T, DomainError>) -> Result<bool, IngestError> {
    match made {
        Ok(_) | Err(DomainError::Conflict(_)) => Ok(true),
        Err(DomainError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "relay could not create an unknown WABA; quarantined");
            Ok(false)
        }
    }
}

/// Creates the business unknown WABAs go under, if it does not exist yet (start-up).
pub async fn ensure_business(
    store: &dyn wabahook_store::Store,
    clock: &dyn wabahook_model::clock::Clock,
    business_id: &str,
) -> Result<(), DomainError> {
    if store.business(business_id).await?.is_some() {
        return Ok(());
    }
    match world::put_business(
        store,
        clock,
        NewBusiness {
            id: Some(business_id.to_string()),
            name: "Relay".into(),
        },
        OnConflict::Fail,
    )
    .await
    {
        Ok(_) | Err(DomainError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Releases the quarantined changes of `waba_id` into events, oldest first, each in a
/// transaction of its own. Returns the ids of the events made and how many stay quarantined
/// (their WABA or phone number is still unknown).
pub async fn release(s: &AppState, waba_id: &str) -> Result<(Vec<String>, usize), StoreError> {
    let mut made = Vec::new();
    let mut left = 0;
    for q in s.store.quarantined(Some(waba_id), false).await? {
        let c = &q.change;
        let routed = routing::deliveries_for(
            s.store.as_ref(),
            s.engine.routes(),
            &c.waba_id,
            &c.field,
            c.phone_number_id.as_deref(),
        )
        .await;
        let deliveries = match routed {
            Ok(d) => d,
            Err(AcceptError::Store(e)) => return Err(e),
            Err(_) => {
                left += 1;
                continue;
            }
        };
        let now = s.now_ms();
        let event = Event {
            id: ids::new_ordered_graph_id(now),
            waba_id: c.waba_id.clone(),
            field: c.field.clone(),
            value_json: c.value.clone(),
            phone_number_id: c.phone_number_id.clone(),
            time: now.div_euclid(1000),
            created_at_ms: now,
        };
        let expires = routing::expires_at(s.engine.config(), now);
        if s.store
            .release_quarantined(q.id, &event, &deliveries, expires)
            .await?
        {
            made.push(event.id);
        }
    }
    if !made.is_empty() {
        s.engine.wake();
    }
    Ok((made, left))
}
