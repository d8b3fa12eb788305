//! Handlers for the world's resources. Creation goes through [`crate::world`], which holds
//! the rules; these only translate between HTTP and it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use wabahook_store::OnConflict;

use super::{AdminError, AdminJson};
use crate::world::{self, NewApp, NewAppAccess, NewBusiness, NewPhoneNumber, NewToken, NewWaba};
use crate::AppState;

type Created = (StatusCode, Json<Value>);
type AdminResult<T> = Result<T, AdminError>;

fn created(v: impl serde::Serialize) -> AdminResult<Created> {
    Ok((StatusCode::CREATED, Json(to_value(v)?)))
}

fn to_value(v: impl serde::Serialize) -> AdminResult<Value> {
    serde_json::to_value(v).map_err(|e| AdminError::Internal(e.to_string()))
}

fn listed<T: serde::Serialize>(items: Vec<T>) -> AdminResult<Json<Value>> {
    Ok(Json(json!({ "data": to_value(items)? })))
}

fn found<T: serde::Serialize>(what: &str, id: &str, item: Option<T>) -> AdminResult<Json<Value>> {
    match item {
        Some(i) => Ok(Json(to_value(i)?)),
        None => Err(AdminError::NotFound(format!("no {what} {id}"))),
    }
}

pub async fn create_business(
    State(s): State<AppState>,
    AdminJson(b): AdminJson<NewBusiness>,
) -> AdminResult<Created> {
    created(world::put_business(s.store.as_ref(), b, OnConflict::Fail).await?)
}

pub async fn list_businesses(State(s): State<AppState>) -> AdminResult<Json<Value>> {
    listed(s.store.businesses().await?)
}

pub async fn get_business(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    found("business", &id, s.store.business(&id).await?)
}

pub async fn create_waba(
    State(s): State<AppState>,
    AdminJson(w): AdminJson<NewWaba>,
) -> AdminResult<Created> {
    created(world::put_waba(s.store.as_ref(), w, OnConflict::Fail).await?)
}

pub async fn list_wabas(State(s): State<AppState>) -> AdminResult<Json<Value>> {
    listed(s.store.wabas().await?)
}

pub async fn get_waba(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    found("WABA", &id, s.store.waba(&id).await?)
}

pub async fn create_phone_number(
    State(s): State<AppState>,
    AdminJson(p): AdminJson<NewPhoneNumber>,
) -> AdminResult<Created> {
    created(world::put_phone_number(s.store.as_ref(), p, OnConflict::Fail).await?)
}

#[derive(Deserialize)]
pub struct WabaFilter {
    waba_id: Option<String>,
}

pub async fn list_phone_numbers(
    State(s): State<AppState>,
    Query(f): Query<WabaFilter>,
) -> AdminResult<Json<Value>> {
    listed(s.store.phone_numbers(f.waba_id.as_deref()).await?)
}

pub async fn get_phone_number(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    found("phone number", &id, s.store.phone_number(&id).await?)
}

/// Creation is the one time an app's secret is shown.
pub async fn create_app(
    State(s): State<AppState>,
    AdminJson(a): AdminJson<NewApp>,
) -> AdminResult<Created> {
    let app = world::put_app(s.store.as_ref(), a, OnConflict::Fail).await?;
    let mut v = to_value(&app)?;
    v["secret"] = json!(app.secret);
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn list_apps(State(s): State<AppState>) -> AdminResult<Json<Value>> {
    listed(s.store.apps().await?)
}

pub async fn get_app(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    found("app", &id, s.store.app(&id).await?)
}

pub async fn create_app_access(
    State(s): State<AppState>,
    AdminJson(a): AdminJson<NewAppAccess>,
) -> AdminResult<Created> {
    created(world::put_app_access(s.store.as_ref(), a).await?)
}

#[derive(Deserialize)]
pub struct AppFilter {
    app_id: Option<String>,
}

pub async fn list_app_access(
    State(s): State<AppState>,
    Query(f): Query<AppFilter>,
) -> AdminResult<Json<Value>> {
    let mut all = Vec::new();
    match f.app_id {
        Some(id) => all = s.store.app_access(&id).await?,
        None => {
            for app in s.store.apps().await? {
                all.extend(s.store.app_access(&app.id).await?);
            }
        }
    }
    listed(all)
}

/// Creation is the one time a token string is shown; only its hash is kept.
pub async fn create_token(
    State(s): State<AppState>,
    AdminJson(t): AdminJson<NewToken>,
) -> AdminResult<Created> {
    let put = world::put_token(s.store.as_ref(), t, OnConflict::Fail).await?;
    let mut v = to_value(&put.token)?;
    v["access_token"] = json!(put.access_token);
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn list_tokens(State(s): State<AppState>) -> AdminResult<Json<Value>> {
    listed(s.store.tokens().await?)
}

pub async fn get_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    found("token", &id, s.store.token(&id).await?)
}
