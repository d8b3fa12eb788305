//! The SDKs people use, driven against the real server: a test binary of its own, so that the
//! SDKs' own servers (Python, with their own threads) are not starved by the dozens of
//! end-to-end tests that run in parallel in the `e2e` binary. It shares that binary's harness.

// The harness serves every end-to-end test; this binary uses part of it and of its imports.
#![allow(dead_code, unused_imports)]

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/receiver.rs"]
mod receiver;
#[path = "sdk/tests.rs"]
mod sdk;
