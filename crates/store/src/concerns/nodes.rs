//! The nodes that deliver from the store (migration 0005, `nodes`), so that the claims of a node
//! that is gone are given back at once rather than when their lease ends.
//!
//! Every claim names its node (`deliveries.claimed_by`, see [`crate::DeliveryQueue`]). A node
//! registers when its engine starts, which gives back what it had claimed before (a node that
//! restarts under the same id), or, on a store one node owns alone ([`Backend::SOLE_OWNER`]),
//! every claim found: whoever made them is gone. Where nodes share the store, each beats
//! (`heartbeat_at_ms`), and any live node gives back the claims of nodes silent for too long and
//! forgets them. The lease stays the safety net for whatever this misses. Times are the callers'
//! clocks, so the nodes' clocks must agree to well within the silence allowed.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::deliveries::release_claims_sql;
use crate::records::{Node, SilentRelease};
use crate::sql::{args, Columns, Sql};
use crate::StoreResult;

#[async_trait]
pub trait NodeRegistry: Send + Sync {
    /// Records node `node_id` as started at `now_ms` and gives back, due at `now_ms`, the claims
    /// it left when it last ran; on a store one node owns alone, every claim, and the other
    /// nodes are forgotten. Call it before the node's first claim. Returns how many deliveries
    /// were given back.
    async fn register_node(&self, node_id: &str, now_ms: i64) -> StoreResult<u64>;

    /// Records that node `node_id` is alive at `now_ms`. False when its row was gone (other
    /// nodes took it for dead and gave back its claims): it is recorded again. On a store one
    /// node owns alone nobody is watching, and nothing is written.
    async fn beat(&self, node_id: &str, now_ms: i64) -> StoreResult<bool>;

    /// Gives back, due at `now_ms`, the claims of every node whose last beat was before
    /// `silent_before_ms`, and forgets those nodes once none of their claims is left. Any live
    /// node may call it, several at once: a node being beaten for or handled by another caller
    /// is skipped. Nothing to do on a store one node owns alone.
    async fn release_silent_nodes(
        &self,
        silent_before_ms: i64,
        now_ms: i64,
    ) -> StoreResult<SilentRelease>;

    /// A node that stops: gives back, due at `now_ms`, whatever it still claims (POSTs cut off at
    /// shutdown) and forgets it. Returns how many deliveries were given back.
    async fn leave(&self, node_id: &str, now_ms: i64) -> StoreResult<u64>;

    /// Every node known, by id.
    async fn nodes(&self) -> StoreResult<Vec<Node>>;
}

/// Records a node as (re)started. Binds: id, now.
const UPSERT_NODE: &str = "INSERT INTO nodes (id, started_at_ms, heartbeat_at_ms) \
     VALUES ($1, $2, $2) ON CONFLICT (id) DO UPDATE \
     SET started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms";

/// Binds: id, now.
const BEAT: &str = "UPDATE nodes SET heartbeat_at_ms = $2 WHERE id = $1";

/// Binds: silent before.
const SILENT_NODES: &str = "SELECT id FROM nodes WHERE heartbeat_at_ms < $1 ORDER BY id";

/// Forgets a node once none of its claims is left (some may have been skipped, held by another
/// node's transaction). Binds: id.
const FORGET_IF_UNCLAIMED: &str = "DELETE FROM nodes WHERE id = $1 AND NOT EXISTS \
     (SELECT 1 FROM deliveries WHERE claimed_by = $1 AND state IN ('pending', 'retrying'))";

/// The claims of one node, for [`release_claims_sql`]; binds the node after the time.
const CLAIMED_BY_NODE: &str = "claimed_by = $2";

fn read_node(c: &dyn Columns) -> StoreResult<Node> {
    Ok(Node {
        id: c.text(0)?,
        started_at_ms: c.int(1)?,
        heartbeat_at_ms: c.int(2)?,
    })
}

#[async_trait]
impl<B: Backend> NodeRegistry for B {
    async fn register_node(&self, node_id: &str, now_ms: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let released = if B::SOLE_OWNER {
            let every_claim = release_claims_sql("claimed_by IS NOT NULL", B::SKIP_LOCKED);
            let n = B::Db::run(&mut tx, &every_claim, &args![now_ms]).await?;
            B::Db::run(&mut tx, "DELETE FROM nodes WHERE id <> $1", &args![node_id]).await?;
            n
        } else {
            let own = release_claims_sql(CLAIMED_BY_NODE, B::SKIP_LOCKED);
            B::Db::run(&mut tx, &own, &args![now_ms, node_id]).await?
        };
        B::Db::run(&mut tx, UPSERT_NODE, &args![node_id, now_ms]).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn beat(&self, node_id: &str, now_ms: i64) -> StoreResult<bool> {
        if B::SOLE_OWNER {
            return Ok(true);
        }
        let s = self.shared();
        if s.write_one(BEAT, &args![node_id, now_ms]).await? > 0 {
            return Ok(true);
        }
        s.write_one(UPSERT_NODE, &args![node_id, now_ms]).await?;
        Ok(false)
    }

    async fn release_silent_nodes(
        &self,
        silent_before_ms: i64,
        now_ms: i64,
    ) -> StoreResult<SilentRelease> {
        let mut out = SilentRelease::default();
        if B::SOLE_OWNER {
            return Ok(out);
        }
        let silent = self
            .shared()
            .read_all(SILENT_NODES, &args![silent_before_ms], |c| c.text(0))
            .await?;
        // Rare (a node died); one transaction per node keeps each short.
        for id in silent {
            let mut tx = self.begin_write().await?;
            // The node's row stays locked to the end: a beat of the node waits and then finds
            // whether it was forgotten, and another node doing the same skips it.
            let still_silent = format!(
                "SELECT id FROM nodes WHERE id = $1 AND heartbeat_at_ms < $2{}",
                B::SKIP_LOCKED
            );
            let rows = B::Db::fetch(&mut tx, &still_silent, &args![&id, silent_before_ms]).await?;
            if rows.is_empty() {
                continue;
            }
            let release = release_claims_sql(CLAIMED_BY_NODE, B::SKIP_LOCKED);
            out.deliveries += B::Db::run(&mut tx, &release, &args![now_ms, &id]).await?;
            B::Db::run(&mut tx, FORGET_IF_UNCLAIMED, &args![&id]).await?;
            tx.commit().await?;
            out.nodes.push(id);
        }
        Ok(out)
    }

    async fn leave(&self, node_id: &str, now_ms: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let release = release_claims_sql(CLAIMED_BY_NODE, B::SKIP_LOCKED);
        let n = B::Db::run(&mut tx, &release, &args![now_ms, node_id]).await?;
        B::Db::run(&mut tx, "DELETE FROM nodes WHERE id = $1", &args![node_id]).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn nodes(&self) -> StoreResult<Vec<Node>> {
        self.shared()
            .read_all(
                "SELECT id, started_at_ms, heartbeat_at_ms FROM nodes ORDER BY id",
                &[],
                read_node,
            )
            .await
    }
}
