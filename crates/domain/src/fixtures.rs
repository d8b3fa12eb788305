//! World records for the domain's unit tests: one business that owns one WABA and one app.

use wabahook_model::AssetAccess;
use wabahook_store::{Token, TokenAsset, Waba};

pub const OWNER: &str = "100000000000001";
pub const OTHER: &str = "100000000000002";
pub const WABA: &str = "200000000000001";
pub const APP: &str = "400000000000001";

pub fn waba(id: &str, business_id: &str) -> Waba {
    Waba {
        id: id.into(),
        business_id: business_id.into(),
        name: "Support".into(),
        created_at: 0,
    }
}

/// A token of [`APP`] issued by [`OWNER`], holding [`WABA`] with `access`.
pub fn token(permissions: &[&str], access: AssetAccess) -> Token {
    Token {
        id: "500000000000001".into(),
        app_id: APP.into(),
        business_id: OWNER.into(),
        name: "system user".into(),
        token_hash: String::new(),
        token_hint: String::new(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        assets: vec![TokenAsset {
            waba_id: WABA.into(),
            access,
        }],
        created_at: 0,
    }
}
