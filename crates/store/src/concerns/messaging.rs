//! The messaging simulator's conversations (migration 0006): messages both ways with their
//! statuses (and, in the outbox, the events they become), the customer service window per
//! (business number, customer), the customers' identities, and recipients made to fail.
//!
//! Statuses are stored when the message is sent, each dated when it happens; the current
//! status is the latest one whose time has come, so nothing needs updating later and a restart
//! changes nothing.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::outbox::{self, NewEmission, PendingEmission};
use crate::sql::{args, Columns, Sql};
use crate::StoreResult;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Business to customer (`POST /messages`).
    Outbound,
    /// Customer to business.
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    fn parse(s: &str) -> Direction {
        if s == "inbound" {
            Direction::Inbound
        } else {
            Direction::Outbound
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub wamid: String,
    pub phone_number_id: String,
    pub waba_id: String,
    /// The customer's phone number (digits).
    pub wa_id: String,
    /// The customer's business-scoped user id.
    pub user_id: String,
    pub direction: Direction,
    /// `text`, `template`, `image`, …
    pub kind: String,
    /// The send request as given, or the inbound message as Meta reports it (JSON).
    pub payload_json: String,
    pub created_at_ms: i64,
}

/// One status of a message, dated when it happens (possibly later than now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub status: String,
    pub at_ms: i64,
    pub error_code: Option<i64>,
}

/// A message with its statuses in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageWithStatuses {
    pub message: MessageRecord,
    pub statuses: Vec<StatusRecord>,
}

/// Who a customer is, as one business sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub business_id: String,
    pub wa_id: String,
    pub user_id: String,
    /// Profile name.
    pub name: String,
    pub username: Option<String>,
    pub updated_at_ms: i64,
}

/// One (business number, customer) pair that has messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub phone_number_id: String,
    pub wa_id: String,
    pub messages: i64,
    pub last_message_at_ms: i64,
    /// When the customer last wrote (the customer service window runs from here).
    pub last_inbound_at_ms: Option<i64>,
}

/// Which conversations or messages to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter<'a> {
    pub phone_number_id: Option<&'a str>,
    pub wa_id: Option<&'a str>,
}

#[async_trait]
pub trait MessagingStore: Send + Sync {
    /// Records a message with its planned statuses and the events they are to become (in the
    /// outbox) in one transaction; returns the emissions with their outbox ids. An inbound
    /// message also opens (or extends) the customer service window of its (business number,
    /// customer).
    async fn record_message(
        &self,
        message: &MessageRecord,
        statuses: &[StatusRecord],
        emissions: &[NewEmission],
    ) -> StoreResult<Vec<PendingEmission>>;

    /// Adds statuses to a message already recorded (a business marking an inbound message as
    /// read). Returns false when there is no such message.
    async fn add_statuses(&self, wamid: &str, statuses: &[StatusRecord]) -> StoreResult<bool>;

    async fn message(&self, wamid: &str) -> StoreResult<Option<MessageWithStatuses>>;

    /// Moves the window of (business number, customer) to `at_ms` unless it is already later.
    async fn open_window(&self, phone_number_id: &str, wa_id: &str, at_ms: i64) -> StoreResult<()>;

    /// When the customer last wrote to this business number, if ever.
    async fn last_inbound(&self, phone_number_id: &str, wa_id: &str) -> StoreResult<Option<i64>>;

