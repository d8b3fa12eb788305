//! One schema truth: after their migrations, the SQLite and PostgreSQL schemas describe the same
//! tables, so that the two histories cannot drift apart unnoticed.
//!
//! Compared: tables; columns (name, nullability, type family); primary keys; unique and other
//! indexes (columns in order, unique or not, partial or not, and the name of every index made by
//! `CREATE INDEX`); foreign keys (columns, referenced table and columns, `ON DELETE`); and
//! triggers (table and the statements they fire on).
//!
//! What the dialects force to differ, and so is normalised or left out, explicitly:
//! - type names: SQLite declares `INTEGER` where PostgreSQL says `BIGINT`, and has no boolean
//!   type, so a PostgreSQL `BOOLEAN` is an `INTEGER` there: both are the family `integer`;
//! - nullability of primary keys: SQLite lets a non-integer primary-key column hold NULL unless it
//!   says `NOT NULL` (a legacy quirk); PostgreSQL never does. Primary-key columns count as not
//!   null on both;
//! - generated keys: SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT` is PostgreSQL's identity
//!   column; both count as `generated`;
//! - bookkeeping tables: `_sqlx_migrations` (sqlx's, per backend) and `sqlite_sequence`
//!   (SQLite's, for `AUTOINCREMENT`);
//! - names of implicit indexes (SQLite's `sqlite_autoindex_*`, PostgreSQL's `*_key`, `*_pkey`) and
//!   the text of partial indexes' predicates (each database rewrites it its own way);
//! - triggers' names and bodies: new deliveries record their target through a row trigger on
//!   SQLite and a statement trigger (which also sends `NOTIFY`) on PostgreSQL;
//! - PostgreSQL only, for nodes that share it: the functions behind its triggers
//!   ([`PG_ONLY_FUNCTIONS`]) and the triggers that announce changes to the world
//!   ([`PG_ONLY_WORLD_TRIGGERS`]). Both lists must match what exists, so that a new
//!   PostgreSQL-only object has to be named here;
//! - storage details with no counterpart: SQLite's `WITHOUT ROWID`.

mod backends;

use std::collections::BTreeSet;

use backends::Backend;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

/// Functions only PostgreSQL has: its triggers' bodies.
const PG_ONLY_FUNCTIONS: &[&str] = &["wabahook_deliveries_added", "wabahook_world_changed"];

/// Tables whose changes PostgreSQL announces to other nodes with a trigger named
/// `{table}_changed` (migration 0003); one SQLite process needs no announcement.
const PG_ONLY_WORLD_TRIGGERS: &[&str] = &[
    "businesses",
    "wabas",
    "phone_numbers",
    "apps",
    "app_access",
    "tokens",
    "token_assets",
    "app_subscriptions",
    "app_subscription_fields",
    "waba_subscriptions",
    "phone_number_overrides",
    "delivery_policies",
];

fn family(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "boolean" {
        "integer".into()
    } else if t.contains("text") || t.contains("char") {
        "text".into()
    } else {
        t
    }
}

fn columns(cols: &[String]) -> String {
    cols.join(", ")
}

/// One line per fact, so that a difference reads as the facts only one side has.
type Facts = BTreeSet<String>;

async fn sqlite_schema(url: &str) -> Facts {
    let mut db = SqliteConnection::connect(url).await.unwrap();
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT IN ('_sqlx_migrations', 'sqlite_sequence') ORDER BY name",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for table in &tables {
        facts.insert(format!("table {table}"));
        let cols = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY pk, cid",
        )
        .bind(table)
        .fetch_all(&mut db)
        .await
        .unwrap();
        let mut key = Vec::new();
        for c in &cols {
            let (name, ty): (String, String) = (c.get(0), c.get(1));
            let (not_null, pk): (i64, i64) = (c.get(2), c.get(3));
            if pk > 0 {
                key.push(name.clone());
            }
            // An INTEGER PRIMARY KEY is the rowid: generated unless given.
            let generated = pk > 0
                && cols.iter().filter(|c| c.get::<i64, _>(3) > 0).count() == 1
                && ty.eq_ignore_ascii_case("INTEGER");
            facts.insert(column_fact(
                table,
                &name,
                &family(&ty),
                not_null != 0 || pk > 0,
                generated,
            ));
        }
        if !key.is_empty() {
            facts.insert(format!("primary key {table}({})", columns(&key)));
        }
        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list($1) \
             WHERE origin <> 'pk'",
        )
        .bind(table)
        .fetch_all(&mut db)
        .await
        .unwrap();
        for i in &indexes {
            let name: String = i.get(0);
            let cols: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
            let explicit = i.get::<String, _>(2) == "c";
            facts.insert(index_fact(
                table,
                &cols,
                i.get::<i64, _>(1) != 0,
                i.get::<i64, _>(3) != 0,
                explicit.then_some(name.as_str()),
            ));
        }
        let fks = sqlx::query(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list($1) \
             ORDER BY id, seq",
        )
        .bind(table)
        .fetch_all(&mut db)
        .await
        .unwrap();
        let ids: BTreeSet<i64> = fks.iter().map(|f| f.get(0)).collect();
        for id in ids {
            let parts: Vec<_> = fks.iter().filter(|f| f.get::<i64, _>(0) == id).collect();
            let from: Vec<String> = parts.iter().map(|f| f.get(2)).collect();
            let to: Vec<String> = parts.iter().map(|f| f.get(3)).collect();
            let on_delete: String = parts[0].get(4);
            facts.insert(foreign_key_fact(
                table,
                &from,
                &parts[0].get::<String, _>(1),
                &to,
                &on_delete,
            ));
        }
    }
    let triggers = sqlx::query("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        .fetch_all(&mut db)
        .await
        .unwrap();
    for t in &triggers {
        let sql: String = t.get(1);
        // `CREATE TRIGGER name [BEFORE|AFTER] event [OF cols] ON table …`: the event is what
        // precedes the first ON.
        let head = sql.to_ascii_uppercase();
        let head = head.split(" ON ").next().unwrap_or_default();
        let events: Vec<&str> = ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .filter(|e| head.contains(e))
            .collect();
        facts.insert(trigger_fact(&t.get::<String, _>(0), &events));
    }
    facts
}

