//! Wire-level vocabulary of the WhatsApp Business Account webhooks system.
//!
//! Everything here is pure: no network, no database. Servers and receivers share these types so
//! that both sides agree on ids, field names, permissions and Graph's error envelope.

pub mod fields;
pub mod graph_error;
pub mod ids;
pub mod permissions;
pub mod secrets;

pub use fields::Field;
pub use graph_error::{GraphErrorBody, GraphErrorEnvelope};
pub use permissions::{AssetAccess, Permission};

/// The only Graph object type whose webhooks wabahook serves.
pub const WABA_OBJECT: &str = "whatsapp_business_account";
