//! PostgreSQL's hot path as multi-row statements, inside the caller's transaction: each statement
//! is a round trip to the server, so rows go a hundred to a statement. The statements are the
//! ones the concerns define for both backends.

use std::collections::HashMap;

use sqlx::{PgConnection, Postgres};

use super::PgStore;
use crate::backend::Backend;
use crate::concerns::deliveries::{self, ClaimRequest};
use crate::concerns::events;
use crate::records::*;
use crate::sql::{args, Columns, Param, Sql};
use crate::StoreResult;

use crate::concerns::events::CHUNK;

const EVENTS_IN_JSON: &str = "SELECT json_array_elements_text(CAST($1 AS JSON))";

/// Claims due deliveries (see [`crate::DeliveryQueue::claim_due`]).
pub(super) async fn claim_due_in(
    tx: &mut PgConnection,
    r: &ClaimRequest,
) -> StoreResult<Vec<Claimed>> {
    let mut targets = Postgres::fetch(&mut *tx, deliveries::CLAIM_TARGETS, &args![r.now_ms])
        .await?
        .iter()
        .map(|row| row.text(0))
        .collect::<StoreResult<Vec<String>>>()?;
    deliveries::take_turns(&mut targets, r.turn);
    let sql = deliveries::claim_target_sql(PgStore::SKIP_LOCKED);
    let mut claimed: Vec<Delivery> = Vec::new();
    for url in &targets {
        let room = r.limit - claimed.len() as i64;
        if room <= 0 {
            break;
        }
        let args = args![
            r.now_ms + r.lease_ms,
            &r.node_id,
            url,
            r.now_ms,
            room.min(r.per_target)
        ];
        for row in Postgres::fetch(&mut *tx, &sql, &args).await? {
            claimed.push(deliveries::read_delivery(&row)?);
        }
    }
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // All their events in one query, not one per delivery.
    let ids_json = deliveries::event_ids_json(&claimed)?;
    let sql = events::claimed_events_sql(EVENTS_IN_JSON);
    let mut by_id = HashMap::new();
    for row in Postgres::fetch(&mut *tx, &sql, &args![&ids_json]).await? {
        let e = events::read_event(&row)?;
        by_id.insert(e.id.clone(), e);
    }
    deliveries::pair_with_events(claimed, by_id)
}

/// Records attempts and applies their outcomes.
pub(super) async fn finish_attempts_in(
    tx: &mut PgConnection,
    results: &[(Delivery, Attempt, AttemptOutcome)],
) -> StoreResult<()> {
    for chunk in results.chunks(CHUNK) {
        let sql = deliveries::insert_attempts_sql(chunk.len());
        let args: Vec<Param<'_>> = chunk
            .iter()
            .flat_map(|(d, a, _)| {
                args![
                    d.id,
                    a.at_ms,
                    a.status,
                    a.latency_ms,
                    &a.error_class,
                    &a.response_head
                ]
            })
            .collect();
        Postgres::run(&mut *tx, &sql, &args).await?;

        let sql = deliveries::finish_deliveries_sql(chunk.len());
        let args: Vec<Param<'_>> = chunk
            .iter()
            .flat_map(|(d, a, outcome)| {
                let (state, next, finished) = deliveries::outcome_columns(a, outcome);
                args![d.id, d.claim_seq, state, next, finished]
            })
            .collect();
        Postgres::run(&mut *tx, &sql, &args).await?;
    }
    Ok(())
}
