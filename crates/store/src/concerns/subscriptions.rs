//! Who receives what (migration 0001): an app's object subscription with its fields
//! (`/{app-id}/subscriptions`), app ↔ WABA subscriptions with their override callbacks
//! (`/{waba-id}/subscribed_apps`) and phone-number overrides (`webhook_configuration`).

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::deliveries::CANCEL_PENDING;
use crate::records::*;
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    async fn app_subscription(&self, app_id: &str) -> StoreResult<Option<AppSubscription>>;
    /// Writes the subscription row and adds (or re-versions) `add_fields`, in one transaction.
    async fn save_app_subscription(
        &self,
        sub: &AppSubscription,
        add_fields: &[SubscribedField],
    ) -> StoreResult<()>;
    /// Removes the named fields, or the whole subscription when `fields` is `None`.
    /// Returns false when the app had no subscription.
    async fn remove_app_subscription(
        &self,
        app_id: &str,
        fields: Option<&[String]>,
    ) -> StoreResult<bool>;

    /// Subscribes the app and sets (or, with `None`, clears) its WABA override.
    async fn subscribe_app(
        &self,
        app_id: &str,
        waba_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()>;
    /// Unsubscribes the app from the WABA and cancels its pending deliveries there (kept as
    /// `cancelled`, finished at `now_ms`), in one transaction. Returns how many were cancelled,
    /// or `None` when the app was not subscribed; deliveries left pending for the pair all the
    /// same (an event routed by another node a moment before the unsubscription) are cancelled
    /// in both cases.
    async fn unsubscribe_app(
        &self,
        app_id: &str,
        waba_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<u64>>;
    async fn waba_subscription(
        &self,
        app_id: &str,
        waba_id: &str,
    ) -> StoreResult<Option<WabaSubscription>>;
    async fn waba_subscriptions(&self, waba_id: &str) -> StoreResult<Vec<WabaSubscription>>;

    async fn set_phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()>;
    async fn phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
    ) -> StoreResult<Option<CallbackOverride>>;
}

const APP_SUBSCRIPTION: &str = "app_id, object, callback_url, verify_token, verified, \
     include_values, include_client_certificate, active, updated_at";

/// A subscription without its fields, which come from a query of their own.
fn app_subscription(c: &dyn Columns) -> StoreResult<AppSubscription> {
    Ok(AppSubscription {
        app_id: c.text(0)?,
        object: c.text(1)?,
        callback_url: c.text(2)?,
        verify_token: c.text(3)?,
        verified: c.flag(4)?,
        include_values: c.flag(5)?,
        include_client_certificate: c.flag(6)?,
        active: c.flag(7)?,
        fields: Vec::new(),
        updated_at: c.int(8)?,
    })
}

fn subscribed_field(c: &dyn Columns) -> StoreResult<SubscribedField> {
    Ok(SubscribedField {
        name: c.text(0)?,
        version: c.text(1)?,
    })
}

const WABA_SUBSCRIPTION: &str =
    "app_id, waba_id, override_callback_uri, override_verify_token, created_at";

fn waba_subscription(c: &dyn Columns) -> StoreResult<WabaSubscription> {
    let verify_token = c.opt_text(3)?;
    Ok(WabaSubscription {
        app_id: c.text(0)?,
        waba_id: c.text(1)?,
        override_callback: c.opt_text(2)?.map(|callback_uri| CallbackOverride {
            callback_uri,
            verify_token: verify_token.unwrap_or_default(),
        }),
        created_at: c.int(4)?,
    })
}

fn callback_override(c: &dyn Columns) -> StoreResult<CallbackOverride> {
    Ok(CallbackOverride {
        callback_uri: c.text(0)?,
        verify_token: c.text(1)?,
    })
}

#[async_trait]
impl<B: Backend> SubscriptionStore for B {
    async fn app_subscription(&self, app_id: &str) -> StoreResult<Option<AppSubscription>> {
        let sql = format!("SELECT {APP_SUBSCRIPTION} FROM app_subscriptions WHERE app_id = $1");
        let Some(mut sub) = self
            .shared()
            .read_one(&sql, &args![app_id], app_subscription)
            .await?
        else {
            return Ok(None);
        };
        sub.fields = self
            .shared()
            .read_all(
                "SELECT name, version FROM app_subscription_fields WHERE app_id = $1 ORDER BY name",
                &args![app_id],
                subscribed_field,
            )
            .await?;
        Ok(Some(sub))
    }

