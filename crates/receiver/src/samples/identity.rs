//! Samples of `user_id_update`, `business_username_updates`.

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::messages::{envelope, Who};
use super::{digits, pick, recent_timestamp, Sample, SampleContext};
use crate::fields::identity::*;

impl Sample for UserIdUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let who = Who::random(rng);
        let country = who.person.user_id.split('.').next().unwrap_or("US");
        let mut contact = Map::new();
        contact.insert("profile".into(), json!({"name": who.person.name}));
        let mut update = Map::new();
        if let Some(w) = who.wa_id() {
            contact.insert("wa_id".into(), json!(w));
            update.insert("wa_id".into(), json!(w));
        }
        update.insert(
            "detail".into(),
            json!(format!("User id for {} has been updated.", who.person.name)),
        );
        update.insert(
            "user_id".into(),
            json!({"previous": who.person.user_id, "current": format!("{country}.{}", digits(rng, 20))}),
        );
        if let Some(p) = &who.parent_user_id {
            update.insert(
                "parent_user_id".into(),
                json!({"previous": p, "current": format!("{country}.ENT.{}", digits(rng, 20))}),
            );
        }
        update.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
        let mut v = envelope(ctx);
        v.insert("contacts".into(), json!([contact]));
        v.insert("user_id_update".into(), json!([update]));
        Value::Object(v)
    }
}

impl Sample for BusinessUsernameUpdatesValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let status = pick(rng, &["approved", "approved", "reserved", "deleted"]);
        let mut v = Map::new();
        v.insert(
            "display_phone_number".into(),
            json!(ctx.display_phone_number),
        );
        // The username is omitted once deleted.
        if status != "deleted" {
            let base: String = ctx
                .business_name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase();
            let username = if rng.gen_bool(0.5) {
                base
            } else {
                format!(
                    "{base}{}",
                    pick(rng, &["official", "shop", "_support", "hq"])
                )
            };
            v.insert("username".into(), json!(username));
        }
        v.insert("status".into(), json!(status));
        Value::Object(v)
    }
}
