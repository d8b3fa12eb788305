//! The simulator's message templates (migration 0007, `templates` and `template_builtins`).
//!
//! A review decision is stored when it is made, with the moment it takes effect
//! (`decided_at_ms`); until then the template reads as its prior status. The status a caller
//! sees is [`Template::status_at`], computed from the clock, so no job has to flip it.
//!
//! The decision's webhook is an outbox row written in the same transaction as the template
//! (`review_outbox_id`), so that a crash right after the commit still announces it; a decision
//! that replaces one still to come supersedes that row, pending or already an event.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::outbox::{self, NewEmission, PendingEmission};
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

/// One message template of a WABA, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    /// `NAMED` or `POSITIONAL`.
    pub parameter_format: String,
    /// The components as JSON text, in the shape Graph lists them.
    pub components: String,
    /// The status from `decided_at_ms` on, and its reason.
    pub status: String,
    pub reason: Option<String>,
    pub decided_at_ms: i64,
    /// The status before `decided_at_ms`, and its reason.
    pub prior_status: String,
    pub prior_reason: Option<String>,
    /// The outbox row announcing the decision at `decided_at_ms` (and, once emitted, its
    /// event), while that announcement may still have to be withdrawn.
    pub review_outbox_id: Option<i64>,
    pub quality_score: String,
    /// When the quality score was last set (Unix seconds).
    pub quality_at: i64,
    pub created_at_ms: i64,
}

impl Template {
    /// The status (and reason) the template has at `now_ms`.
    pub fn status_at(&self, now_ms: i64) -> (&str, Option<&str>) {
        if now_ms >= self.decided_at_ms {
            (&self.status, self.reason.as_deref())
        } else {
            (&self.prior_status, self.prior_reason.as_deref())
        }
    }
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Milliseconds since the Unix epoch on the store's clock (the one the engine and the API
    /// share), against which [`Template::status_at`] is read.
    fn template_clock_ms(&self) -> i64;

    /// Puts `builtins` on WABA `waba_id` the first time this is called for it; later calls
    /// change nothing, so a built-in template that was deleted stays deleted.
    async fn ensure_template_builtins(
        &self,
        waba_id: &str,
        builtins: &[Template],
    ) -> StoreResult<()>;

    /// Adds a template; `StoreError::Conflict` when the WABA has that name in that language.
    async fn insert_template(&self, t: &Template) -> StoreResult<()> {
        self.insert_template_emitting(t, None).await.map(|_| ())
    }

    /// [`TemplateStore::insert_template`] with the emission announcing its review decision
    /// added to the outbox in the same transaction; the stored template's `review_outbox_id`
    /// is that emission's id (else `t.review_outbox_id`). Returns the emission with its id.
    async fn insert_template_emitting(
        &self,
        t: &Template,
        decision: Option<&NewEmission>,
    ) -> StoreResult<Vec<PendingEmission>>;

    async fn template(&self, id: &str) -> StoreResult<Option<Template>>;

    /// Every template of a WABA, oldest first.
    async fn templates(&self, waba_id: &str) -> StoreResult<Vec<Template>>;

    /// Replaces every mutable column of template `t.id` with `t`'s; when `supersede` names an
    /// outbox row (a scheduled decision that another one replaces), that row is withdrawn in
    /// the same transaction: refused while pending, its event's pending deliveries cancelled
    /// once emitted. False when the template is gone.
    async fn update_template(
        &self,
        t: &Template,
        supersede: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<bool> {
        Ok(self
            .update_template_emitting(t, supersede, now_ms, &[], None)
            .await?
            .is_some())
    }

    /// [`TemplateStore::update_template`] with the events the change causes added to the
    /// outbox in the same transaction, `decision` (the announcement of a new review decision)
    /// last, its id becoming the template's `review_outbox_id` (else `t.review_outbox_id` is
    /// kept). Returns them with their ids, or `None` when the template is gone (and nothing was
    /// written).
    async fn update_template_emitting(
        &self,
        t: &Template,
        supersede: Option<i64>,
        now_ms: i64,
        emissions: &[NewEmission],
        decision: Option<&NewEmission>,
    ) -> StoreResult<Option<Vec<PendingEmission>>>;

    /// Deletes the templates named; returns how many there were.
    async fn delete_templates(&self, ids: &[String]) -> StoreResult<u64>;
}

const COLUMNS: &str = "id, waba_id, name, language, category, parameter_format, components, \
     status, reason, decided_at_ms, prior_status, prior_reason, review_outbox_id, quality_score, \
     quality_at, created_at_ms";

const INSERT: &str = "INSERT INTO templates (id, waba_id, name, language, category, \
     parameter_format, components, status, reason, decided_at_ms, prior_status, prior_reason, \
     review_outbox_id, quality_score, quality_at, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// Why a decision's announcement was withdrawn (`outbox.refused`).
const SUPERSEDED: &str = "superseded by a later review decision";

fn template(c: &dyn Columns) -> StoreResult<Template> {
    Ok(Template {
        id: c.text(0)?,
        waba_id: c.text(1)?,
        name: c.text(2)?,
        language: c.text(3)?,
        category: c.text(4)?,
        parameter_format: c.text(5)?,
        components: c.text(6)?,
        status: c.text(7)?,
        reason: c.opt_text(8)?,
        decided_at_ms: c.int(9)?,
        prior_status: c.text(10)?,
        prior_reason: c.opt_text(11)?,
        review_outbox_id: c.opt_int(12)?,
        quality_score: c.text(13)?,
        quality_at: c.int(14)?,
        created_at_ms: c.int(15)?,
    })
}

macro_rules! insert_args {
    ($t:expr) => {
        insert_args!($t, $t.review_outbox_id)
    };
    ($t:expr, $review:expr) => {
        args![
            &$t.id,
            &$t.waba_id,
            &$t.name,
            &$t.language,
            &$t.category,
            &$t.parameter_format,
            &$t.components,
            &$t.status,
            &$t.reason,
            $t.decided_at_ms,
            &$t.prior_status,
            &$t.prior_reason,
            $review,
            &$t.quality_score,
            $t.quality_at,
            $t.created_at_ms,
        ]
    };
}

#[async_trait]
impl<B: Backend> TemplateStore for B {
    fn template_clock_ms(&self) -> i64 {
        self.shared().clock.now_ms()
    }

