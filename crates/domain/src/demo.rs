//! The demo world created on first start of an empty store, so that `serve` is useful at once:
//! a business, a WABA with a registered phone number, an app and a system-user token.

use serde::{Deserialize, Serialize};
use wabahook_model::clock::Clock;
use wabahook_model::Permission;
use wabahook_store::{OnConflict, Store};

use crate::error::DomainError;
use crate::world::{self, NewApp, NewAsset, NewBusiness, NewPhoneNumber, NewToken, NewWaba};

/// Everything a developer needs to make the first calls; written to `demo.json` (mode 0600) and
/// printed at every start by design: the demo is a sandbox convenience. `Debug` leaves out the
/// secret and the token all the same.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoWorld {
    pub business_id: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub app_id: String,
    pub app_secret: String,
    pub access_token: String,
}

impl std::fmt::Debug for DemoWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoWorld")
            .field("business_id", &self.business_id)
            .field("waba_id", &self.waba_id)
            .field("phone_number_id", &self.phone_number_id)
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .field("access_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

pub async fn create(store: &dyn Store, clock: &dyn Clock) -> Result<DemoWorld, DomainError> {
    let fail = OnConflict::Fail;
    let business = world::put_business(
        store,
        clock,
        NewBusiness {
            id: None,
            name: "Lucky Shrub".into(),
        },
        fail,
    )
    .await?;
    let waba = world::put_waba(
        store,
        clock,
        NewWaba {
            id: None,
            business_id: business.id.clone(),
            name: "Lucky Shrub Support".into(),
        },
        fail,
    )
    .await?;
    let phone = world::put_phone_number(
        store,
        clock,
        NewPhoneNumber {
            id: None,
            waba_id: waba.id.clone(),
            display_phone_number: "15550783881".into(),
            verified_name: "Lucky Shrub".into(),
            registered: true,
        },
        fail,
    )
    .await?;
    let app = world::put_app(
        store,
        clock,
        NewApp {
            id: None,
            business_id: business.id.clone(),
            name: "Lucky Shrub Webhooks".into(),
            link: None,
            secret: None,
        },
        fail,
    )
    .await?;
    let token = world::put_token(
        store,
        clock,
        NewToken {
            id: None,
            app_id: app.id.clone(),
            business_id: business.id.clone(),
            name: Some("Lucky Shrub admin system user".into()),
            permissions: vec![Permission::MANAGEMENT.into(), Permission::MESSAGING.into()],
            assets: vec![NewAsset {
                waba_id: waba.id.clone(),
                access: "MANAGE".into(),
            }],
            access_token: None,
        },
        fail,
    )
    .await?;
    Ok(DemoWorld {
        business_id: business.id,
        waba_id: waba.id,
        phone_number_id: phone.id,
        display_phone_number: phone.display_phone_number,
        app_id: app.id,
        app_secret: app.secret,
        access_token: token
            .access_token
            .ok_or_else(|| DomainError::NotFound("the demo token string".into()))?,
    })
}
