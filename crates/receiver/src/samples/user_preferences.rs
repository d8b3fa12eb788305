//! Samples of `user_preferences`, in the 2026 shape: the user known by business-scoped user id,
//! with `wa_id` only when the phone number may be shared and `username` when they have one.

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::{pick, Person, Sample, SampleContext};
use crate::fields::user_preferences::*;

/// `contacts[]` entry and the id attributes of a preference for `p`, as Meta sends them today.
pub(crate) fn contact_and_ids(rng: &mut dyn RngCore, p: &Person) -> (Value, Map<String, Value>) {
    // Phone numbers are omitted only for some users who adopted a username.
    let with_phone = p.username.is_none() || rng.gen_bool(0.5);
    let parent = rng.gen_bool(0.2).then(|| {
        format!(
            "{}.ENT.{}",
            p.user_id.split('.').next().unwrap_or("US"),
            super::digits(rng, 20)
        )
    });
    let mut profile = Map::new();
    profile.insert("name".into(), json!(p.name));
    if let Some(u) = &p.username {
        profile.insert("username".into(), json!(u));
    }
    let mut contact = Map::new();
    contact.insert("profile".into(), Value::Object(profile));
    let mut ids = Map::new();
    if with_phone {
        ids.insert("wa_id".into(), json!(p.wa_id));
    }
    ids.insert("user_id".into(), json!(p.user_id));
    if let Some(parent) = parent {
        ids.insert("parent_user_id".into(), json!(parent));
    }
    contact.extend(ids.clone());
    (Value::Object(contact), ids)
}

impl Sample for UserPreferencesValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let p = Person::random(rng);
        let (contact, ids) = contact_and_ids(rng, &p);
        let (value, detail) = *pick(
            rng,
            &[
                &("stop", "User requested to stop marketing messages"),
                &("resume", "User requested to resume marketing messages"),
            ],
        );
        let mut pref = ids;
        pref.insert("detail".into(), json!(detail));
        pref.insert("category".into(), json!("marketing_messages"));
        pref.insert("value".into(), json!(value));
        pref.insert("timestamp".into(), json!(ctx.now - rng.gen_range(0..120)));
        json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": ctx.display_phone_number,
                "phone_number_id": ctx.phone_number_id,
            },
            "contacts": [contact],
            "user_preferences": [Value::Object(pref)],
        })
    }
}
