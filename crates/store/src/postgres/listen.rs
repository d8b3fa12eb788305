//! The `LISTEN` connection of a PostgreSQL node: other nodes' announcements of new work wake this
//! node's workers, and their changes to the world move its world generation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::backend::WorldWatch;

/// The channel new work is announced on (a trigger on `deliveries`, migration 0002; replays).
pub(super) const WORK_CHANNEL: &str = "wabahook_work";
/// The channel changes to the world are announced on (triggers, migration 0003).
const WORLD_CHANNEL: &str = "wabahook_world";

/// Wakes `work` on every work notification and counts world changes. A lost connection is
/// reopened; while it is down the workers' polling carries on alone, and nothing derived from
/// the world is kept (changes made meanwhile would go unnoticed).
pub(super) async fn listen(pool: PgPool, work: Arc<Notify>, world: Arc<WorldWatch>) {
    loop {
        world.listening.store(false, Ordering::SeqCst);
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the LISTEN connection; polling only");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all([WORK_CHANNEL, WORLD_CHANNEL]).await {
            tracing::warn!(error = %e, "LISTEN failed; polling only");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        // Whatever changed before this point is covered by a new generation.
        world.changed();
        world.listening.store(true, Ordering::SeqCst);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == WORLD_CHANNEL => world.changed(),
                Ok(Some(_)) => work.notify_one(),
                // The connection was lost: reconnect from scratch. Work announced in the gap is
                // found by polling (and by this wake-up).
                Ok(None) => {
                    work.notify_one();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}
