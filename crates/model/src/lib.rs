//! Wire-level vocabulary of the WhatsApp Business Account webhooks system.
//!
//! Everything here is pure: no network, no database. The server's layers share these types so
//! that they agree on ids, permissions, secrets and Graph's error envelope. The rules attached
//! to them (which permission a field needs, who may do what) are in `wabahook-domain`.

pub mod clock;
pub mod egress;
pub mod error_chain;
pub mod graph_error;
pub mod ids;
pub mod permissions;
pub mod redact;
pub mod sealed;
pub mod secrets;

pub use error_chain::innermost_cause;
pub use graph_error::{GraphErrorBody, GraphErrorData, GraphErrorEnvelope};
pub use permissions::{AssetAccess, Permission};
