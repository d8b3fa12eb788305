//! The records the store keeps. Plain data; the API and delivery layers decide what they mean,
//! and the API has wire types of its own (records are never serialized).

use std::fmt;

use wabahook_model::AssetAccess;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Business {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waba {
    pub id: String,
    pub business_id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    pub id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    pub registered: bool,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub business_id: String,
    pub name: String,
    pub link: String,
    /// Signs deliveries and authenticates app tokens; never shown after creation.
    pub secret: String,
    pub created_at: i64,
}

/// How an app relates to a business other than its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRole {
    /// The business granted the app access to its WABAs (as Embedded Signup does): the app may
    /// subscribe to and receive webhooks for them.
    Granted,
    /// The app is merely shared with the business: its system users can make tokens for it, but
    /// it cannot receive that business's webhooks.
    Shared,
}

impl AccessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRole::Granted => "GRANTED",
            AccessRole::Shared => "SHARED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GRANTED" => Some(AccessRole::Granted),
            "SHARED" => Some(AccessRole::Shared),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAccess {
    pub app_id: String,
    pub business_id: String,
    pub role: AccessRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAsset {
    pub waba_id: String,
    pub access: AssetAccess,
}

/// A system-user access token. Only a hash of the token string is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub app_id: String,
    pub business_id: String,
    pub name: String,
    pub token_hash: String,
    /// The first characters of the token, so operators can tell tokens apart.
    pub token_hint: String,
    pub permissions: Vec<String>,
    pub assets: Vec<TokenAsset>,
    pub created_at: i64,
}

impl Token {
    pub fn has_permission(&self, p: &str) -> bool {
        self.permissions.iter().any(|x| x == p)
    }
    pub fn access_to(&self, waba_id: &str) -> Option<AssetAccess> {
        self.assets
            .iter()
            .find(|a| a.waba_id == waba_id)
            .map(|a| a.access)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedField {
    pub name: String,
    /// The Graph API version the field was subscribed under; it decides payload shapes.
    pub version: String,
}

/// An app's `whatsapp_business_account` object subscription: its one callback URL and fields.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSubscription {
    pub app_id: String,
    pub object: String,
    pub callback_url: String,
    pub verify_token: String,
    pub verified: bool,
    pub include_values: bool,
    pub include_client_certificate: bool,
    pub active: bool,
    pub fields: Vec<SubscribedField>,
    pub updated_at: i64,
}

/// An alternate callback (WABA or phone-number level) with the token it was verified with.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackOverride {
    pub callback_uri: String,
    pub verify_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WabaSubscription {
    pub app_id: String,
    pub waba_id: String,
    pub override_callback: Option<CallbackOverride>,
    pub created_at: i64,
}

// Records that hold a secret (an app secret, a verify token) show it as `[redacted]` in `Debug`
// output, so that logging or a failed assertion prints none.
const REDACTED: &str = "[redacted]";

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("business_id", &self.business_id)
            .field("name", &self.name)
            .field("link", &self.link)
            .field("secret", &REDACTED)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl fmt::Debug for AppSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSubscription")
            .field("app_id", &self.app_id)
            .field("object", &self.object)
            .field("callback_url", &self.callback_url)
            .field("verify_token", &REDACTED)
            .field("verified", &self.verified)
            .field("include_values", &self.include_values)
            .field(
                "include_client_certificate",
                &self.include_client_certificate,
            )
            .field("active", &self.active)
            .field("fields", &self.fields)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl fmt::Debug for CallbackOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackOverride")
            .field("callback_uri", &self.callback_uri)
            .field("verify_token", &REDACTED)
            .finish()
    }
}

/// Calls counted for one (app, WABA) in one unix minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageBucket {
    pub minute: i64,
    pub calls: i64,
}

/// Something that happened on a WABA, to be notified to subscribed apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub waba_id: String,
    pub field: String,
    /// The change's `value` as compact JSON text, kept exactly as accepted.
    pub value_json: String,
    pub phone_number_id: Option<String>,
    /// Unix seconds: the `entry.time` of deliveries.
    pub time: i64,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not attempted yet.
    Pending,
    /// Attempted, failed, due again later.
    Retrying,
    Delivered,
    /// Gave up after the retry horizon; kept and replayable.
    Expired,
    /// The app unsubscribed from the WABA before delivery.
    Cancelled,
    /// Kept, not attempted and not expiring, while its (app, target) is paused; due again on
    /// resume or replay.
    Paused,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Expired => "expired",
            DeliveryState::Cancelled => "cancelled",
            DeliveryState::Paused => "paused",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "retrying" => DeliveryState::Retrying,
            "delivered" => DeliveryState::Delivered,
            "expired" => DeliveryState::Expired,
            "cancelled" => DeliveryState::Cancelled,
            "paused" => DeliveryState::Paused,
            _ => return None,
        })
    }
}

/// A delivery to create with its event: which app, sent where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub app_id: String,
    pub target_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub app_id: String,
    pub waba_id: String,
    pub field: String,
    pub target_url: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub claim_seq: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// The node holding the delivery's claim, while one does; `None` once the claim ends (an
    /// attempt finished, or the delivery was given back).
    pub claimed_by: Option<String>,
}

/// A delivery claimed for sending, with what its body needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub event: Event,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: i64,
    pub at_ms: i64,
    /// HTTP status, when a response came.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// `timeout`, `connect`, `http_status`, … when the attempt failed.
    pub error_class: Option<String>,
    /// The first KiB of the response body.
    pub response_head: String,
}

/// What an attempt decided for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(i64),
    Expired,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub app_id: Option<String>,
    pub waba_id: Option<String>,
    pub event_id: Option<String>,
    pub state: Option<DeliveryState>,
    /// Only deliveries with an id below this (paging, newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A node known to share the store: when it started and when it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub started_at_ms: i64,
    pub heartbeat_at_ms: i64,
}

/// What giving back the claims of silent nodes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilentRelease {
    /// The nodes found silent and forgotten.
    pub nodes: Vec<String>,
    /// Their deliveries made due again.
    pub deliveries: u64,
}
