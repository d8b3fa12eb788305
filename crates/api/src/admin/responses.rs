//! What the admin API answers: one response type per resource, built from store records, so
//! records never go on the wire and a secret reaches it only where a type has room for it.
//!
//! Fields are declared in alphabetical order: the admin API has always written its keys sorted
//! (it used to go through `serde_json::Value`), and a test below keeps it so.

use serde::Serialize;
use serde_json::Value;
use wabahook_store::{
    App, AppAccess, Attempt, Business, Delivery, Event, PhoneNumber, Token, TokenAsset, Waba,
};

/// A list of one resource.
#[derive(Serialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Serialize)]
pub struct BusinessResponse {
    created_at: i64,
    id: String,
    name: String,
}

impl From<Business> for BusinessResponse {
    fn from(b: Business) -> Self {
        BusinessResponse {
            created_at: b.created_at,
            id: b.id,
            name: b.name,
        }
    }
}

#[derive(Serialize)]
pub struct WabaResponse {
    business_id: String,
    created_at: i64,
    id: String,
    name: String,
}

impl From<Waba> for WabaResponse {
    fn from(w: Waba) -> Self {
        WabaResponse {
            business_id: w.business_id,
            created_at: w.created_at,
            id: w.id,
            name: w.name,
        }
    }
}

#[derive(Serialize)]
pub struct PhoneNumberResponse {
    created_at: i64,
    display_phone_number: String,
    id: String,
    registered: bool,
    verified_name: String,
    waba_id: String,
}

impl From<PhoneNumber> for PhoneNumberResponse {
    fn from(p: PhoneNumber) -> Self {
        PhoneNumberResponse {
            created_at: p.created_at,
            display_phone_number: p.display_phone_number,
            id: p.id,
            registered: p.registered,
            verified_name: p.verified_name,
            waba_id: p.waba_id,
        }
    }
}

#[derive(Serialize)]
pub struct AppResponse {
    business_id: String,
    created_at: i64,
    id: String,
    link: String,
    name: String,
    /// Only in the answer to the app's creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Only in the app's own `GET`: its targets paused by the delivery policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    paused_targets: Option<Vec<super::policies::TargetResponse>>,
}

impl AppResponse {
    /// The answer to the app's creation, the one time its secret is shown.
    pub fn created(app: App) -> Self {
        let secret = Some(app.secret.clone());
        AppResponse {
            secret,
            ..app.into()
        }
    }
}

impl From<App> for AppResponse {
    fn from(a: App) -> Self {
        AppResponse {
            business_id: a.business_id,
            created_at: a.created_at,
            id: a.id,
            link: a.link,
            name: a.name,
            secret: None,
            paused_targets: None,
        }
    }
}

impl AppResponse {
    pub fn with_paused_targets(self, paused: Vec<super::policies::TargetResponse>) -> Self {
        AppResponse {
            paused_targets: Some(paused),
            ..self
        }
    }
}

#[derive(Serialize)]
pub struct AppAccessResponse {
    app_id: String,
    business_id: String,
    role: &'static str,
}

impl From<AppAccess> for AppAccessResponse {
    fn from(a: AppAccess) -> Self {
        AppAccessResponse {
            app_id: a.app_id,
            business_id: a.business_id,
            role: a.role.as_str(),
        }
    }
}

#[derive(Serialize)]
pub struct TokenResponse {
    /// Only in the answer to the token's creation; the store keeps a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    app_id: String,
    assets: Vec<TokenAssetResponse>,
    business_id: String,
    created_at: i64,
    id: String,
    name: String,
    permissions: Vec<String>,
    token_hint: String,
}

#[derive(Serialize)]
pub struct TokenAssetResponse {
    access: &'static str,
    waba_id: String,
}

impl TokenResponse {
    /// The answer to the token's creation, the one time its string is shown.
    pub fn created(token: Token, access_token: Option<String>) -> Self {
        TokenResponse {
            access_token,
            ..token.into()
        }
    }
}

impl From<Token> for TokenResponse {
    fn from(t: Token) -> Self {
        TokenResponse {
            access_token: None,
            app_id: t.app_id,
            assets: t.assets.into_iter().map(TokenAssetResponse::from).collect(),
            business_id: t.business_id,
            created_at: t.created_at,
            id: t.id,
            name: t.name,
            permissions: t.permissions,
            token_hint: t.token_hint,
        }
    }
}

impl From<TokenAsset> for TokenAssetResponse {
    fn from(a: TokenAsset) -> Self {
        TokenAssetResponse {
            access: a.access.as_str(),
            waba_id: a.waba_id,
        }
    }
}

/// An event; `deliveries` is how many it caused (on creation) or the deliveries themselves.
#[derive(Serialize)]
pub struct EventResponse<D> {
    created_at_ms: i64,
    deliveries: D,
    field: String,
    id: String,
    phone_number_id: Option<String>,
    time: i64,
    value: Value,
    waba_id: String,
}

impl<D> EventResponse<D> {
    /// Fails only if the stored value is not JSON, which the store never keeps.
    pub fn new(e: Event, deliveries: D) -> Result<Self, serde_json::Error> {
        Ok(EventResponse {
            created_at_ms: e.created_at_ms,
            deliveries,
            field: e.field,
            id: e.id,
            phone_number_id: e.phone_number_id,
            time: e.time,
            value: serde_json::from_str(&e.value_json)?,
            waba_id: e.waba_id,
        })
    }
}

#[derive(Serialize)]
pub struct DeliveryResponse {
    app_id: String,
    attempts: i64,
    attempts_log: Vec<AttemptResponse>,
    created_at_ms: i64,
    event_id: String,
    expires_at_ms: i64,
    field: String,
    finished_at_ms: Option<i64>,
    id: i64,
    next_attempt_at_ms: i64,
    state: &'static str,
    target_url: String,
    waba_id: String,
}

