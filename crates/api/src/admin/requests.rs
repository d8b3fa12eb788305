//! What the admin API accepts: one request type per resource, read strictly (unknown keys are
//! errors), and converted into the domain's inputs, so the wire format and the domain can change
//! apart.

use serde::Deserialize;
use wabahook_domain::world::{
    NewApp, NewAppAccess, NewAsset, NewBusiness, NewPhoneNumber, NewToken, NewWaba,
};

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
    business_id: String,
    name: String,
}

impl From<CreateWaba> for NewWaba {
    fn from(r: CreateWaba) -> Self {
        NewWaba {
            id: r.id,
            business_id: r.business_id,
            name: r.name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePhoneNumber {
    id: Option<String>,
    waba_id: String,
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
            waba_id: r.waba_id,
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
    business_id: String,
    name: String,
    link: Option<String>,
    secret: Option<String>,
}

impl From<CreateApp> for NewApp {
    fn from(r: CreateApp) -> Self {
        NewApp {
            id: r.id,
            business_id: r.business_id,
            name: r.name,
            link: r.link,
            secret: r.secret,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppAccess {
    app_id: String,
    business_id: String,
    /// `GRANTED` or `SHARED`; the domain says which it takes.
    role: String,
}

impl From<CreateAppAccess> for NewAppAccess {
    fn from(r: CreateAppAccess) -> Self {
        NewAppAccess {
            app_id: r.app_id,
            business_id: r.business_id,
            role: r.role,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAssetRequest {
    waba_id: String,
    /// `MANAGE` or `VIEW`.
    access: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    id: Option<String>,
    app_id: String,
    business_id: String,
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
            app_id: r.app_id,
            business_id: r.business_id,
            name: r.name,
            permissions: r.permissions,
            assets: r
                .assets
                .into_iter()
                .map(|a| NewAsset {
                    waba_id: a.waba_id,
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
    pub waba_id: Option<String>,
}

/// `GET app_access?app_id=`.
#[derive(Deserialize)]
pub struct AppFilter {
    pub app_id: Option<String>,
}

/// `POST events`: a value of the caller's, or a sample.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub waba_id: String,
    pub field: String,
    pub value: Option<Box<serde_json::value::RawValue>>,
    pub phone_number_id: Option<String>,
    #[serde(default)]
    pub sample: bool,
}

/// `GET deliveries?…`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub app_id: Option<String>,
    pub waba_id: Option<String>,
    pub event_id: Option<String>,
    pub state: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// `POST replay`: exactly one of a delivery, an event, or an app's failures.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub delivery_id: Option<i64>,
    pub event_id: Option<String>,
    pub app_id: Option<String>,
    /// Unix seconds; with `app_id`: replay its failed and expired deliveries created since then.
    pub since: Option<i64>,
}
