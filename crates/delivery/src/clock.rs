//! Time as the engine sees it: the clock of `wabahook-model`, which the store reads too, kept
//! here under its old path. Production uses the system clock; tests move a manual one.

pub use wabahook_model::clock::{Clock, ManualClock, SystemClock};
