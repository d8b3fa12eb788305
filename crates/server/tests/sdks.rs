//! The SDKs people use, driven against the real server: a test binary of its own, since these
//! tests run other languages' interpreters and servers beside ours and can be run (or left out)
//! on their own with `--test sdks`. It shares the `e2e` binary's harness.

// The harness serves every end-to-end test; this binary uses part of it and of its imports.
#![allow(dead_code, unused_imports)]

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/receiver.rs"]
mod receiver;
#[path = "sdk/tests.rs"]
mod sdk;
