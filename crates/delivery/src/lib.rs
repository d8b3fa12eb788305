//! The delivery engine: turns accepted events into signed webhook POSTs, durably.
//!
//! Data flow: [`routing`] decides at acceptance which apps get an event and where (written with
//! the event in one transaction) → [`engine`] claims due deliveries under a lease → [`batch`]
//! groups them per (app, target) and writes Meta's exact body → [`sender`] signs and POSTs →
//! [`schedule`] decides the next try → the store records every attempt.
//!
//! With the [`egress`] guard on, no POST reaches a forbidden address (checked before each
//! request and, for names, after every resolution).
//!
//! The engine knows nothing of HTTP routes; time comes from a [`Clock`], so tests can run a
//! 7-day retry schedule in milliseconds.

pub mod batch;
pub mod clock;
pub mod config;
pub mod egress;
pub mod engine;
pub mod history;
pub mod routing;
pub mod schedule;
pub mod sender;
pub mod shaping;
pub mod tls;
pub mod world_cache;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::DeliveryConfig;
pub use egress::EgressConfig;
pub use engine::Engine;
