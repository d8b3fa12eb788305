//! Who gets an event, and where, worked out when the event is accepted so that the event and
//! every delivery it causes are written in one transaction. The rules (SPEC section 4) are
//! `wabahook_domain::routing`'s; this module does the reads they need.
//!
//! Working a route out takes about eight reads of the world; [`RouteCache`] keeps the answer
//! while the store's world generation stays the same, so a steady stream of events costs one
//! write each.

use std::sync::Arc;

use wabahook_domain::{fields, routing as rules};
use wabahook_model::ids;
use wabahook_receiver::meta_json;
use wabahook_store::{Event, NewDelivery, Store, StoreError, Waba};

use crate::config::DeliveryConfig;
use crate::world_cache::WorldCache;

/// The deliveries an event on `waba` for `field` causes, each with its target URL. The
/// decision for each subscribed app is the domain's; this only reads what it needs.
pub async fn plan(
    store: &dyn Store,
    waba: &Waba,
    field: &str,
    phone_number_id: Option<&str>,
) -> Result<Vec<NewDelivery>, StoreError> {
    let mut out = Vec::new();
    for sub in store.waba_subscriptions(&waba.id).await? {
        let Some(app) = store.app(&sub.app_id).await? else {
            continue;
        };
        let Some(app_sub) = store.app_subscription(&app.id).await? else {
            continue;
        };
        // The rest is read only for apps that take the field.
        if !rules::subscription_takes(&app_sub, field) {
            continue;
        }
        let access = store.app_access(&app.id).await?;
        let tokens = store.tokens_of_app(&app.id).await?;
        let phone_override = match phone_number_id {
            Some(phone) if rules::uses_overrides(field) => {
                store.phone_override(&app.id, phone).await?
            }
            _ => None,
        };
        let subscriber = rules::Subscriber {
            app: &app,
            access: &access,
            subscription: &app_sub,
            tokens: &tokens,
            waba_override: sub.override_callback.as_ref(),
            phone_override: phone_override.as_ref(),
        };
        if let Some(target) = rules::target(waba, field, &subscriber) {
            out.push(NewDelivery {
                app_id: app.id.clone(),
                target_url: target.to_string(),
            });
        }
    }
    Ok(out)
}

/// Routes worked out under one world generation, dropped when it changes.
pub struct RouteCache(WorldCache<RouteKey, Arc<Route>>);

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache(WorldCache::new(MAX_ROUTES))
    }
}

/// (WABA, field, phone number): everything a route depends on besides the world.
type RouteKey = (String, String, Option<String>);

/// Where an event on a WABA and field goes.
struct Route {
    waba: Waba,
    deliveries: Vec<NewDelivery>,
}

/// Field names are free-form, so the key space is unbounded.
const MAX_ROUTES: usize = 10_000;

/// Reads the WABA, checks the phone number belongs to it, and plans the deliveries.
async fn route(
    store: &dyn Store,
    waba_id: &str,
    field: &str,
    phone_number_id: Option<&str>,
) -> Result<Route, AcceptError> {
    let waba = store
        .waba(waba_id)
        .await?
        .ok_or_else(|| AcceptError::UnknownWaba(waba_id.to_string()))?;
    if let Some(p) = phone_number_id {
        match store.phone_number(p).await? {
            Some(n) if n.waba_id == waba.id => {}
            _ => {
                return Err(AcceptError::ForeignPhoneNumber(
                    p.to_string(),
                    waba.id.clone(),
                ))
            }
        }
    }
    let deliveries = plan(store, &waba, field, phone_number_id).await?;
    Ok(Route { waba, deliveries })
}