    async fn save_app_subscription(
        &self,
        sub: &AppSubscription,
        add_fields: &[SubscribedField],
    ) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO app_subscriptions ({APP_SUBSCRIPTION}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT(app_id) DO UPDATE SET object = excluded.object, \
             callback_url = excluded.callback_url, verify_token = excluded.verify_token, \
             verified = excluded.verified, include_values = excluded.include_values, \
             include_client_certificate = excluded.include_client_certificate, \
             active = excluded.active, updated_at = excluded.updated_at"
        );
        let args = args![
            &sub.app_id,
            &sub.object,
            &sub.callback_url,
            &sub.verify_token,
            sub.verified,
            sub.include_values,
            sub.include_client_certificate,
            sub.active,
            sub.updated_at
        ];
        let mut tx = self.begin_write().await?;
        B::Db::run(&mut tx, &sql, &args)
            .await
            .map_err(|e| StoreError::from_write(e, "subscription"))?;
        for f in add_fields {
            B::Db::run(
                &mut tx,
                "INSERT INTO app_subscription_fields (app_id, name, version) VALUES ($1, $2, $3) \
                 ON CONFLICT(app_id, name) DO UPDATE SET version = excluded.version",
                &args![&sub.app_id, &f.name, &f.version],
            )
            .await?;
        }
        tx.commit().await?;
        self.shared().world.changed();
        Ok(())
    }

    async fn remove_app_subscription(
        &self,
        app_id: &str,
        fields: Option<&[String]>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let exists = B::Db::fetch(
            &mut tx,
            "SELECT app_id FROM app_subscriptions WHERE app_id = $1",
            &args![app_id],
        )
        .await?;
        if exists.is_empty() {
            return Ok(false);
        }
        match fields {
            None => {
                for sql in [
                    "DELETE FROM app_subscription_fields WHERE app_id = $1",
                    "DELETE FROM app_subscriptions WHERE app_id = $1",
                ] {
                    B::Db::run(&mut tx, sql, &args![app_id]).await?;
                }
            }
            Some(names) => {
                for name in names {
                    B::Db::run(
                        &mut tx,
                        "DELETE FROM app_subscription_fields WHERE app_id = $1 AND name = $2",
                        &args![app_id, name],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        self.shared().world.changed();
        Ok(true)
    }

    async fn subscribe_app(
        &self,
        app_id: &str,
        waba_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO waba_subscriptions ({WABA_SUBSCRIPTION}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT(app_id, waba_id) DO UPDATE SET \
             override_callback_uri = excluded.override_callback_uri, \
             override_verify_token = excluded.override_verify_token"
        );
        let args = args![
            app_id,
            waba_id,
            override_callback.map(|o| o.callback_uri.as_str()),
            override_callback.map(|o| o.verify_token.as_str()),
            self.shared().now_unix()
        ];
        self.shared()
            .write_one(&sql, &args)
            .await
            .map_err(|e| StoreError::from_write(e, "WABA subscription"))?;
        self.shared().world.changed();
        Ok(())
    }

    async fn unsubscribe_app(
        &self,
        app_id: &str,
        waba_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let removed = B::Db::run(
            &mut tx,
            "DELETE FROM waba_subscriptions WHERE app_id = $1 AND waba_id = $2",
            &args![app_id, waba_id],
        )
        .await?;
        let cancelled =
            B::Db::run(&mut tx, CANCEL_PENDING, &args![now_ms, app_id, waba_id]).await?;
        tx.commit().await?;
        self.shared().world.changed();
        Ok((removed > 0).then_some(cancelled))
    }

    async fn waba_subscription(
        &self,
        app_id: &str,
        waba_id: &str,
    ) -> StoreResult<Option<WabaSubscription>> {
        let sql = format!(
            "SELECT {WABA_SUBSCRIPTION} FROM waba_subscriptions WHERE app_id = $1 AND waba_id = $2"
        );
        self.shared()
            .read_one(&sql, &args![app_id, waba_id], waba_subscription)
            .await
    }

    async fn waba_subscriptions(&self, waba_id: &str) -> StoreResult<Vec<WabaSubscription>> {
        let sql = format!(
            "SELECT {WABA_SUBSCRIPTION} FROM waba_subscriptions WHERE waba_id = $1 \
             ORDER BY created_at, app_id"
        );
        self.shared()
            .read_all(&sql, &args![waba_id], waba_subscription)
            .await
    }

    async fn set_phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()> {
        match override_callback {
            Some(o) => {
                let args = args![
                    app_id,
                    phone_number_id,
                    &o.callback_uri,
                    &o.verify_token,
                    self.shared().now_unix()
                ];
                self.shared()
                    .write_one(
                        "INSERT INTO phone_number_overrides \
                         (app_id, phone_number_id, callback_uri, verify_token, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT(app_id, phone_number_id) \
                         DO UPDATE SET callback_uri = excluded.callback_uri, \
                         verify_token = excluded.verify_token, updated_at = excluded.updated_at",
                        &args,
                    )
                    .await
                    .map_err(|e| StoreError::from_write(e, "phone number override"))?;
            }
            None => {
                self.shared()
                    .write_one(
                        "DELETE FROM phone_number_overrides \
                         WHERE app_id = $1 AND phone_number_id = $2",
                        &args![app_id, phone_number_id],
                    )
                    .await?;
            }
        }
        self.shared().world.changed();
        Ok(())
    }

    async fn phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
    ) -> StoreResult<Option<CallbackOverride>> {
        self.shared()
            .read_one(
                "SELECT callback_uri, verify_token FROM phone_number_overrides \
                 WHERE app_id = $1 AND phone_number_id = $2",
                &args![app_id, phone_number_id],
                callback_override,
            )
            .await
    }
}
