//! Payload shapes that depend on the API version of the receiving app's subscription.
//!
//! One event goes to every subscribed app, but Meta shapes `messages` statuses by the version
//! each app subscribed the field under: up to v23.0 a billing status carries `conversation`
//! and `pricing`; from v24.0 only `pricing` (Meta: "Omitted entirely for v24.0+ unless webhook
//! is for a free entry point conversation"). The stored value is the fuller, older shape; the
//! engine drops `conversation` when writing the body for a newer app. Everything else is copied
//! byte for byte: members are read as raw text in their order and written back unchanged.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Whether an app subscribed to `messages` under `version` (`v24.0`) gets statuses without
/// `conversation`.
pub fn omits_conversation(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 24)
}

/// `value_json` of a change in `field` as an app on the newer shape gets it: statuses without
/// `conversation`, except free entry point ones. Unchanged (borrowed) when there is nothing to
/// drop or the value is not the expected shape.
pub fn without_conversation<'a>(field: &str, value_json: &'a str) -> Cow<'a, str> {
    if field != "messages" || !value_json.contains("\"conversation\"") {
        return Cow::Borrowed(value_json);
    }
    match reshape(value_json) {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(value_json),
    }
}

/// A JSON object's members in their order, each value as its raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    let v: &'de RawValue = m.next_value()?;
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Members<'_> {
    fn write(&self, out: &mut String, skip: impl Fn(&str, &RawValue) -> bool) -> Option<()> {
        out.push('{');
        let mut first = true;
        for (k, v) in &self.0 {
            if skip(k, v) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            let key = wabahook_receiver::meta_json::to_vec(k.as_ref()).ok()?;
            out.push_str(std::str::from_utf8(&key).ok()?);
            out.push(':');
            out.push_str(v.get());
        }
        out.push('}');
        Some(())
    }
}

fn reshape(value_json: &str) -> Option<String> {
    let top: Members<'_> = serde_json::from_str(value_json).ok()?;
    let mut out = String::with_capacity(value_json.len());
    out.push('{');
    for (i, (k, v)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key = wabahook_receiver::meta_json::to_vec(k.as_ref()).ok()?;
        out.push_str(std::str::from_utf8(&key).ok()?);
        out.push(':');
        if k == "statuses" {
            let statuses: Vec<&RawValue> = serde_json::from_str(v.get()).ok()?;
            out.push('[');
            for (j, s) in statuses.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let status: Members<'_> = serde_json::from_str(s.get()).ok()?;
                status.write(&mut out, |k, v| k == "conversation" && !free_entry_point(v))?;
            }
            out.push(']');
        } else {
            out.push_str(v.get());
        }
    }
    out.push('}');
    Some(out)
}

/// Free entry point conversations keep `conversation` on every version.
fn free_entry_point(conversation: &RawValue) -> bool {
    conversation.get().contains("\"referral_conversion\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_24_omit_conversation() {
        assert!(!omits_conversation("v23.0"));
        assert!(!omits_conversation("v19.0"));
        assert!(omits_conversation("v24.0"));
        assert!(omits_conversation("v25.0"));
        assert!(!omits_conversation("latest"));
    }

    #[test]
    fn conversation_goes_and_every_other_byte_stays() {
        let v = concat!(
            r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"1"},"#,
            r#""contacts":[{"profile":{"name":"Jos\u00e9"},"wa_id":"1650","user_id":"US.1"}],"#,
            r#""statuses":[{"id":"wamid.X","status":"sent","timestamp":"1","recipient_id":"1650","#,
            r#""conversation":{"id":"c","expiration_timestamp":"2","origin":{"type":"service"}},"#,
            r#""pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}}]}"#
        );
        let shaped = without_conversation("messages", v);
        assert_eq!(
            shaped,
            concat!(
                r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"1"},"#,
                r#""contacts":[{"profile":{"name":"Jos\u00e9"},"wa_id":"1650","user_id":"US.1"}],"#,
                r#""statuses":[{"id":"wamid.X","status":"sent","timestamp":"1","recipient_id":"1650","#,
                r#""pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}}]}"#
            )
        );
        // Nothing to drop, another field, or a free entry point conversation: unchanged.
        let plain = r#"{"statuses":[{"id":"w","status":"read"}]}"#;
        assert!(matches!(
            without_conversation("messages", plain),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            without_conversation("account_update", v),
            Cow::Borrowed(_)
        ));
        let fep = r#"{"statuses":[{"id":"w","conversation":{"id":"c","origin":{"type":"referral_conversion"}}}]}"#;
        assert_eq!(without_conversation("messages", fep), fep);
        // A text message that merely mentions the word is not touched.
        let msg = r#"{"messages":[{"text":{"body":"\"conversation\""}}]}"#;
        assert_eq!(without_conversation("messages", msg), msg);
    }
}
