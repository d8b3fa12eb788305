//! How a statement runs, stated once for any sqlx database, so that the concerns can be true
//! generics over the backend rather than a macro expanded per backend.
//!
//! Generic sqlx code needs higher-ranked bounds (`for<'c> &'c mut DB::Connection: Executor<'c>`,
//! `for<'q> &'q str: Encode<'q, DB>`, `for<'r> Row: FromRow<'r, DB::Row>`, …). Such where
//! clauses are not implied by a trait bound, so every generic impl would have to repeat them,
//! and `async_trait`'s `Send` futures trip over them. Here they are written once, on the blanket
//! impl of [`Sql`]; its methods hand back boxed `Send` futures and take parameters as [`Param`]s
//! and give rows read through [`Columns`], so code generic over `DB: Sql` (and so over a
//! [`crate::backend::Backend`]) needs no bound but `Sql` itself.

use std::future::Future;
use std::pin::Pin;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use crate::StoreResult;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A value for a numbered parameter (`$1`, `$2`, … in the order given): every type the schema
/// stores.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::OptText(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::OptText(v.as_deref())
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::OptInt(v)
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// `args![a, b, c]`: the parameters `$1`, `$2`, `$3` of a statement.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        [$($crate::sql::Param::from($v)),*]
    };
}
pub(crate) use args;

/// A result row read by position (the order of the `SELECT` list next to each reader), whatever
/// returned it: sqlx on either database, or rusqlite on SQLite's writer thread.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> StoreResult<String>;
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    fn int(&self, i: usize) -> StoreResult<i64>;
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    fn flag(&self, i: usize) -> StoreResult<bool>;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> StoreResult<bool> {
        Ok(self.try_get(i)?)
    }
}

/// The rows a statement changed; each driver has it, but not behind a common trait.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

/// A database the concerns can run statements on. Errors stay sqlx's own, so that callers can
/// tell a conflict ([`crate::StoreError::from_write`]) from anything else.
pub(crate) trait Sql: Database<Row: Columns> {
    /// Runs one statement on `conn` (a connection or an open transaction); returns the rows it
    /// changed.
    fn run<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: &'a [Param<'a>],
    ) -> BoxFuture<'a, sqlx::Result<u64>>;

    /// Every row a statement returns.
    fn fetch<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: &'a [Param<'a>],
    ) -> BoxFuture<'a, sqlx::Result<Vec<Self::Row>>>;
}

fn bind<'a, DB>(
    sql: &'a str,
    args: &'a [Param<'a>],
) -> sqlx::query::Query<'a, DB, DB::Arguments<'a>>
where
    DB: Database,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    args.iter().fold(sqlx::query(sql), |q, arg| match *arg {
        Param::Text(v) => q.bind(v),
        Param::OptText(v) => q.bind(v),
        Param::Int(v) => q.bind(v),
        Param::OptInt(v) => q.bind(v),
        Param::Bool(v) => q.bind(v),
    })
}

impl<DB> Sql for DB
where
    DB: Database<Row: Columns, QueryResult: RowsAffected>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    fn run<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: &'a [Param<'a>],
    ) -> BoxFuture<'a, sqlx::Result<u64>> {
        let done = bind::<DB>(sql, args).execute(conn);
        Box::pin(async move { Ok(done.await?.rows_affected()) })
    }

    fn fetch<'a>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: &'a [Param<'a>],
    ) -> BoxFuture<'a, sqlx::Result<Vec<Self::Row>>> {
        Box::pin(bind::<DB>(sql, args).fetch_all(conn))
    }
}

/// `($1, …), ($k, …)`: `rows` rows of `cols` numbered parameters, each row laid out by `shape`
/// from its parameters (so a row can hold literals and casts too).
pub(crate) fn value_rows(rows: usize, cols: usize, shape: impl Fn(&[String]) -> String) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", shape(&params))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