impl DeliveryResponse {
    pub fn new(d: Delivery, attempts_log: Vec<Attempt>) -> Self {
        DeliveryResponse {
            app_id: d.app_id,
            attempts: d.attempts,
            attempts_log: attempts_log
                .into_iter()
                .map(AttemptResponse::from)
                .collect(),
            created_at_ms: d.created_at_ms,
            event_id: d.event_id,
            expires_at_ms: d.expires_at_ms,
            field: d.field,
            finished_at_ms: d.finished_at_ms,
            id: d.id,
            next_attempt_at_ms: d.next_attempt_at_ms,
            state: d.state.as_str(),
            target_url: d.target_url,
            waba_id: d.waba_id,
        }
    }
}

#[derive(Serialize)]
pub struct AttemptResponse {
    at_ms: i64,
    delivery_id: i64,
    error_class: Option<String>,
    latency_ms: i64,
    response_head: String,
    status: Option<i64>,
}

impl From<Attempt> for AttemptResponse {
    fn from(a: Attempt) -> Self {
        AttemptResponse {
            at_ms: a.at_ms,
            delivery_id: a.delivery_id,
            error_class: a.error_class,
            latency_ms: a.latency_ms,
            response_head: a.response_head,
            status: a.status,
        }
    }
}

/// A page of deliveries, newest first; `next_before` asks for the next page.
#[derive(Serialize)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryResponse>,
    pub next_before: Option<i64>,
}

#[derive(Serialize)]
pub struct Replayed {
    pub replayed: u64,
}

/// A replay by filters: deliveries queued (or, dry, that would be), the events that matched,
/// and the deliveries left out because the same one is still to be sent. Fields sorted, as
/// every admin answer.
#[derive(Serialize)]
pub struct ReplayedByFilters {
    pub already_pending: u64,
    pub dry_run: bool,
    pub events: u64,
    pub replayed: u64,
}

/// A customer's message, accepted: its id (for replies and reactions) and its event.
#[derive(Serialize)]
pub struct SimulatedInbound {
    pub event_id: String,
    pub message_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabahook_model::AssetAccess;
    use wabahook_store::{AccessRole, DeliveryState};

    /// Written directly, each type gives the same bytes as through `serde_json::Value` (sorted
    /// keys), which is how the admin API wrote them before it had types of its own.
    fn same_as_sorted(v: impl Serialize) {
        let direct = serde_json::to_string(&v).unwrap();
        let sorted = serde_json::to_value(&v).unwrap().to_string();
        assert_eq!(direct, sorted);
    }

    #[test]
    fn keys_are_written_sorted() {
        same_as_sorted(BusinessResponse::from(Business {
            id: "1".into(),
            name: "b".into(),
            created_at: 1,
        }));
        same_as_sorted(List {
            data: vec![WabaResponse::from(Waba {
                id: "2".into(),
                business_id: "1".into(),
                name: "w".into(),
                created_at: 1,
            })],
        });
        same_as_sorted(PhoneNumberResponse::from(PhoneNumber {
            id: "3".into(),
            waba_id: "2".into(),
            display_phone_number: "15550001111".into(),
            verified_name: "v".into(),
            registered: true,
            created_at: 1,
        }));
        same_as_sorted(AppResponse::created(App {
            id: "4".into(),
            business_id: "1".into(),
            name: "a".into(),
            link: "https://x.example".into(),
            secret: "s".into(),
            created_at: 1,
        }));
        same_as_sorted(AppAccessResponse::from(AppAccess {
            app_id: "4".into(),
            business_id: "1".into(),
            role: AccessRole::Granted,
        }));
        let token = Token {
            id: "5".into(),
            app_id: "4".into(),
            business_id: "1".into(),
            name: "t".into(),
            token_hash: "h".into(),
            token_hint: "EAA".into(),
            permissions: vec!["p".into()],
            assets: vec![TokenAsset {
                waba_id: "2".into(),
                access: AssetAccess::View,
            }],
            created_at: 1,
        };
        same_as_sorted(TokenResponse::created(token.clone(), Some("EAAx".into())));
        same_as_sorted(TokenResponse::from(token));
        let event = Event {
            id: "6".into(),
            waba_id: "2".into(),
            field: "messages".into(),
            value_json: r#"{"z":1,"a":{"y":2,"b":3}}"#.into(),
            phone_number_id: None,
            time: 1,
            created_at_ms: 1000,
        };
        let delivery = Delivery {
            id: 7,
            event_id: "6".into(),
            app_id: "4".into(),
            waba_id: "2".into(),
            field: "messages".into(),
            target_url: "https://x.example/hook".into(),
            state: DeliveryState::Retrying,
            attempts: 1,
            next_attempt_at_ms: 2000,
            claim_seq: 1,
            created_at_ms: 1000,
            expires_at_ms: 9000,
            finished_at_ms: None,
            claimed_by: None,
        };
        let attempt = Attempt {
            delivery_id: 7,
            at_ms: 1500,
            status: Some(500),
            latency_ms: 3,
            error_class: Some("http_status".into()),
            response_head: "no".into(),
        };
        let page = DeliveryPage {
            data: vec![DeliveryResponse::new(delivery, vec![attempt])],
            next_before: Some(7),
        };
        same_as_sorted(&page);
        same_as_sorted(EventResponse::new(event.clone(), 1).unwrap());
        same_as_sorted(EventResponse::new(event, page.data).unwrap());
        same_as_sorted(Replayed { replayed: 2 });
        same_as_sorted(ReplayedByFilters {
            already_pending: 1,
            dry_run: true,
            events: 3,
            replayed: 2,
        });
    }
}
