//! End-to-end tests: the real server on port 0 with a fresh store (a SQLite file in a temporary
//! directory, or with `TEST_STORE=postgres` a PostgreSQL database of its own), driven over
//! HTTP, with a real callback receiver on loopback. `nodes` always runs on PostgreSQL.

mod harness;
mod receiver;

mod listen;
mod samples;

mod admin;
mod app_subscriptions;
mod bad_input;
mod check_receiver;
mod crash;
mod delivery;
mod delivery_policy;
mod egress;
mod hardening;
mod history;
mod media;
mod messaging;
mod mtls;
mod nodes;
mod outbox;
mod permissions;
mod phone_numbers;
mod rate_limits;
mod readme;
mod relay;
mod secrets_at_rest;
mod seeds;
mod simulate;
mod startup;
mod subscribed_apps;
mod templates;
mod tls;
