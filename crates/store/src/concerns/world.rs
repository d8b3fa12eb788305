//! The world wabahook simulates: businesses, WABAs, phone numbers, apps, app access and tokens
//! (migration 0001), and the generation that tells a node when routes derived from it are stale.

use async_trait::async_trait;
use wabahook_model::AssetAccess;

use crate::backend::Backend;
use crate::records::*;
use crate::sql::{args, Columns, Param, Sql};
use crate::{StoreError, StoreResult};

/// What to do when a record with the same id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Refuse with [`StoreError::Conflict`] (admin API creation).
    Fail,
    /// Replace the stored values with the given ones (declarative seeds).
    Update,
}

#[async_trait]
pub trait WorldStore: Send + Sync {
    async fn put_business(&self, b: &Business, on_conflict: OnConflict) -> StoreResult<()>;
    async fn business(&self, id: &str) -> StoreResult<Option<Business>>;
    async fn businesses(&self) -> StoreResult<Vec<Business>>;

    async fn put_waba(&self, w: &Waba, on_conflict: OnConflict) -> StoreResult<()>;
    async fn waba(&self, id: &str) -> StoreResult<Option<Waba>>;
    async fn wabas(&self) -> StoreResult<Vec<Waba>>;

    async fn put_phone_number(&self, p: &PhoneNumber, on_conflict: OnConflict) -> StoreResult<()>;
    async fn phone_number(&self, id: &str) -> StoreResult<Option<PhoneNumber>>;
    async fn phone_numbers(&self, waba_id: Option<&str>) -> StoreResult<Vec<PhoneNumber>>;

    /// Inserts or updates an app. With [`OnConflict::Update`] and `secret` empty, the stored
    /// secret is kept.
    async fn put_app(&self, a: &App, on_conflict: OnConflict) -> StoreResult<()>;
    async fn app(&self, id: &str) -> StoreResult<Option<App>>;
    async fn apps(&self) -> StoreResult<Vec<App>>;

    async fn put_app_access(&self, a: &AppAccess) -> StoreResult<()>;
    async fn app_access(&self, app_id: &str) -> StoreResult<Vec<AppAccess>>;

    /// Inserts or updates a token with its assets. With [`OnConflict::Update`] and an empty
    /// `token_hash`, the stored token string is kept.
    async fn put_token(&self, t: &Token, on_conflict: OnConflict) -> StoreResult<()>;
    async fn token(&self, id: &str) -> StoreResult<Option<Token>>;
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>>;
    async fn tokens(&self) -> StoreResult<Vec<Token>>;
    /// The tokens of one app.
    async fn tokens_of_app(&self, app_id: &str) -> StoreResult<Vec<Token>>;

    /// True when nothing has been created yet (no business exists).
    async fn is_empty(&self) -> StoreResult<bool>;

    /// A number that changes whenever anything routing depends on may have changed (businesses,
    /// WABAs, phone numbers, apps, access, tokens, subscriptions, overrides), here or, on a
    /// shared store, on another node. `None` while changes could go unnoticed (another node's
    /// announcements are not being received): then nothing derived from the world may be kept.
    fn world_generation(&self) -> Option<u64>;
}

fn conflict_clause(on_conflict: OnConflict, update: &str) -> String {
    match on_conflict {
        OnConflict::Fail => String::new(),
        OnConflict::Update => format!(" ON CONFLICT(id) DO UPDATE SET {update}"),
    }
}

const BUSINESS: &str = "id, name, created_at";

fn business(c: &dyn Columns) -> StoreResult<Business> {
    Ok(Business {
        id: c.text(0)?,
        name: c.text(1)?,
        created_at: c.int(2)?,
    })
}

const WABA: &str = "id, business_id, name, created_at";

fn waba(c: &dyn Columns) -> StoreResult<Waba> {
    Ok(Waba {
        id: c.text(0)?,
        business_id: c.text(1)?,
        name: c.text(2)?,
        created_at: c.int(3)?,
    })
}

const PHONE_NUMBER: &str =
    "id, waba_id, display_phone_number, verified_name, registered, created_at";

fn phone_number(c: &dyn Columns) -> StoreResult<PhoneNumber> {
    Ok(PhoneNumber {
        id: c.text(0)?,
        waba_id: c.text(1)?,
        display_phone_number: c.text(2)?,
        verified_name: c.text(3)?,
        registered: c.flag(4)?,
        created_at: c.int(5)?,
    })
}

const APP: &str = "id, business_id, name, link, secret, created_at";

fn app(c: &dyn Columns) -> StoreResult<App> {
    Ok(App {
        id: c.text(0)?,
        business_id: c.text(1)?,
        name: c.text(2)?,
        link: c.text(3)?,
        secret: c.text(4)?,
        created_at: c.int(5)?,
    })
}

/// An app read from its row, with its secret opened.
fn opened<B: Backend>(b: &B, mut a: App) -> StoreResult<App> {
    a.secret = b.shared().open_secret(&a.id, &a.secret)?;
    Ok(a)
}

