//! Typed values, one module per field (or family of fields). Every struct keeps attributes it
//! does not name in `extra`; every optional attribute is an `Option` so that absence round-trips.
//! Timestamps, phone numbers and ids that Meta documents as strings are
//! [`NumericString`](crate::NumericString)s: real payloads sometimes carry them as JSON numbers,
//! and a plain `String` would then push the whole change back to untyped JSON.

pub mod account;
pub mod calls;
pub mod coexistence;
pub mod common;
pub mod flows;
pub mod identity;
pub mod messages;
pub mod partner_solutions;
pub mod payment_configuration;
pub mod phone_number;
pub mod security;
pub mod templates;
pub mod user_preferences;
