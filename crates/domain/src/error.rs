//! The domain layer's one error type. The Graph and admin APIs each map it to their wire
//! format in one place (`graph/error.rs`, `admin/error.rs`).

use wabahook_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request breaks a rule of the world (a bad name, a missing reference, …).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this; the text is Graph's, without the `(#200)` prefix.
    #[error("{0}")]
    Denied(Denied),
    #[error("cannot parse the seed: {0}")]
    SeedParse(String),
    /// One entry of a seed file failed; `what` names the entry.
    #[error("{what}: {source}")]
    SeedEntry {
        what: String,
        source: Box<DomainError>,
    },
    #[error(transparent)]
    Store(StoreError),
}

/// Why an access rule refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("Permissions error: the token lacks the {0} permission")]
    MissingPermission(&'static str),
    #[error("Permissions error: the token has VIEW but not MANAGE access to WhatsApp Business Account {waba_id}")]
    ViewOnly { waba_id: String },
    #[error("Permissions error: app {app_id} is not owned by, nor granted access by, the business that owns WhatsApp Business Account {waba_id}; apps shared with a business cannot receive its webhooks")]
    AppMayNotEdit { app_id: String, waba_id: String },
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => DomainError::Conflict(format!("{what} already exists")),
            StoreError::Invalid(msg) => DomainError::Invalid(msg),
            other => DomainError::Store(other),
        }
    }
}

impl From<Denied> for DomainError {
    fn from(d: Denied) -> Self {
        DomainError::Denied(d)
    }
}

pub(crate) type DomainResult<T> = Result<T, DomainError>;
