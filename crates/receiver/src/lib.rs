//! Receive WhatsApp Business Account webhooks without losing any of them.
//!
//! - [`Notification`]: the envelope, every entry and every change, each change's value typed by
//!   field ([`FieldValue`]) when it fits and kept as JSON when it does not. Unknown fields,
//!   unknown message types, unknown enum values and extra attributes never make parsing fail,
//!   and serializing gives back JSON equal to the input.
//! - [`signature`]: `X-Hub-Signature-256` over the raw body bytes, in constant time.
//! - [`handshake`]: the `hub.mode` / `hub.verify_token` / `hub.challenge` verification.
//! - [`meta_json`]: JSON written byte for byte the way Meta writes it.
//! - [`NumericString`]: timestamps, phone numbers and ids Meta documents as strings, accepted
//!   as JSON numbers too and written back in the form they came.
//! - `axum` feature: a handshake handler and the [`axum::VerifiedWebhook`] extractor.
//! - `samples` feature: realistic sample values for every field.
//!
//! ```
//! use wabahook_receiver::{signature, FieldValue, Notification};
//!
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"messages":[{"from":"16505551234","id":"wamid.X","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
//! let header = signature::sign("app-secret", body); // what Meta sends
//!
//! // Verify the bytes as received, then parse.
//! signature::verify("app-secret", body, Some(&header)).unwrap();
//! let n = Notification::from_slice(body).unwrap();
//! for c in n.changes() {
//!     if let FieldValue::Messages(v) = &c.change.value {
//!         for m in v.messages.iter().flatten() {
//!             println!("{:?} from {:?}", m.text_body(), m.from);
//!         }
//!     }
//!     println!("{} {}: {}", c.waba_id, c.change.field, c.change.summary());
//! }
//! ```

#[doc(hidden)]
pub mod checks;
pub mod envelope;
pub mod fields;
pub mod handshake;
mod lossless;
pub mod meta_json;
pub mod numeric;
pub mod signature;
pub mod value;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "samples")]
pub mod samples;

pub use envelope::{Change, ChangeInEntry, Entry, Notification, ParseError, Payload, WABA_OBJECT};
pub use lossless::Extra;
pub use numeric::NumericString;
#[allow(deprecated)]
pub use value::KNOWN_FIELDS;
pub use value::{FieldType, FieldValue, TYPED_FIELDS};
