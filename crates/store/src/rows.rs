//! Row shapes as both backends return them (the derives suit any sqlx row), and their conversion
//! into records.

use sqlx::FromRow;
use wabahook_model::AssetAccess;

use crate::records::*;
use crate::StoreError;

#[derive(FromRow)]
pub(crate) struct BusinessRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<BusinessRow> for Business {
    fn from(r: BusinessRow) -> Self {
        Business {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct WabaRow {
    id: String,
    business_id: String,
    name: String,
    created_at: i64,
}

impl From<WabaRow> for Waba {
    fn from(r: WabaRow) -> Self {
        Waba {
            id: r.id,
            business_id: r.business_id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct PhoneNumberRow {
    id: String,
    waba_id: String,
    display_phone_number: String,
    verified_name: String,
    registered: bool,
    created_at: i64,
}

impl From<PhoneNumberRow> for PhoneNumber {
    fn from(r: PhoneNumberRow) -> Self {
        PhoneNumber {
            id: r.id,
            waba_id: r.waba_id,
            display_phone_number: r.display_phone_number,
            verified_name: r.verified_name,
            registered: r.registered,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct AppRow {
    id: String,
    business_id: String,
    name: String,
    link: String,
    secret: String,
    created_at: i64,
}

impl From<AppRow> for App {
    fn from(r: AppRow) -> Self {
        App {
            id: r.id,
            business_id: r.business_id,
            name: r.name,
            link: r.link,
            secret: r.secret,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct AppAccessRow {
    app_id: String,
    business_id: String,
    role: String,
}

impl TryFrom<AppAccessRow> for AppAccess {
    type Error = StoreError;
    fn try_from(r: AppAccessRow) -> Result<Self, StoreError> {
        let role = AccessRole::parse(&r.role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown access role {:?}", r.role)))?;
        Ok(AppAccess {
            app_id: r.app_id,
            business_id: r.business_id,
            role,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct TokenRow {
    pub(crate) id: String,
    app_id: String,
    business_id: String,
    name: String,
    token_hash: String,
    token_hint: String,
    permissions: String,
    created_at: i64,
}

#[derive(FromRow)]
pub(crate) struct AssetRow {
    waba_id: String,
    access: String,
}

impl TokenRow {
    pub(crate) fn into_token(self, assets: Vec<AssetRow>) -> Result<Token, StoreError> {
        let permissions: Vec<String> = serde_json::from_str(&self.permissions)
            .map_err(|e| StoreError::Corrupt(format!("token {} permissions: {e}", self.id)))?;
        let assets = assets
            .into_iter()
            .map(|a| {
                AssetAccess::parse(&a.access)
                    .map(|access| TokenAsset {
                        waba_id: a.waba_id,
                        access,
                    })
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown asset access {:?}", a.access))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Token {
            id: self.id,
            app_id: self.app_id,
            business_id: self.business_id,
            name: self.name,
            token_hash: self.token_hash,
            token_hint: self.token_hint,
            permissions,
            assets,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AppSubscriptionRow {
    app_id: String,
    object: String,
    callback_url: String,
    verify_token: String,
    verified: bool,
    include_values: bool,
    include_client_certificate: bool,
    active: bool,
    updated_at: i64,
}

#[derive(FromRow)]
pub(crate) struct FieldRow {
    name: String,
    version: String,
}

impl AppSubscriptionRow {
    pub(crate) fn into_subscription(self, fields: Vec<FieldRow>) -> AppSubscription {
        AppSubscription {
            app_id: self.app_id,
            object: self.object,
            callback_url: self.callback_url,
            verify_token: self.verify_token,
            verified: self.verified,
            include_values: self.include_values,
            include_client_certificate: self.include_client_certificate,
            active: self.active,
            fields: fields
                .into_iter()
                .map(|f| SubscribedField {
                    name: f.name,
                    version: f.version,
                })
                .collect(),
            updated_at: self.updated_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct WabaSubscriptionRow {
    app_id: String,
    waba_id: String,
    override_callback_uri: Option<String>,
    override_verify_token: Option<String>,
    created_at: i64,
}

impl From<WabaSubscriptionRow> for WabaSubscription {
    fn from(r: WabaSubscriptionRow) -> Self {
        WabaSubscription {
            app_id: r.app_id,
            waba_id: r.waba_id,
            override_callback: r
                .override_callback_uri
                .map(|callback_uri| CallbackOverride {
                    callback_uri,
                    verify_token: r.override_verify_token.unwrap_or_default(),
                }),
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct EventRow {
    id: String,
    waba_id: String,
    field: String,
    value: String,
    phone_number_id: Option<String>,
    time: i64,
    created_at_ms: i64,
}

impl EventRow {
    /// A row of `SELECT id, waba_id, field, value, phone_number_id, time, created_at_ms`, as
    /// SQLite's writer thread reads it.
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(EventRow {
            id: r.get(0)?,
            waba_id: r.get(1)?,
            field: r.get(2)?,
            value: r.get(3)?,
            phone_number_id: r.get(4)?,
            time: r.get(5)?,
            created_at_ms: r.get(6)?,
        })
    }
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            id: r.id,
            waba_id: r.waba_id,
            field: r.field,
            value_json: r.value,
            phone_number_id: r.phone_number_id,
            time: r.time,
            created_at_ms: r.created_at_ms,
        }
    }
}

pub(crate) const DELIVERY_COLUMNS: &str =
    "id, event_id, app_id, waba_id, field, target_url, state, attempts, \
     next_attempt_at, claim_seq, created_at_ms, expires_at_ms, finished_at_ms";

#[derive(FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    event_id: String,
    app_id: String,
    waba_id: String,
    field: String,
    target_url: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    claim_seq: i64,
    created_at_ms: i64,
    expires_at_ms: i64,
    finished_at_ms: Option<i64>,
}

impl DeliveryRow {
    /// A row of [`DELIVERY_COLUMNS`], as SQLite's writer thread reads it.
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(DeliveryRow {
            id: r.get(0)?,
            event_id: r.get(1)?,
            app_id: r.get(2)?,
            waba_id: r.get(3)?,
            field: r.get(4)?,
            target_url: r.get(5)?,
            state: r.get(6)?,
            attempts: r.get(7)?,
            next_attempt_at: r.get(8)?,
            claim_seq: r.get(9)?,
            created_at_ms: r.get(10)?,
            expires_at_ms: r.get(11)?,
            finished_at_ms: r.get(12)?,
        })
    }
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            id: r.id,
            event_id: r.event_id,
            app_id: r.app_id,
            waba_id: r.waba_id,
            field: r.field,
            target_url: r.target_url,
            state: DeliveryState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery state {:?}", r.state)))?,
            attempts: r.attempts,
            next_attempt_at_ms: r.next_attempt_at,
            claim_seq: r.claim_seq,
            created_at_ms: r.created_at_ms,
            expires_at_ms: r.expires_at_ms,
            finished_at_ms: r.finished_at_ms,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AttemptRow {
    delivery_id: i64,
    at_ms: i64,
    status: Option<i64>,
    latency_ms: i64,
    error_class: Option<String>,
    response_head: String,
}

impl From<AttemptRow> for Attempt {
    fn from(r: AttemptRow) -> Self {
        Attempt {
            delivery_id: r.delivery_id,
            at_ms: r.at_ms,
            status: r.status,
            latency_ms: r.latency_ms,
            error_class: r.error_class,
            response_head: r.response_head,
        }
    }
}
