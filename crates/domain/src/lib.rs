//! The rules of the world wabahook simulates, in one place.
//!
//! The Graph and admin handlers and the delivery engine call these; none of them owns a rule.
//! - [`fields`]: the catalogue of webhook fields (permission, override-capable, typed by the
//!   receiver library) and the one `WABA_OBJECT`.
//! - [`access`]: who may do what: apps owned by, granted or shared with a business; token
//!   permissions and asset access (VIEW / MANAGE).
//! - [`routing`]: which subscribed app gets an event and at which URL, as pure decisions; the
//!   delivery engine does the reads.
//! - [`world`]: creating and changing businesses, WABAs, phone numbers, apps, access and tokens;
//!   [`seed`] applies a declarative seed file through it, [`demo`] makes the first-start world.
//!
//! [`DomainError`] is the layer's one error type; the API maps it to each wire format.

pub mod access;
/// Invariants for the fuzz targets and their property tests; not an API.
#[doc(hidden)]
pub mod checks;
pub mod demo;
mod error;
pub mod fields;
#[cfg(test)]
mod fixtures;
pub mod routing;
pub mod seed;
pub mod world;

pub use error::{Denied, DomainError};
pub use fields::{FieldSpec, WABA_OBJECT};
