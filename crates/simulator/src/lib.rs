//! The messaging simulator: the Cloud API a bot talks to. A send is validated as Meta validates
//! it and recorded in the sandbox's conversations; what Meta would then say about it (statuses,
//! template reviews, customers writing in) becomes ordinary events, routed and delivered by the
//! engine like any other, at the time Meta would say it.
//!
//! The HTTP edges live in `api::graph` (`messages`, `message_templates`, media) and
//! `api::admin`; this crate holds the rules, so that the API and the CLI share them.

pub mod config;
pub mod conversations;
pub mod emit;
pub mod inbound;
pub mod lifecycle;
pub mod media;
pub mod quirks;
pub mod script;
pub mod send;
pub mod templates;