    /// Conversations matching `filter`, most recent first, at most `limit`.
    async fn conversations(
        &self,
        filter: &ConversationFilter<'_>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>>;

    /// The last `limit` messages matching `filter` with their statuses, oldest first.
    async fn conversation_messages(
        &self,
        filter: &ConversationFilter<'_>,
        limit: i64,
    ) -> StoreResult<Vec<MessageWithStatuses>>;

    /// Stores who a customer is (replacing what was known).
    async fn put_customer(&self, customer: &Customer) -> StoreResult<()> {
        self.put_customer_emitting(customer, &[]).await.map(|_| ())
    }

    /// [`MessagingStore::put_customer`] with the events the change causes (a customer's
    /// number change is announced by a `system` message) added to the outbox in the same
    /// transaction; returns them with their outbox ids.
    async fn put_customer_emitting(
        &self,
        customer: &Customer,
        emissions: &[NewEmission],
    ) -> StoreResult<Vec<PendingEmission>>;

    async fn customer(&self, business_id: &str, wa_id: &str) -> StoreResult<Option<Customer>>;

    async fn customer_by_user_id(
        &self,
        business_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Customer>>;

    /// Makes messages to `wa_id` fail with `code` (`Some`), or deliver again (`None`).
    async fn set_failing_recipient(
        &self,
        wa_id: &str,
        code: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// The error code messages to `wa_id` fail with, if it was made to fail.
    async fn failing_recipient(&self, wa_id: &str) -> StoreResult<Option<i64>>;

    /// Every recipient made to fail, with its code.
    async fn failing_recipients(&self) -> StoreResult<Vec<(String, i64)>>;
}

const MESSAGE_COLUMNS: &str = "wamid, phone_number_id, waba_id, wa_id, user_id, direction, type, \
     payload_json, created_at_ms";

fn message_row(c: &dyn Columns) -> StoreResult<MessageRecord> {
    Ok(MessageRecord {
        wamid: c.text(0)?,
        phone_number_id: c.text(1)?,
        waba_id: c.text(2)?,
        wa_id: c.text(3)?,
        user_id: c.text(4)?,
        direction: Direction::parse(&c.text(5)?),
        kind: c.text(6)?,
        payload_json: c.text(7)?,
        created_at_ms: c.int(8)?,
    })
}

fn status_row(c: &dyn Columns) -> StoreResult<(String, StatusRecord)> {
    Ok((
        c.text(0)?,
        StatusRecord {
            status: c.text(1)?,
            at_ms: c.int(2)?,
            error_code: c.opt_int(3)?,
        },
    ))
}

fn customer_row(c: &dyn Columns) -> StoreResult<Customer> {
    Ok(Customer {
        business_id: c.text(0)?,
        wa_id: c.text(1)?,
        user_id: c.text(2)?,
        name: c.text(3)?,
        username: c.opt_text(4)?,
        updated_at_ms: c.int(5)?,
    })
}

fn summary_row(c: &dyn Columns) -> StoreResult<ConversationSummary> {
    Ok(ConversationSummary {
        phone_number_id: c.text(0)?,
        wa_id: c.text(1)?,
        messages: c.int(2)?,
        last_message_at_ms: c.int(3)?,
        last_inbound_at_ms: c.opt_int(4)?,
    })
}

/// `WHERE` conditions of a filter over `messages` (aliased `m`), starting at parameter `$1`.
fn filter_sql(f: &ConversationFilter<'_>) -> String {
    let mut conds = vec!["1 = 1".to_string()];
    let mut n = 0;
    if f.phone_number_id.is_some() {
        n += 1;
        conds.push(format!("m.phone_number_id = ${n}"));
    }
    if f.wa_id.is_some() {
        n += 1;
        conds.push(format!("m.wa_id = ${n}"));
    }
    conds.join(" AND ")
}

#[async_trait]
impl<B: Backend> MessagingStore for B {
    async fn record_message(
        &self,
        m: &MessageRecord,
        statuses: &[StatusRecord],
        emissions: &[NewEmission],
    ) -> StoreResult<Vec<PendingEmission>> {
        let mut tx = self.begin_write().await?;
        B::Db::run(
            &mut tx,
            &format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &args![
                &m.wamid,
                &m.phone_number_id,
                &m.waba_id,
                &m.wa_id,
                &m.user_id,
                m.direction.as_str(),
                &m.kind,
                &m.payload_json,
                m.created_at_ms
            ],
        )
        .await?;
        for (seq, s) in statuses.iter().enumerate() {
            B::Db::run(
                &mut tx,
                "INSERT INTO message_statuses (wamid, seq, status, at_ms, error_code) \
                 VALUES ($1, $2, $3, $4, $5)",
                &args![&m.wamid, seq as i64, &s.status, s.at_ms, s.error_code],
            )
            .await?;
        }
        if m.direction == Direction::Inbound {
            B::Db::run(
                &mut tx,
                OPEN_WINDOW,
                &args![&m.phone_number_id, &m.wa_id, m.created_at_ms],
            )
            .await?;
        }
        let recorded =
            outbox::add_emissions::<B::Db>(&mut tx, emissions, self.shared().clock.now_ms())
                .await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn add_statuses(&self, wamid: &str, statuses: &[StatusRecord]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let rows = B::Db::fetch(
            &mut tx,
            "SELECT COALESCE(MAX(s.seq), -1), COUNT(m.wamid) FROM messages m \
             LEFT JOIN message_statuses s ON s.wamid = m.wamid WHERE m.wamid = $1",
            &args![wamid],
        )
        .await?;
        let (last, found) = match rows.first() {
            Some(r) => (r.int(0)?, r.int(1)? > 0),
            None => (-1, false),
        };
        if !found {
            return Ok(false);
        }
        for (i, s) in statuses.iter().enumerate() {
            B::Db::run(
                &mut tx,
                "INSERT INTO message_statuses (wamid, seq, status, at_ms, error_code) \
                 VALUES ($1, $2, $3, $4, $5)",
                &args![wamid, last + 1 + i as i64, &s.status, s.at_ms, s.error_code],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn message(&self, wamid: &str) -> StoreResult<Option<MessageWithStatuses>> {
        let Some(message) = self
            .shared()
            .read_one(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE wamid = $1"),
                &args![wamid],
                message_row,
            )
            .await?
        else {
            return Ok(None);
        };
        let statuses = self
            .shared()
            .read_all(
                "SELECT wamid, status, at_ms, error_code FROM message_statuses WHERE wamid = $1 \
                 ORDER BY at_ms, seq",
                &args![wamid],
                status_row,
            )
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        Ok(Some(MessageWithStatuses { message, statuses }))
    }

    async fn open_window(&self, phone_number_id: &str, wa_id: &str, at_ms: i64) -> StoreResult<()> {
        self.shared()
            .write_one(OPEN_WINDOW, &args![phone_number_id, wa_id, at_ms])
            .await?;
        Ok(())
    }

    async fn last_inbound(&self, phone_number_id: &str, wa_id: &str) -> StoreResult<Option<i64>> {
        self.shared()
            .read_one(
                "SELECT last_inbound_at_ms FROM conversation_windows \
                 WHERE phone_number_id = $1 AND wa_id = $2",
                &args![phone_number_id, wa_id],
                |c| c.int(0),
            )
            .await
    }

    async fn conversations(
        &self,
        filter: &ConversationFilter<'_>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let n = [filter.phone_number_id, filter.wa_id]
            .iter()
            .filter(|f| f.is_some())
            .count();
        let sql = format!(
            "SELECT m.phone_number_id, m.wa_id, COUNT(*), MAX(m.created_at_ms), \
             MAX(w.last_inbound_at_ms) FROM messages m \
             LEFT JOIN conversation_windows w \
               ON w.phone_number_id = m.phone_number_id AND w.wa_id = m.wa_id \
             WHERE {} GROUP BY m.phone_number_id, m.wa_id \
             ORDER BY MAX(m.created_at_ms) DESC, m.phone_number_id, m.wa_id LIMIT ${}",
            filter_sql(filter),
            n + 1
        );
        let mut a = Vec::new();
        a.extend(filter.phone_number_id.map(crate::sql::Param::from));
        a.extend(filter.wa_id.map(crate::sql::Param::from));
        a.push(limit.into());
        self.shared().read_all(&sql, &a, summary_row).await
    }

    async fn conversation_messages(
        &self,
        filter: &ConversationFilter<'_>,
        limit: i64,
    ) -> StoreResult<Vec<MessageWithStatuses>> {
        let n = [filter.phone_number_id, filter.wa_id]
            .iter()
            .filter(|f| f.is_some())
            .count();
        let where_ = filter_sql(filter);
        let mut a = Vec::new();
        a.extend(filter.phone_number_id.map(crate::sql::Param::from));
        a.extend(filter.wa_id.map(crate::sql::Param::from));
        a.push(limit.into());
        let cols = MESSAGE_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut messages = self
            .shared()
            .read_all(
                &format!(
                    "SELECT {cols} FROM messages m WHERE {where_} \
                     ORDER BY m.created_at_ms DESC, m.wamid DESC LIMIT ${}",
                    n + 1
                ),
                &a,
                message_row,
            )
            .await?;
        messages.reverse();
        let Some(oldest) = messages.first().map(|m| m.created_at_ms) else {
            return Ok(Vec::new());
        };
        // The statuses of the same messages: same filter, from the oldest one listed.
        a.pop();
        a.push(oldest.into());
        let statuses = self
            .shared()
            .read_all(
                &format!(
                    "SELECT s.wamid, s.status, s.at_ms, s.error_code FROM message_statuses s \
                     JOIN messages m ON m.wamid = s.wamid \
                     WHERE {where_} AND m.created_at_ms >= ${} ORDER BY s.at_ms, s.seq",
                    n + 1
                ),
                &a,
                status_row,
            )
            .await?;
        let mut by_wamid: std::collections::HashMap<String, Vec<StatusRecord>> =
            std::collections::HashMap::new();
        for (w, s) in statuses {
            by_wamid.entry(w).or_default().push(s);
        }
        Ok(messages
            .into_iter()
            .map(|m| MessageWithStatuses {
                statuses: by_wamid.remove(&m.wamid).unwrap_or_default(),
                message: m,
            })
            .collect())
    }

    async fn put_customer_emitting(
        &self,
        c: &Customer,
        emissions: &[NewEmission],
    ) -> StoreResult<Vec<PendingEmission>> {
        let mut tx = self.begin_write().await?;
        B::Db::run(
            &mut tx,
            "INSERT INTO customers (business_id, wa_id, user_id, name, username, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(business_id, wa_id) DO UPDATE SET \
                 user_id = excluded.user_id, name = excluded.name, username = excluded.username, \
                 updated_at_ms = excluded.updated_at_ms",
            &args![
                &c.business_id,
                &c.wa_id,
                &c.user_id,
                &c.name,
                &c.username,
                c.updated_at_ms
            ],
        )
        .await?;
        let recorded =
            outbox::add_emissions::<B::Db>(&mut tx, emissions, self.shared().clock.now_ms())
                .await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn customer(&self, business_id: &str, wa_id: &str) -> StoreResult<Option<Customer>> {
        self.shared()
            .read_one(
                "SELECT business_id, wa_id, user_id, name, username, updated_at_ms FROM customers \
                 WHERE business_id = $1 AND wa_id = $2",
                &args![business_id, wa_id],
                customer_row,
            )
            .await
    }

    async fn customer_by_user_id(
        &self,
        business_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Customer>> {
        self.shared()
            .read_one(
                "SELECT business_id, wa_id, user_id, name, username, updated_at_ms FROM customers \
                 WHERE business_id = $1 AND user_id = $2",
                &args![business_id, user_id],
                customer_row,
            )
            .await
    }

    async fn set_failing_recipient(
        &self,
        wa_id: &str,
        code: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        match code {
            Some(code) => {
                self.shared()
                    .write_one(
                        "INSERT INTO failing_recipients (wa_id, code, created_at_ms) \
                         VALUES ($1, $2, $3) ON CONFLICT(wa_id) DO UPDATE SET code = excluded.code",
                        &args![wa_id, code, now_ms],
                    )
                    .await?
            }
            None => {
                self.shared()
                    .write_one(
                        "DELETE FROM failing_recipients WHERE wa_id = $1",
                        &args![wa_id],
                    )
                    .await?
            }
        };
        Ok(())
    }

    async fn failing_recipient(&self, wa_id: &str) -> StoreResult<Option<i64>> {
        self.shared()
            .read_one(
                "SELECT code FROM failing_recipients WHERE wa_id = $1",
                &args![wa_id],
                |c| c.int(0),
            )
            .await
    }

    async fn failing_recipients(&self) -> StoreResult<Vec<(String, i64)>> {
        self.shared()
            .read_all(
                "SELECT wa_id, code FROM failing_recipients ORDER BY wa_id",
                &[],
                |c| Ok((c.text(0)?, c.int(1)?)),
            )
            .await
    }
}

/// Moves a window forward, never back (an older inbound message arriving late changes nothing).
const OPEN_WINDOW: &str =
    "INSERT INTO conversation_windows (phone_number_id, wa_id, last_inbound_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT(phone_number_id, wa_id) DO UPDATE SET last_inbound_at_ms = \
     CASE WHEN excluded.last_inbound_at_ms > conversation_windows.last_inbound_at_ms \
     THEN excluded.last_inbound_at_ms ELSE conversation_windows.last_inbound_at_ms END";