fn app_access_row(c: &dyn Columns) -> StoreResult<AppAccess> {
    let role = c.text(2)?;
    Ok(AppAccess {
        app_id: c.text(0)?,
        business_id: c.text(1)?,
        role: AccessRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown access role {role:?}")))?,
    })
}

const TOKEN: &str =
    "id, app_id, business_id, name, token_hash, token_hint, permissions, created_at";

/// A token without its assets, which come from a query of their own.
fn token(c: &dyn Columns) -> StoreResult<Token> {
    let id = c.text(0)?;
    let permissions = serde_json::from_str(&c.text(6)?)
        .map_err(|e| StoreError::Corrupt(format!("token {id} permissions: {e}")))?;
    Ok(Token {
        app_id: c.text(1)?,
        business_id: c.text(2)?,
        name: c.text(3)?,
        token_hash: c.text(4)?,
        token_hint: c.text(5)?,
        permissions,
        assets: Vec::new(),
        created_at: c.int(7)?,
        id,
    })
}

fn token_asset(c: &dyn Columns) -> StoreResult<TokenAsset> {
    let access = c.text(1)?;
    Ok(TokenAsset {
        waba_id: c.text(0)?,
        access: AssetAccess::parse(&access)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown asset access {access:?}")))?,
    })
}

/// One world write that is a transaction of its own; `what` names the record in a conflict.
async fn put<B: Backend>(b: &B, sql: &str, args: &[Param<'_>], what: String) -> StoreResult<()> {
    b.shared()
        .write_one(sql, args)
        .await
        .map_err(|e| StoreError::from_write(e, &what))?;
    b.shared().world.changed();
    Ok(())
}

/// The tokens a `WHERE` clause (with at most one parameter) selects, with their assets.
async fn tokens_where<B: Backend>(
    b: &B,
    clause: &str,
    args: &[Param<'_>],
) -> StoreResult<Vec<Token>> {
    let sql = format!("SELECT {TOKEN} FROM tokens {clause} ORDER BY created_at, id");
    let mut tokens = b.shared().read_all(&sql, args, token).await?;
    for t in &mut tokens {
        t.assets = b
            .shared()
            .read_all(
                "SELECT waba_id, access FROM token_assets WHERE token_id = $1 ORDER BY waba_id",
                &args![&t.id],
                token_asset,
            )
            .await?;
    }
    Ok(tokens)
}

#[async_trait]
impl<B: Backend> WorldStore for B {
    async fn put_business(&self, b: &Business, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO businesses ({BUSINESS}) VALUES ($1, $2, $3){}",
            conflict_clause(on_conflict, "name = excluded.name")
        );
        let args = args![&b.id, &b.name, b.created_at];
        put(self, &sql, &args, format!("business {}", b.id)).await
    }

    async fn business(&self, id: &str) -> StoreResult<Option<Business>> {
        let sql = format!("SELECT {BUSINESS} FROM businesses WHERE id = $1");
        self.shared().read_one(&sql, &args![id], business).await
    }

    async fn businesses(&self) -> StoreResult<Vec<Business>> {
        let sql = format!("SELECT {BUSINESS} FROM businesses ORDER BY created_at, id");
        self.shared().read_all(&sql, &[], business).await
    }

    async fn put_waba(&self, w: &Waba, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO wabas ({WABA}) VALUES ($1, $2, $3, $4){}",
            conflict_clause(
                on_conflict,
                "business_id = excluded.business_id, name = excluded.name"
            )
        );
        let args = args![&w.id, &w.business_id, &w.name, w.created_at];
        put(self, &sql, &args, format!("WABA {}", w.id)).await
    }

    async fn waba(&self, id: &str) -> StoreResult<Option<Waba>> {
        let sql = format!("SELECT {WABA} FROM wabas WHERE id = $1");
        self.shared().read_one(&sql, &args![id], waba).await
    }

    async fn wabas(&self) -> StoreResult<Vec<Waba>> {
        let sql = format!("SELECT {WABA} FROM wabas ORDER BY created_at, id");
        self.shared().read_all(&sql, &[], waba).await
    }

    async fn put_phone_number(&self, p: &PhoneNumber, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO phone_numbers ({PHONE_NUMBER}) VALUES ($1, $2, $3, $4, $5, $6){}",
            conflict_clause(
                on_conflict,
                "waba_id = excluded.waba_id, display_phone_number = excluded.display_phone_number, \
                 verified_name = excluded.verified_name, registered = excluded.registered"
            )
        );
        let args = args![
            &p.id,
            &p.waba_id,
            &p.display_phone_number,
            &p.verified_name,
            p.registered,
            p.created_at
        ];
        put(self, &sql, &args, format!("phone number {}", p.id)).await
    }

    async fn phone_number(&self, id: &str) -> StoreResult<Option<PhoneNumber>> {
        let sql = format!("SELECT {PHONE_NUMBER} FROM phone_numbers WHERE id = $1");
        self.shared().read_one(&sql, &args![id], phone_number).await
    }

    async fn phone_numbers(&self, waba_id: Option<&str>) -> StoreResult<Vec<PhoneNumber>> {
        // Bound even when `None`: PostgreSQL, unlike SQLite, wants every parameter.
        let sql = format!(
            "SELECT {PHONE_NUMBER} FROM phone_numbers WHERE $1 IS NULL OR waba_id = $1 \
             ORDER BY created_at, id"
        );
        self.shared()
            .read_all(&sql, &args![waba_id], phone_number)
            .await
    }

    async fn put_app(&self, a: &App, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO apps ({APP}) VALUES ($1, $2, $3, $4, $5, $6){}",
            conflict_clause(
                on_conflict,
                "business_id = excluded.business_id, name = excluded.name, link = excluded.link, \
                 secret = CASE WHEN excluded.secret = '' THEN apps.secret ELSE excluded.secret END"
            )
        );
        // Sealed here, at the store's edge: callers hold the plaintext, the database never does.
        let secret = self.shared().seal_secret(&a.id, &a.secret)?;
        let args = args![
            &a.id,
            &a.business_id,
            &a.name,
            &a.link,
            &secret,
            a.created_at
        ];
        put(self, &sql, &args, format!("app {}", a.id)).await
    }

    async fn app(&self, id: &str) -> StoreResult<Option<App>> {
        let sql = format!("SELECT {APP} FROM apps WHERE id = $1");
        let found = self.shared().read_one(&sql, &args![id], app).await?;
        found.map(|a| opened(self, a)).transpose()
    }

    async fn apps(&self) -> StoreResult<Vec<App>> {
        let sql = format!("SELECT {APP} FROM apps ORDER BY created_at, id");
        let apps = self.shared().read_all(&sql, &[], app).await?;
        apps.into_iter().map(|a| opened(self, a)).collect()
    }

    async fn put_app_access(&self, a: &AppAccess) -> StoreResult<()> {
        let sql = "INSERT INTO app_access (app_id, business_id, role) VALUES ($1, $2, $3) \
                   ON CONFLICT(app_id, business_id) DO UPDATE SET role = excluded.role";
        let args = args![&a.app_id, &a.business_id, a.role.as_str()];
        put(self, sql, &args, "app access".into()).await
    }

    async fn app_access(&self, app_id: &str) -> StoreResult<Vec<AppAccess>> {
        self.shared()
            .read_all(
                "SELECT app_id, business_id, role FROM app_access WHERE app_id = $1 \
                 ORDER BY business_id",
                &args![app_id],
                app_access_row,
            )
            .await
    }

    async fn put_token(&self, t: &Token, on_conflict: OnConflict) -> StoreResult<()> {
        let permissions = serde_json::to_string(&t.permissions)
            .map_err(|e| StoreError::Invalid(format!("permissions: {e}")))?;
        let sql = format!(
            "INSERT INTO tokens ({TOKEN}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8){}",
            conflict_clause(
                on_conflict,
                "app_id = excluded.app_id, business_id = excluded.business_id, \
                 name = excluded.name, permissions = excluded.permissions, \
                 token_hash = CASE WHEN excluded.token_hash = '' THEN tokens.token_hash \
                 ELSE excluded.token_hash END, \
                 token_hint = CASE WHEN excluded.token_hash = '' THEN tokens.token_hint \
                 ELSE excluded.token_hint END"
            )
        );
        let mut tx = self.begin_write().await?;
        let args = args![
            &t.id,
            &t.app_id,
            &t.business_id,
            &t.name,
            &t.token_hash,
            &t.token_hint,
            &permissions,
            t.created_at
        ];
        B::Db::run(&mut tx, &sql, &args)
            .await
            .map_err(|e| StoreError::from_write(e, &format!("token {}", t.id)))?;
        B::Db::run(
            &mut tx,
            "DELETE FROM token_assets WHERE token_id = $1",
            &args![&t.id],
        )
        .await?;
        for asset in &t.assets {
            B::Db::run(
                &mut tx,
                "INSERT INTO token_assets (token_id, waba_id, access) VALUES ($1, $2, $3)",
                &args![&t.id, &asset.waba_id, asset.access.as_str()],
            )
            .await
            .map_err(|e| StoreError::from_write(e, &format!("asset {}", asset.waba_id)))?;
        }
        tx.commit().await?;
        self.shared().world.changed();
        Ok(())
    }

    async fn token(&self, id: &str) -> StoreResult<Option<Token>> {
        Ok(tokens_where(self, "WHERE id = $1", &args![id]).await?.pop())
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>> {
        Ok(
            tokens_where(self, "WHERE token_hash = $1", &args![token_hash])
                .await?
                .pop(),
        )
    }

    async fn tokens(&self) -> StoreResult<Vec<Token>> {
        tokens_where(self, "", &[]).await
    }

    async fn tokens_of_app(&self, app_id: &str) -> StoreResult<Vec<Token>> {
        tokens_where(self, "WHERE app_id = $1", &args![app_id]).await
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let n = self
            .shared()
            .read_one("SELECT COUNT(*) FROM businesses", &[], |c| c.int(0))
            .await?;
        Ok(n.unwrap_or(0) == 0)
    }

    fn world_generation(&self) -> Option<u64> {
        self.shared().world.generation()
    }
}
