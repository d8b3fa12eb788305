//! Creating and changing the simulated world (businesses, WABAs, phone numbers, apps, access,
//! tokens) with the rules that keep it consistent. The admin API and seed files both go
//! through here, so an object a seed can declare is exactly an object the admin API accepts.
//!
//! The `New*` inputs are also the entries of seed files, hence `Deserialize`; the admin API has
//! request types of its own that convert into them.

use serde::Deserialize;
use wabahook_model::clock::Clock;
use wabahook_model::{ids, secrets, AssetAccess};
use wabahook_store::{
    AccessRole, App, AppAccess, Business, OnConflict, PhoneNumber, Store, Token, TokenAsset, Waba,
};

use crate::error::{DomainError, DomainResult};
use crate::{access, fields};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBusiness {
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWaba {
    pub id: Option<String>,
    pub business_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPhoneNumber {
    pub id: Option<String>,
    pub waba_id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    #[serde(default = "yes")]
    pub registered: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    pub id: Option<String>,
    pub business_id: String,
    pub name: String,
    pub link: Option<String>,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppAccess {
    pub app_id: String,
    pub business_id: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub waba_id: String,
    pub access: String,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub id: Option<String>,
    pub app_id: String,
    pub business_id: String,
    pub name: Option<String>,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub assets: Vec<NewAsset>,
    pub access_token: Option<String>,
}

// Inputs that may carry a secret or a token string show it as `[redacted]` in `Debug` output.
impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp")
            .field("id", &self.id)
            .field("business_id", &self.business_id)
            .field("name", &self.name)
            .field("link", &self.link)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("business_id", &self.business_id)
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .field("assets", &self.assets)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A token as just created or updated, with its string when it is known in clear text
/// (freshly generated or given by the caller).
pub struct PutToken {
    pub token: Token,
    pub access_token: Option<String>,
}

fn check_name(what: &str, name: &str) -> DomainResult<()> {
    if name.trim().is_empty() {
        return Err(DomainError::Invalid(format!("{what} must not be empty")));
    }
    if name.chars().count() > 256 {
        return Err(DomainError::Invalid(format!(
            "{what} must be at most 256 characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

fn check_id(what: &str, id: &Option<String>) -> DomainResult<String> {
    match id {
        Some(id) if ids::is_graph_id(id) => Ok(id.clone()),
        Some(id) => Err(DomainError::Invalid(format!(
            "{what} {id:?} is not a Graph id (15 to 17 digits, not starting with 0)"
        ))),
        None => Ok(ids::new_graph_id()),
    }
}

fn check_secret_like(what: &str, s: &str, min: usize, max: usize) -> DomainResult<()> {
    let ok = (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() && b != b'|');
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "{what} must be {min} to {max} printable ASCII characters without '|' or spaces"
        )))
    }
}

/// Creation times are Unix seconds on the one clock the store and the engine read.
fn unix_seconds(clock: &dyn Clock) -> i64 {
    clock.now_ms().div_euclid(1000)
}

async fn business_must_exist(store: &dyn Store, id: &str) -> DomainResult<Business> {
    store
        .business(id)
        .await?
        .ok_or_else(|| DomainError::Invalid(format!("business_id: no business {id}")))
}

pub async fn put_business(
    store: &dyn Store,
    clock: &dyn Clock,
    input: NewBusiness,
    mode: OnConflict,
) -> DomainResult<Business> {
    check_name("name", &input.name)?;
    let b = Business {
        id: check_id("id", &input.id)?,
        name: input.name,
        created_at: unix_seconds(clock),
    };
    store.put_business(&b, mode).await?;
    Ok(store.business(&b.id).await?.unwrap_or(b))
}

pub async fn put_waba(
    store: &dyn Store,
    clock: &dyn Clock,
    input: NewWaba,
    mode: OnConflict,
) -> DomainResult<Waba> {
    check_name("name", &input.name)?;
    business_must_exist(store, &input.business_id).await?;
    let w = Waba {
        id: check_id("id", &input.id)?,
        business_id: input.business_id,
        name: input.name,
        created_at: unix_seconds(clock),
    };
    store.put_waba(&w, mode).await?;
    Ok(store.waba(&w.id).await?.unwrap_or(w))
}

pub async fn put_phone_number(
    store: &dyn Store,
    clock: &dyn Clock,
    input: NewPhoneNumber,
    mode: OnConflict,
) -> DomainResult<PhoneNumber> {
    check_name("verified_name", &input.verified_name)?;
    let digits = input
        .display_phone_number
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    let shape_ok = input
        .display_phone_number
        .bytes()
        .all(|b| b.is_ascii_digit() || b" +-()".contains(&b));
    if !shape_ok || !(5..=20).contains(&digits) || input.display_phone_number.len() > 32 {
        return Err(DomainError::Invalid(
            "display_phone_number must be a phone number of 5 to 20 digits (digits, spaces, '+', '-', parentheses)".into(),
        ));
    }
    if store.waba(&input.waba_id).await?.is_none() {
        return Err(DomainError::Invalid(format!(
            "waba_id: no WABA {}",
            input.waba_id
        )));
    }
    let p = PhoneNumber {
        id: check_id("id", &input.id)?,
        waba_id: input.waba_id,
        display_phone_number: input.display_phone_number,
        verified_name: input.verified_name,
        registered: input.registered,
        created_at: unix_seconds(clock),
    };
    store.put_phone_number(&p, mode).await?;
    Ok(store.phone_number(&p.id).await?.unwrap_or(p))
}

/// Creates or updates an app. Returns the app with its secret in clear, since the caller must
/// be able to show it once.
pub async fn put_app(
    store: &dyn Store,
    clock: &dyn Clock,
    input: NewApp,
    mode: OnConflict,
) -> DomainResult<App> {
    check_name("name", &input.name)?;
    business_must_exist(store, &input.business_id).await?;
    let id = check_id("id", &input.id)?;
    let link = match input.link {
        Some(link) => {
            let parsed = url::Url::parse(&link)
                .map_err(|_| DomainError::Invalid("link must be an absolute URL".into()))?;
            if !matches!(parsed.scheme(), "http" | "https") || link.len() > 1024 {
                return Err(DomainError::Invalid(
                    "link must be an http(s) URL of at most 1024 characters".into(),
                ));
            }
            link
        }
        None => format!("https://www.facebook.com/games/?app_id={id}"),
    };
    let secret = match input.secret {
        Some(s) => {
            check_secret_like("secret", &s, 8, 128)?;
            s
        }
        // An update that names no secret keeps the stored one (the store treats "" so).
        None if mode == OnConflict::Update && store.app(&id).await?.is_some() => String::new(),
        None => ids::new_app_secret(),
    };
    let app = App {
        id: id.clone(),
        business_id: input.business_id,
        name: input.name,
        link,
        secret,
        created_at: unix_seconds(clock),
    };
    store.put_app(&app, mode).await?;
    store
        .app(&id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("app {id}")))
}

pub async fn put_app_access(store: &dyn Store, input: NewAppAccess) -> DomainResult<AppAccess> {
    let role = AccessRole::parse(&input.role)
        .ok_or_else(|| DomainError::Invalid("role must be \"GRANTED\" or \"SHARED\"".into()))?;
    let app = store
        .app(&input.app_id)
        .await?
        .ok_or_else(|| DomainError::Invalid(format!("app_id: no app {}", input.app_id)))?;
    business_must_exist(store, &input.business_id).await?;
    if app.business_id == input.business_id {
        return Err(DomainError::Invalid(
            "the app is owned by that business already; access is for other businesses".into(),
        ));
    }
    let access = AppAccess {
        app_id: input.app_id,
        business_id: input.business_id,
        role,
    };
    store.put_app_access(&access).await?;
    Ok(access)
}

pub async fn put_token(
    store: &dyn Store,
    clock: &dyn Clock,
    input: NewToken,
    mode: OnConflict,
) -> DomainResult<PutToken> {
    let app = store
        .app(&input.app_id)
        .await?
        .ok_or_else(|| DomainError::Invalid(format!("app_id: no app {}", input.app_id)))?;
    business_must_exist(store, &input.business_id).await?;
    let access = store.app_access(&app.id).await?;
    if !access::business_may_issue_tokens(&app, &input.business_id, &access) {
        return Err(DomainError::Invalid(format!(
            "app {} is neither owned by nor shared with business {}",
            app.id, input.business_id
        )));
    }
    if input.permissions.is_empty() {
        return Err(DomainError::Invalid(
            "permissions must name at least one permission".into(),
        ));
    }
    for p in &input.permissions {
        if !fields::is_well_formed(p) {
            return Err(DomainError::Invalid(format!(
                "permission {p:?} is not a permission name"
            )));
        }
    }
    let mut assets = Vec::with_capacity(input.assets.len());
    for a in &input.assets {
        let level = AssetAccess::parse(&a.access).ok_or_else(|| {
            DomainError::Invalid(format!(
                "assets: access {:?} must be \"MANAGE\" or \"VIEW\"",
                a.access
            ))
        })?;
        let waba = store
            .waba(&a.waba_id)
            .await?
            .ok_or_else(|| DomainError::Invalid(format!("assets: no WABA {}", a.waba_id)))?;
        if !access::token_may_hold(&input.business_id, &waba, &access) {
            return Err(DomainError::Invalid(format!(
                "assets: WABA {} belongs to business {}, which neither issues this token nor granted the app access",
                waba.id, waba.business_id
            )));
        }
        if assets.iter().any(|x: &TokenAsset| x.waba_id == waba.id) {
            return Err(DomainError::Invalid(format!(
                "assets: WABA {} is listed twice",
                waba.id
            )));
        }
        assets.push(TokenAsset {
            waba_id: waba.id,
            access: level,
        });
    }
    let id = check_id("id", &input.id)?;
    let clear = match input.access_token {
        Some(t) => {
            check_secret_like("access_token", &t, 16, 512)?;
            Some(t)
        }
        None if mode == OnConflict::Update && store.token(&id).await?.is_some() => None,
        None => Some(ids::new_access_token()),
    };
    let name = input
        .name
        .unwrap_or_else(|| format!("{} system user", app.name));
    check_name("name", &name)?;
    let token = Token {
        id: id.clone(),
        app_id: app.id,
        business_id: input.business_id,
        name,
        token_hash: clear
            .as_deref()
            .map(secrets::token_hash)
            .unwrap_or_default(),
        token_hint: clear
            .as_deref()
            .map(secrets::token_hint)
            .unwrap_or_default(),
        permissions: input.permissions,
        assets,
        created_at: unix_seconds(clock),
    };
    store.put_token(&token, mode).await?;
    let token = store
        .token(&id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("token {id}")))?;
    Ok(PutToken {
        token,
        access_token: clear,
    })
}
