//! End-to-end tests: the real server on port 0 with a fresh SQLite store in a temporary
//! directory, driven over HTTP, with a real callback receiver on loopback.

mod harness;

mod listen;
mod samples;

mod admin;
mod app_subscriptions;
mod bad_input;
mod crash;
mod delivery;
mod engine;
mod permissions;
mod phone_numbers;
mod rate_limits;
mod readme;
mod seeds;
mod startup;
mod subscribed_apps;
