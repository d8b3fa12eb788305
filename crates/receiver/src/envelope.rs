//! The webhook envelope: `{"object":…,"entry":[{"id":…,"time":…,"changes":[{"value":…,"field":…}]}]}`.
//!
//! Every entry and every change is read (not only `entry[0].changes[0]`), attributes this crate
//! does not know are kept, and serializing gives back JSON equal to what was parsed.
//!
//! Meta sends one envelope per POST. Its documentation shows examples as an array holding one
//! envelope, and people paste those to test their receivers, so a [`Payload`] takes either form.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::{meta_json, Extra, FieldValue};

/// The `object` Meta sends for WhatsApp Business Account webhooks.
pub const WABA_OBJECT: &str = "whatsapp_business_account";

/// A whole webhook POST body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub object: String,
    pub entry: Vec<Entry>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `entry[]`: changes of one WABA (`id`). Meta leaves `time` out on `messages`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub time: Option<i64>,
    pub changes: Vec<Change>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `changes[]` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub value: FieldValue,
    pub extra: Extra,
}

/// A change with the entry it came in.
#[derive(Debug, Clone, Copy)]
pub struct ChangeInEntry<'a> {
    /// `entry.id`: the WABA id.
    pub waba_id: &'a str,
    /// `entry.time`, when sent.
    pub time: Option<i64>,
    pub change: &'a Change,
}

/// Why a body is not a webhook envelope.
#[derive(Debug, thiserror::Error)]
#[error("the body is not a webhook notification: {0}")]
pub struct ParseError(#[from] serde_json::Error);

/// A POST body: one envelope, as Meta sends it, or an array of envelopes, as Meta's
/// documentation prints its examples. Serializing gives back the form it came in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    One(Notification),
    Many(Vec<Notification>),
}

impl Payload {
    /// Parses a POST body of either form. An array must hold at least one envelope.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        let starts_as_array = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'[');
        if !starts_as_array {
            return Notification::from_slice(body).map(Payload::One);
        }
        let many: Vec<Notification> = serde_json::from_slice(body)?;
        if many.is_empty() {
            return Err(ParseError(serde_json::Error::custom(
                "an array of notifications must hold at least one",
            )));
        }
        Ok(Payload::Many(many))
    }

    /// The envelopes, in order: one, or those of the array.
    pub fn notifications(&self) -> &[Notification] {
        match self {
            Payload::One(n) => std::slice::from_ref(n),
            Payload::Many(v) => v,
        }
    }

    /// Every change of every entry of every envelope, in order.
    pub fn changes(&self) -> impl Iterator<Item = ChangeInEntry<'_>> + '_ {
        self.notifications().iter().flat_map(Notification::changes)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if value.is_array() {
            let many: Vec<Notification> =
                serde_json::from_value(value).map_err(D::Error::custom)?;
            if many.is_empty() {
                return Err(D::Error::custom(
                    "an array of notifications must hold at least one",
                ));
            }
            return Ok(Payload::Many(many));
        }
        serde_json::from_value(value)
            .map(Payload::One)
            .map_err(D::Error::custom)
    }
}

impl Notification {
    /// Parses a POST body. Only the envelope can make this fail: any change value parses, typed
    /// if it fits its field, as JSON otherwise.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        Ok(serde_json::from_slice(body)?)
    }

    /// Every change of every entry, in order.
    pub fn changes(&self) -> impl Iterator<Item = ChangeInEntry<'_>> + '_ {
        self.entry.iter().flat_map(|e| {
            e.changes.iter().map(move |c| ChangeInEntry {
                waba_id: &e.id,
                time: e.time,
                change: c,
            })
        })
    }

    /// The body as Meta writes it (compact, `\uXXXX` escapes). Bytes signed by Meta should be
    /// verified as received, never re-serialized; this is for building payloads.
    pub fn to_meta_json(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        meta_json::to_vec(self).unwrap_or_default()
    }
}

impl Change {
    /// A change of `field` with `value`, typed if it fits.
    pub fn new(field: impl Into<String>, value: Value) -> Self {
        let field = field.into();
        let value = FieldValue::parse(&field, value);
        Change {
            field,
            value,
            extra: Extra::new(),
        }
    }

    /// One line for people: the value's summary.
    pub fn summary(&self) -> String {
        self.value.summary()
    }
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Meta's order: `value` before `field`.
        let mut m = s.serialize_map(Some(2 + self.extra.len()))?;
        m.serialize_entry("value", &self.value)?;
        m.serialize_entry("field", &self.field)?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(d)?;
        let field = match map.remove("field") {
            Some(Value::String(f)) => f,
            Some(_) => return Err(D::Error::custom("`field` must be a string")),
            None => return Err(D::Error::missing_field("field")),
        };
        let value = map
            .remove("value")
            .ok_or_else(|| D::Error::missing_field("value"))?;
        Ok(Change {
            value: FieldValue::parse(&field, value),
            field,
            extra: map,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_entry_and_change_is_read_and_kept() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "time": 5, "changes": [
                    {"value": {"a": 1}, "field": "x"},
                    {"value": {"b": 2}, "field": "y", "new_attr": true}
                ]},
                {"id": "2", "changes": [{"value": {}, "field": "z"}], "extra": [1]}
            ],
            "top": "level"
        });
        let n = Notification::from_slice(body.to_string().as_bytes()).unwrap();
        let seen: Vec<_> = n
            .changes()
            .map(|c| (c.waba_id, c.change.field.as_str()))
            .collect();
        assert_eq!(seen, [("1", "x"), ("1", "y"), ("2", "z")]);
        assert_eq!(serde_json::to_value(&n).unwrap(), body);
    }

    #[test]
    fn an_array_of_envelopes_is_a_payload() {
        let one = r#"{"object":"whatsapp_business_account","entry":[{"id":"0","time":1602782939,"changes":[{"value":{"display_phone_number":"16505551111","decision":"APPROVED","requested_verified_name":"WhatsApp","rejection_reason":null},"field":"phone_number_name_update"}]}]}"#;
        let two = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{},"field":"x"}]}]}"#;
        let body = format!("[{one},{two}]");
        let p = Payload::from_slice(format!(" \n{body}").as_bytes()).unwrap();
        assert_eq!(p.notifications().len(), 2);
        let seen: Vec<_> = p
            .changes()
            .map(|c| (c.waba_id, c.change.field.as_str()))
            .collect();
        assert_eq!(seen, [("0", "phone_number_name_update"), ("1", "x")]);
        assert_eq!(serde_json::to_string(&p).unwrap(), body);
        // Deserialize reads the same forms.
        let q: Payload = serde_json::from_str(&body).unwrap();
        assert_eq!(q, p);

        let single = Payload::from_slice(one.as_bytes()).unwrap();
        assert!(matches!(single, Payload::One(_)));
        assert_eq!(serde_json::to_string(&single).unwrap(), one);

        for bad in ["[]", "[1]", "[{}]", r#"[{"object":"x"}]"#, "[", "{}", ""] {
            assert!(Payload::from_slice(bad.as_bytes()).is_err(), "{bad}");
            assert!(serde_json::from_str::<Payload>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn broken_envelopes_are_errors() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"object":"x"}"#,
            r#"{"object":"x","entry":[{"id":"1"}]}"#,
            r#"{"object":"x","entry":[{"id":"1","changes":[{"value":{}}]}]}"#,
            r#"{"object":"x","entry":[{"id":"1","changes":[{"field":3,"value":{}}]}]}"#,
        ] {
            assert!(Notification::from_slice(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
