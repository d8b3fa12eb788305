//! Business Use Case rate limiting (migration 0001, `buc_usage`): calls per (app, WABA) per unix
//! minute, kept in the store so that every node sharing it counts against the same limit.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::records::UsageBucket;
use crate::sql::{args, Columns, Sql};
use crate::StoreResult;

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Counts one call for (app, WABA) in the one-minute bucket `minute` (unix minutes), drops
    /// buckets older than `window_minutes`, and returns the buckets still in the window, oldest
    /// first. Atomic, so that nodes sharing the store share the count.
    async fn count_buc_call(
        &self,
        app_id: &str,
        waba_id: &str,
        minute: i64,
        window_minutes: i64,
    ) -> StoreResult<Vec<UsageBucket>>;
}

#[async_trait]
impl<B: Backend> RateLimitStore for B {
    async fn count_buc_call(
        &self,
        app_id: &str,
        waba_id: &str,
        minute: i64,
        window_minutes: i64,
    ) -> StoreResult<Vec<UsageBucket>> {
        let oldest = minute - window_minutes + 1;
        let mut tx = self.begin_write().await?;
        B::Db::run(
            &mut tx,
            "DELETE FROM buc_usage WHERE app_id = $1 AND waba_id = $2 AND minute < $3",
            &args![app_id, waba_id, oldest],
        )
        .await?;
        B::Db::run(
            &mut tx,
            "INSERT INTO buc_usage (app_id, waba_id, minute, calls) VALUES ($1, $2, $3, 1) \
             ON CONFLICT(app_id, waba_id, minute) DO UPDATE SET calls = buc_usage.calls + 1",
            &args![app_id, waba_id, minute],
        )
        .await?;
        let rows = B::Db::fetch(
            &mut tx,
            "SELECT minute, calls FROM buc_usage WHERE app_id = $1 AND waba_id = $2 \
             ORDER BY minute",
            &args![app_id, waba_id],
        )
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(UsageBucket {
                    minute: r.int(0)?,
                    calls: r.int(1)?,
                })
            })
            .collect()
    }
}