    async fn ensure_template_builtins(
        &self,
        waba_id: &str,
        builtins: &[Template],
    ) -> StoreResult<()> {
        // Sends read templates all the time: a read settles it without taking the write lock.
        let done = self
            .shared()
            .read_one(
                "SELECT waba_id FROM template_builtins WHERE waba_id = $1",
                &args![waba_id],
                |c| c.text(0),
            )
            .await?;
        if done.is_some() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let first = B::Db::run(
            &mut tx,
            "INSERT INTO template_builtins (waba_id) VALUES ($1) ON CONFLICT (waba_id) DO NOTHING",
            &args![waba_id],
        )
        .await?;
        if first > 0 {
            for t in builtins {
                let sql = format!("{INSERT} ON CONFLICT (waba_id, name, language) DO NOTHING");
                B::Db::run(&mut tx, &sql, &insert_args!(t)).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_template_emitting(
        &self,
        t: &Template,
        decision: Option<&NewEmission>,
    ) -> StoreResult<Vec<PendingEmission>> {
        let now_ms = self.shared().clock.now_ms();
        let mut tx = self.begin_write().await?;
        let recorded = outbox::add_emissions::<B::Db>(
            &mut tx,
            decision.map_or(&[], std::slice::from_ref),
            now_ms,
        )
        .await?;
        let review = recorded.first().map(|p| p.id).or(t.review_outbox_id);
        B::Db::run(&mut tx, INSERT, &insert_args!(t, review))
            .await
            .map_err(|e| {
                StoreError::from_write(e, &format!("template {} ({})", t.name, t.language))
            })?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn template(&self, id: &str) -> StoreResult<Option<Template>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE id = $1");
        self.shared().read_one(&sql, &args![id], template).await
    }

    async fn templates(&self, waba_id: &str) -> StoreResult<Vec<Template>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM templates WHERE waba_id = $1 ORDER BY created_at_ms, id"
        );
        self.shared()
            .read_all(&sql, &args![waba_id], template)
            .await
    }

    async fn update_template_emitting(
        &self,
        t: &Template,
        supersede: Option<i64>,
        now_ms: i64,
        emissions: &[NewEmission],
        decision: Option<&NewEmission>,
    ) -> StoreResult<Option<Vec<PendingEmission>>> {
        let mut tx = self.begin_write().await?;
        if let Some(row) = supersede {
            outbox::supersede::<B::Db>(&mut tx, row, SUPERSEDED, now_ms).await?;
        }
        let mut recorded = outbox::add_emissions::<B::Db>(&mut tx, emissions, now_ms).await?;
        let review = match decision {
            Some(d) => {
                let d = outbox::add_emissions::<B::Db>(&mut tx, std::slice::from_ref(d), now_ms)
                    .await?;
                let id = d.first().map(|p| p.id);
                recorded.extend(d);
                id
            }
            None => t.review_outbox_id,
        };
        let changed = B::Db::run(
            &mut tx,
            "UPDATE templates SET category = $2, parameter_format = $3, components = $4, \
             status = $5, reason = $6, decided_at_ms = $7, prior_status = $8, prior_reason = $9, \
             review_outbox_id = $10, quality_score = $11, quality_at = $12 WHERE id = $1",
            &args![
                &t.id,
                &t.category,
                &t.parameter_format,
                &t.components,
                &t.status,
                &t.reason,
                t.decided_at_ms,
                &t.prior_status,
                &t.prior_reason,
                review,
                &t.quality_score,
                t.quality_at,
            ],
        )
        .await?;
        if changed == 0 {
            // Dropping the transaction rolls back the outbox rows written above.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(recorded))
    }

    async fn delete_templates(&self, ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut deleted = 0;
        for id in ids {
            deleted +=
                B::Db::run(&mut tx, "DELETE FROM templates WHERE id = $1", &args![id]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
