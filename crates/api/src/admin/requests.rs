//! What the admin API accepts: one request type per resource, read strictly (unknown keys are
//! errors), and converted into the domain's inputs, so the wire format and the domain can change
//! apart.

use serde::Deserialize;
use wabahook_domain::world::{
    NewApp, NewAppAccess, NewAsset, NewBusiness, NewPhoneNumber, NewToken, NewWaba,
};
use wabahook_model::ids::GraphId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBusiness {
    id: Option<String>,
    name: String,
}

impl From<CreateBusiness> for NewBusiness {
    fn from(r: CreateBusiness) -> Self {
        NewBusiness {
            id: r.id,
            name: r.name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWaba {
    id: Option<String>,
    business_id: GraphId,
    name: String,
}

impl From<CreateWaba> for NewWaba {
    fn from(r: CreateWaba) -> Self {
        NewWaba {
            id: r.id,
            business_id: r.business_id.into(),
            name: r.name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePhoneNumber {
    id: Option<String>,
    waba_id: GraphId,
    display_phone_number: String,
    verified_name: String,
    /// A number is registered unless the request says otherwise.
    #[serde(default = "registered_by_default")]
    registered: bool,
}

fn registered_by_default() -> bool {
    true
}

impl From<CreatePhoneNumber> for NewPhoneNumber {
    fn from(r: CreatePhoneNumber) -> Self {
        NewPhoneNumber {
            id: r.id,
            waba_id: r.waba_id.into(),
            display_phone_number: r.display_phone_number,
            verified_name: r.verified_name,
            registered: r.registered,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    id: Option<String>,
    business_id: GraphId,
    name: String,
    link: Option<String>,
    secret: Option<String>,
}

impl From<CreateApp> for NewApp {
    fn from(r: CreateApp) -> Self {
        NewApp {
            id: r.id,
            business_id: r.business_id.into(),
            name: r.name,
            link: r.link,
            secret: r.secret,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppAccess {
    app_id: GraphId,
    business_id: GraphId,
    /// `GRANTED` or `SHARED`; the domain says which it takes.
    role: String,
}

impl From<CreateAppAccess> for NewAppAccess {
    fn from(r: CreateAppAccess) -> Self {
        NewAppAccess {
            app_id: r.app_id.into(),
            business_id: r.business_id.into(),
            role: r.role,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAssetRequest {
    waba_id: GraphId,
    /// `MANAGE` or `VIEW`.
    access: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    id: Option<String>,
    app_id: GraphId,
    business_id: GraphId,
    name: Option<String>,
    permissions: Vec<String>,
    #[serde(default)]
    assets: Vec<TokenAssetRequest>,
    access_token: Option<String>,
}

impl From<CreateToken> for NewToken {
    fn from(r: CreateToken) -> Self {
        NewToken {
            id: r.id,
            app_id: r.app_id.into(),
            business_id: r.business_id.into(),
            name: r.name,
            permissions: r.permissions,
            assets: r
                .assets
                .into_iter()
                .map(|a| NewAsset {
                    waba_id: a.waba_id.into(),
                    access: a.access,
                })
                .collect(),
            access_token: r.access_token,
        }
    }
}

/// `GET phone_numbers?waba_id=`.
#[derive(Deserialize)]
pub struct WabaFilter {
    pub waba_id: Option<GraphId>,
}

/// `GET app_access?app_id=`.
#[derive(Deserialize)]
pub struct AppFilter {
    pub app_id: Option<GraphId>,
}

/// `POST events`: a value of the caller's, or a sample.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub waba_id: GraphId,
    pub field: String,
    pub value: Option<Box<serde_json::value::RawValue>>,
    pub phone_number_id: Option<GraphId>,
    #[serde(default)]
    pub sample: bool,
}

/// `GET deliveries?…`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub app_id: Option<GraphId>,
    pub waba_id: Option<GraphId>,
    pub event_id: Option<GraphId>,
    pub state: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// `POST replay`: exactly one of a delivery, an event, or an app's failures; or, with `to`,
/// the stored changes matching filters, routed again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub delivery_id: Option<i64>,
    pub event_id: Option<GraphId>,
    pub app_id: Option<GraphId>,
    /// With `app_id` alone: replay its failed and expired deliveries created since then. With
    /// `to`: events stored at or after it.
    pub since: Option<TimeArg>,
    /// With `to`: events stored before it.
    pub until: Option<TimeArg>,
    pub field: Option<String>,
    pub waba_id: Option<GraphId>,
    /// `"current"` or `"original"`: replay by filters, to the apps routing gives now, or to
    /// those of them that had a delivery of the event before.
    pub to: Option<String>,
    /// Most deliveries a replay by filters may queue.
    pub limit: Option<u64>,
    /// Count what a replay by filters would queue, and queue nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A time: Unix seconds, or an RFC 3339 text such as `2026-11-01T00:00:00Z`.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum TimeArg {
    Unix(i64),
    Text(String),
}

impl TimeArg {
    /// Unix milliseconds, or what is wrong with the value of `name`.
    pub fn unix_ms(&self, name: &str) -> Result<i64, String> {
        let secs = match self {
            TimeArg::Unix(s) => *s,
            TimeArg::Text(t) => match t.trim().parse::<i64>() {
                Ok(s) => s,
                Err(_) => time::OffsetDateTime::parse(
                    t.trim(),
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|e| {
                    format!(
                        "{name} must be Unix seconds or an RFC 3339 time \
                         (2026-11-01T00:00:00Z): {e}"
                    )
                })?
                .unix_timestamp(),
            },
        };
        if !(0..=253_402_300_799).contains(&secs) {
            return Err(format!(
                "{name} is out of range (Unix seconds, 0 to year 9999)"
            ));
        }
        Ok(secs * 1000)
    }
}

/// The id in a resource's path: a Graph id, or the request is refused before anything reaches
/// the store (so a NUL or an overlong id is a 400 on every store alike).
pub struct ObjectId(pub GraphId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ObjectId {
    type Rejection = super::AdminError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| super::AdminError::Invalid(e.body_text()))?;
        GraphId::parse(&id).map(ObjectId).ok_or_else(|| {
            let shown: String = id.chars().take(40).collect();
            super::AdminError::Invalid(format!(
                "{shown:?} is not a Graph id (15 to 17 digits, not starting with 0)"
            ))
        })
    }
}

/// `POST /simulate/inbound`: a customer's message to a business number. As in Meta's webhook,
/// the payload of `type` is the attribute named like it (`"text": {"body": …}`).
#[derive(Deserialize)]
pub struct SimulateInbound {
    phone_number_id: String,
    from: wabahook_simulator::inbound::CustomerIn,
    #[serde(rename = "type")]
    kind: String,
    context: Option<InboundContext>,
    /// The Click to WhatsApp ad the message came from (`{}` for a typical one).
    referral: Option<serde_json::Value>,
    /// The type's payload; anything else is refused.
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundContext {
    message_id: String,
}

impl TryFrom<SimulateInbound> for wabahook_simulator::inbound::Inbound {
    type Error = wabahook_simulator::inbound::InboundError;

    fn try_from(r: SimulateInbound) -> Result<Self, Self::Error> {
        use wabahook_simulator::inbound::{payload_of, Content, Inbound};
        let payload = payload_of(&r.kind, &r.rest)?;
        Ok(Inbound {
            phone_number_id: r.phone_number_id,
            from: r.from,
            content: Content::parse(&r.kind, payload)?,
            context: r.context.map(|c| c.message_id),
            referral: r.referral,
            media_url_base: None,
        })
    }
}
