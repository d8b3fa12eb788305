//! Declarative seed files: businesses, WABAs, phone numbers, apps, app access and tokens.
//!
//! Ids, secrets and token strings may be fixed in the file; ids left out are derived from the
//! entry's names, so applying the same seed again finds the same objects and changes nothing.
//! References (`business_id`, `waba_id`, `app_id`) may name an entry of the same seed by its
//! `name` (or, for phone numbers, nothing refers to them) instead of its id.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wabahook_model::clock::Clock;
use wabahook_model::ids;
use wabahook_store::{OnConflict, Store};

use crate::error::DomainError;
use crate::world::{self, NewApp, NewAppAccess, NewBusiness, NewPhoneNumber, NewToken, NewWaba};

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub businesses: Vec<NewBusiness>,
    #[serde(default)]
    pub wabas: Vec<NewWaba>,
    #[serde(default)]
    pub phone_numbers: Vec<NewPhoneNumber>,
    #[serde(default)]
    pub apps: Vec<NewApp>,
    #[serde(default)]
    pub app_access: Vec<NewAppAccess>,
    #[serde(default)]
    pub tokens: Vec<NewToken>,
}

/// What applying a seed produced that exists nowhere else in clear: generated app secrets
/// and token strings, shown once (by the banner; `Debug` shows only their ids).
#[derive(Default, Serialize)]
pub struct SeedReport {
    pub businesses: usize,
    pub wabas: usize,
    pub phone_numbers: usize,
    pub apps: usize,
    pub tokens: usize,
    /// (app id, secret) for apps whose secret was generated now.
    pub generated_secrets: Vec<(String, String)>,
    /// (token id, token) for tokens whose string was generated now.
    pub generated_tokens: Vec<(String, String)>,
}

impl std::fmt::Debug for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = |v: &[(String, String)]| v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        f.debug_struct("SeedReport")
            .field("businesses", &self.businesses)
            .field("wabas", &self.wabas)
            .field("phone_numbers", &self.phone_numbers)
            .field("apps", &self.apps)
            .field("tokens", &self.tokens)
            .field("generated_secrets_of", &ids(&self.generated_secrets))
            .field("generated_tokens", &ids(&self.generated_tokens))
            .finish()
    }
}

impl Seed {
    /// Parses JSON, or TOML when `toml` is true.
    pub fn parse(text: &str, toml: bool) -> Result<Seed, DomainError> {
        if toml {
            toml::from_str(text).map_err(|e| DomainError::SeedParse(e.to_string()))
        } else {
            serde_json::from_str(text).map_err(|e| DomainError::SeedParse(e.to_string()))
        }
    }
}

/// Name → id within one kind of entry; a name used twice resolves to nothing.
#[derive(Default)]
struct Names(HashMap<String, Option<String>>);

impl Names {
    fn add(&mut self, name: &str, id: &str) {
        self.0
            .entry(name.to_string())
            .and_modify(|v| *v = None)
            .or_insert_with(|| Some(id.to_string()));
    }
    /// `reference` is an id, or the name of an entry declared in the seed.
    fn resolve(&self, reference: &str) -> String {
        match self.0.get(reference) {
            Some(Some(id)) => id.clone(),
            _ => reference.to_string(),
        }
    }
}

fn entry_err(what: impl Into<String>) -> impl FnOnce(DomainError) -> DomainError {
    let what = what.into();
    move |source| DomainError::SeedEntry {
        what,
        source: Box::new(source),
    }
}

pub async fn apply(
    store: &dyn Store,
    clock: &dyn Clock,
    seed: Seed,
) -> Result<SeedReport, DomainError> {
    let mut report = SeedReport::default();
    let up = OnConflict::Update;

    let mut businesses = Names::default();
    for mut b in seed.businesses {
        let id =
            b.id.get_or_insert_with(|| ids::derived_graph_id(&format!("business:{}", b.name)))
                .clone();
        businesses.add(&b.name, &id);
        let what = format!("business {:?}", b.name);
        world::put_business(store, clock, b, up)
            .await
            .map_err(entry_err(what))?;
        report.businesses += 1;
    }

    let mut wabas = Names::default();
    for mut w in seed.wabas {
        w.business_id = businesses.resolve(&w.business_id);
        let id =
            w.id.get_or_insert_with(|| {
                ids::derived_graph_id(&format!("waba:{}:{}", w.business_id, w.name))
            })
            .clone();
        wabas.add(&w.name, &id);
        let what = format!("WABA {:?}", w.name);
        world::put_waba(store, clock, w, up)
            .await
            .map_err(entry_err(what))?;
        report.wabas += 1;
    }

    for mut p in seed.phone_numbers {
        p.waba_id = wabas.resolve(&p.waba_id);
        p.id.get_or_insert_with(|| {
            ids::derived_graph_id(&format!("phone:{}", p.display_phone_number))
        });
        let what = format!("phone number {:?}", p.display_phone_number);
        world::put_phone_number(store, clock, p, up)
            .await
            .map_err(entry_err(what))?;
        report.phone_numbers += 1;
    }

    let mut apps = Names::default();
    for mut a in seed.apps {
        a.business_id = businesses.resolve(&a.business_id);
        let id =
            a.id.get_or_insert_with(|| {
                ids::derived_graph_id(&format!("app:{}:{}", a.business_id, a.name))
            })
            .clone();
        apps.add(&a.name, &id);
        let generated = a.secret.is_none()
            && store
                .app(&id)
                .await
                .map_err(|e| entry_err("app")(e.into()))?
                .is_none();
        let what = format!("app {:?}", a.name);
        let app = world::put_app(store, clock, a, up)
            .await
            .map_err(entry_err(what))?;
        if generated {
            report.generated_secrets.push((app.id, app.secret));
        }
        report.apps += 1;
    }

    for mut x in seed.app_access {
        x.app_id = apps.resolve(&x.app_id);
        x.business_id = businesses.resolve(&x.business_id);
        let what = format!("app access of {} to {}", x.app_id, x.business_id);
        world::put_app_access(store, x)
            .await
            .map_err(entry_err(what))?;
    }

    for mut t in seed.tokens {
        t.app_id = apps.resolve(&t.app_id);
        t.business_id = businesses.resolve(&t.business_id);
        for a in &mut t.assets {
            a.waba_id = wabas.resolve(&a.waba_id);
        }
        let given = t.access_token.is_some();
        t.id.get_or_insert_with(|| {
            ids::derived_graph_id(&format!(
                "token:{}:{}:{}",
                t.app_id,
                t.business_id,
                t.name.as_deref().unwrap_or("")
            ))
        });
        let what = format!("token of app {}", t.app_id);
        let put = world::put_token(store, clock, t, up)
            .await
            .map_err(entry_err(what))?;
        if let (false, Some(clear)) = (given, put.access_token) {
            report.generated_tokens.push((put.token.id, clear));
        }
        report.tokens += 1;
    }
    Ok(report)
}
