//! The store by concern: one file per concern, each holding its trait, its SQL, how its rows
//! become records, and its implementation — written once for both databases as a blanket impl
//! over [`crate::backend::Backend`]. Adding a table touches one of these files and the
//! migrations; what the dialects force to differ is a hook of `Backend`.
//!
//! Callers see the traits through [`crate::Store`], which has them all as supertraits, and import
//! them with `use wabahook_store::prelude::*`.

pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod history;
pub(crate) mod media;
pub(crate) mod messaging;
pub(crate) mod nodes;
pub(crate) mod outbox;
pub(crate) mod policies;
pub(crate) mod rate_limits;
pub(crate) mod relay;
pub(crate) mod secrets;
pub(crate) mod settings;
pub(crate) mod subscriptions;
pub(crate) mod templates;
pub(crate) mod world;