async fn postgres_schema(url: &str) -> Facts {
    let mut db = PgConnection::connect(url).await.unwrap();
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for table in &tables {
        facts.insert(format!("table {table}"));
    }
    let cols = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
         is_identity::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for c in &cols {
        facts.insert(column_fact(
            &c.get::<String, _>(0),
            &c.get::<String, _>(1),
            &family(&c.get::<String, _>(2)),
            c.get::<String, _>(3) == "NO",
            c.get::<String, _>(4) == "YES",
        ));
    }
    // Every index with its columns in order, its flags, and whether a constraint made it.
    let indexes = sqlx::query(
        "SELECT t.relname::text, i.relname::text, ix.indisprimary, ix.indisunique, \
         ix.indpred IS NOT NULL, \
         EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid), \
         ARRAY(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         WHERE t.relnamespace = 'public'::regnamespace AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for i in &indexes {
        let table: String = i.get(0);
        let name: String = i.get(1);
        let cols: Vec<String> = i.get(6);
        if i.get::<bool, _>(2) {
            facts.insert(format!("primary key {table}({})", columns(&cols)));
            continue;
        }
        let explicit = !i.get::<bool, _>(5);
        facts.insert(index_fact(
            &table,
            &cols,
            i.get(3),
            i.get(4),
            explicit.then_some(name.as_str()),
        ));
    }
    let fks = sqlx::query(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.confdeltype::text, \
         ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), \
         ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) \
         FROM pg_constraint c WHERE c.contype = 'f' \
         AND c.connamespace = 'public'::regnamespace",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for f in &fks {
        let on_delete = match f.get::<String, _>(2).as_str() {
            "a" => "NO ACTION",
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            other => panic!("unknown ON DELETE action {other:?}"),
        };
        facts.insert(foreign_key_fact(
            &f.get::<String, _>(0),
            &f.get::<Vec<String>, _>(3),
            &f.get::<String, _>(1),
            &f.get::<Vec<String>, _>(4),
            on_delete,
        ));
    }
    let triggers = sqlx::query(
        "SELECT c.relname::text, t.tgname::text, CAST(t.tgtype AS INT4) FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut world_triggers = BTreeSet::new();
    for t in &triggers {
        let (table, name): (String, String) = (t.get(0), t.get(1));
        if PG_ONLY_WORLD_TRIGGERS.contains(&table.as_str()) && name == format!("{table}_changed") {
            world_triggers.insert(table);
            continue;
        }
        // pg_trigger.tgtype: bit 2 INSERT, 3 DELETE, 4 UPDATE.
        let ty: i32 = t.get(2);
        let events: Vec<&str> = [(4, "INSERT"), (16, "UPDATE"), (8, "DELETE")]
            .into_iter()
            .filter(|(bit, _)| ty & bit != 0)
            .map(|(_, e)| e)
            .collect();
        facts.insert(trigger_fact(&table, &events));
    }
    let expected: BTreeSet<String> = PG_ONLY_WORLD_TRIGGERS
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        world_triggers, expected,
        "PostgreSQL's world-change triggers"
    );
    let functions: BTreeSet<String> = sqlx::query_scalar(
        "SELECT proname::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expected: BTreeSet<String> = PG_ONLY_FUNCTIONS.iter().map(|f| f.to_string()).collect();
    assert_eq!(functions, expected, "PostgreSQL-only functions");
    facts
}

fn column_fact(table: &str, name: &str, family: &str, not_null: bool, generated: bool) -> String {
    format!(
        "column {table}.{name} {family}{}{}",
        if not_null { " not null" } else { "" },
        if generated { " generated" } else { "" }
    )
}

fn index_fact(
    table: &str,
    cols: &[String],
    unique: bool,
    partial: bool,
    name: Option<&str>,
) -> String {
    format!(
        "{}index on {table}({}){}{}",
        if unique { "unique " } else { "" },
        columns(cols),
        if partial { " partial" } else { "" },
        name.map(|n| format!(" named {n}")).unwrap_or_default()
    )
}

fn foreign_key_fact(
    table: &str,
    cols: &[String],
    ref_table: &str,
    ref_cols: &[String],
    on_delete: &str,
) -> String {
    format!(
        "foreign key {table}({}) references {ref_table}({}) on delete {}",
        columns(cols),
        columns(ref_cols),
        on_delete.to_ascii_lowercase()
    )
}

fn trigger_fact(table: &str, events: &[&str]) -> String {
    format!(
        "trigger on {table} on {}",
        events.join(" or ").to_ascii_lowercase()
    )
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let (sqlite, postgres) = (Backend::sqlite(), Backend::postgres().await);
    // Opening a store runs its migrations.
    drop(sqlite.open().await);
    drop(postgres.open().await);
    let lite = sqlite_schema(&sqlite.url()).await;
    let pg = postgres_schema(&postgres.url()).await;
    assert!(
        lite.len() > 100,
        "too few facts read from SQLite: {lite:#?}"
    );
    let only = |a: &Facts, b: &Facts| a.difference(b).cloned().collect::<Vec<_>>();
    assert!(
        lite == pg,
        "the schemas differ\nonly on SQLite:\n  {}\nonly on PostgreSQL:\n  {}",
        only(&lite, &pg).join("\n  "),
        only(&pg, &lite).join("\n  ")
    );
}