/// The route from the cache, or worked out and kept if the world did not change meanwhile.
async fn cached_route(
    store: &dyn Store,
    cache: &RouteCache,
    waba_id: &str,
    field: &str,
    phone_number_id: Option<&str>,
) -> Result<Arc<Route>, AcceptError> {
    let key = (
        waba_id.to_string(),
        field.to_string(),
        phone_number_id.map(str::to_string),
    );
    cache
        .0
        .get_or_work_out(store, key, || async {
            Ok(Arc::new(
                route(store, waba_id, field, phone_number_id).await?,
            ))
        })
        .await
}

/// The deliveries an event of `field` on `waba_id` causes, as [`accept`] routes it (from the
/// cache of the world's generation), for callers that write events themselves: the relay's
/// ingest stores every change of an upstream POST in one transaction of its own.
pub async fn deliveries_for(
    store: &dyn Store,
    routes: &RouteCache,
    waba_id: &str,
    field: &str,
    phone_number_id: Option<&str>,
) -> Result<Vec<NewDelivery>, AcceptError> {
    if !fields::is_well_formed(field) {
        return Err(AcceptError::BadField(field.to_string()));
    }
    let route = cached_route(store, routes, waba_id, field, phone_number_id).await?;
    Ok(route.deliveries.clone())
}

/// When the deliveries of an event accepted at `now_ms` expire.
pub fn expires_at(cfg: &DeliveryConfig, now_ms: i64) -> i64 {
    now_ms + (cfg.horizon_secs as i64) * 1000
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("no WABA {0}")]
    UnknownWaba(String),
    #[error("phone number {0} does not belong to WABA {1}")]
    ForeignPhoneNumber(String, String),
    #[error("field {0:?} is not a field name (lowercase letters, digits and _)")]
    BadField(String),
    #[error("value is not JSON: {0}")]
    BadValue(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event as given to [`accept`]: `value_json` may be any JSON text.
#[derive(Debug, Clone, Copy)]
pub struct EventIn<'a> {
    pub waba_id: &'a str,
    pub field: &'a str,
    pub value_json: &'a str,
    pub phone_number_id: Option<&'a str>,
}

/// An accepted event and how many deliveries it caused.
pub struct Accepted {
    pub event: Event,
    pub deliveries: usize,
}

/// Routes and durably stores one event: when this returns, the event and its deliveries are
/// committed. `value_json` may be any JSON text; it is kept in Meta's escaped form.
pub async fn accept(
    store: &dyn Store,
    routes: &RouteCache,
    cfg: &DeliveryConfig,
    now_ms: i64,
    input: &EventIn<'_>,
) -> Result<Accepted, AcceptError> {
    let EventIn {
        waba_id,
        field,
        value_json,
        phone_number_id,
    } = *input;
    if !fields::is_well_formed(field) {
        return Err(AcceptError::BadField(field.to_string()));
    }
    let route = cached_route(store, routes, waba_id, field, phone_number_id).await?;
    let mut rendered = Vec::with_capacity(value_json.len());
    meta_json::rewrite(value_json, &mut rendered)
        .map_err(|e| AcceptError::BadValue(e.to_string()))?;
    // Meta's form escapes everything outside ASCII, so this cannot fail.
    let value_json =
        String::from_utf8(rendered).map_err(|e| AcceptError::BadValue(e.to_string()))?;
    let mut event = Event {
        id: ids::new_ordered_graph_id(now_ms),
        waba_id: route.waba.id.clone(),
        field: field.to_string(),
        value_json,
        phone_number_id: phone_number_id.map(str::to_string),
        time: now_ms.div_euclid(1000),
        created_at_ms: now_ms,
    };
    let expires = expires_at(cfg, now_ms);
    // Another node may have taken the id in the same millisecond: try again with a fresh one.
    let mut tries = 0;
    loop {
        match store.insert_event(&event, &route.deliveries, expires).await {
            Err(StoreError::Conflict(_)) if tries < 3 => {
                tries += 1;
                event.id = ids::new_ordered_graph_id(now_ms);
            }
            written => break written?,
        }
    }
    Ok(Accepted {
        deliveries: route.deliveries.len(),
        event,
    })
}
