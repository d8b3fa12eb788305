//! Handlers for the world's resources. Creation goes through `wabahook_domain::world`, which
//! holds the rules; these only translate between HTTP and it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wabahook_domain::world;
use wabahook_store::OnConflict;

use super::requests::{
    AppFilter, CreateApp, CreateAppAccess, CreateBusiness, CreatePhoneNumber, CreateToken,
    CreateWaba, ObjectId, WabaFilter,
};
use super::responses::{
    AppAccessResponse, AppResponse, BusinessResponse, List, PhoneNumberResponse, TokenResponse,
    WabaResponse,
};
use super::{AdminError, AdminJson, AdminQuery};
use crate::AppState;

type Created<T> = (StatusCode, Json<T>);
type AdminResult<T> = Result<T, AdminError>;

fn created<T>(v: T) -> AdminResult<Created<T>> {
    Ok((StatusCode::CREATED, Json(v)))
}

fn listed<R, T: Into<R>>(items: Vec<T>) -> AdminResult<Json<List<R>>> {
    Ok(Json(List {
        data: items.into_iter().map(Into::into).collect(),
    }))
}

fn found<R, T: Into<R>>(what: &str, id: &str, item: Option<T>) -> AdminResult<Json<R>> {
    match item {
        Some(i) => Ok(Json(i.into())),
        None => Err(AdminError::NotFound(format!("no {what} {id}"))),
    }
}

pub async fn create_business(
    State(s): State<AppState>,
    AdminJson(b): AdminJson<CreateBusiness>,
) -> AdminResult<Created<BusinessResponse>> {
    created(
        world::put_business(s.store.as_ref(), s.clock(), b.into(), OnConflict::Fail)
            .await?
            .into(),
    )
}

pub async fn list_businesses(
    State(s): State<AppState>,
) -> AdminResult<Json<List<BusinessResponse>>> {
    listed(s.store.businesses().await?)
}

pub async fn get_business(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<BusinessResponse>> {
    found("business", &id, s.store.business(&id).await?)
}

pub async fn create_waba(
    State(s): State<AppState>,
    AdminJson(w): AdminJson<CreateWaba>,
) -> AdminResult<Created<WabaResponse>> {
    created(
        world::put_waba(s.store.as_ref(), s.clock(), w.into(), OnConflict::Fail)
            .await?
            .into(),
    )
}

pub async fn list_wabas(State(s): State<AppState>) -> AdminResult<Json<List<WabaResponse>>> {
    listed(s.store.wabas().await?)
}

pub async fn get_waba(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<WabaResponse>> {
    found("WABA", &id, s.store.waba(&id).await?)
}

pub async fn create_phone_number(
    State(s): State<AppState>,
    AdminJson(p): AdminJson<CreatePhoneNumber>,
) -> AdminResult<Created<PhoneNumberResponse>> {
    created(
        world::put_phone_number(s.store.as_ref(), s.clock(), p.into(), OnConflict::Fail)
            .await?
            .into(),
    )
}

pub async fn list_phone_numbers(
    State(s): State<AppState>,
    AdminQuery(f): AdminQuery<WabaFilter>,
) -> AdminResult<Json<List<PhoneNumberResponse>>> {
    listed(s.store.phone_numbers(f.waba_id.as_deref()).await?)
}

pub async fn get_phone_number(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<PhoneNumberResponse>> {
    found("phone number", &id, s.store.phone_number(&id).await?)
}

/// Creation is the one time an app's secret is shown.
pub async fn create_app(
    State(s): State<AppState>,
    AdminJson(a): AdminJson<CreateApp>,
) -> AdminResult<Created<AppResponse>> {
    let app = world::put_app(s.store.as_ref(), s.clock(), a.into(), OnConflict::Fail).await?;
    created(AppResponse::created(app))
}

pub async fn list_apps(State(s): State<AppState>) -> AdminResult<Json<List<AppResponse>>> {
    listed(s.store.apps().await?)
}

pub async fn get_app(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<AppResponse>> {
    let Json(app): Json<AppResponse> = found("app", &id, s.store.app(&id).await?)?;
    // The operator sees a paused endpoint where the app is looked at.
    let paused = super::policies::paused_of(&s, &id).await?;
    Ok(Json(app.with_paused_targets(paused)))
}

pub async fn create_app_access(
    State(s): State<AppState>,
    AdminJson(a): AdminJson<CreateAppAccess>,
) -> AdminResult<Created<AppAccessResponse>> {
    created(
        world::put_app_access(s.store.as_ref(), a.into())
            .await?
            .into(),
    )
}

pub async fn list_app_access(
    State(s): State<AppState>,
    AdminQuery(f): AdminQuery<AppFilter>,
) -> AdminResult<Json<List<AppAccessResponse>>> {
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
    AdminJson(t): AdminJson<CreateToken>,
) -> AdminResult<Created<TokenResponse>> {
    let put = world::put_token(s.store.as_ref(), s.clock(), t.into(), OnConflict::Fail).await?;
    created(TokenResponse::created(put.token, put.access_token))
}

pub async fn list_tokens(State(s): State<AppState>) -> AdminResult<Json<List<TokenResponse>>> {
    listed(s.store.tokens().await?)
}

pub async fn get_token(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<TokenResponse>> {
    found("token", &id, s.store.token(&id).await?)
}
