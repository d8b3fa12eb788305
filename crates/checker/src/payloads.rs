//! The bodies a run sends: the receiver library's samples in Meta's current shapes, written with
//! Meta's escaping, each change marked with an id of its own so that an echo can show it was
//! handled.
//!
//! Every check but the exact-bytes one sends *plain* values (ASCII only, no `/`), whose bytes a
//! receiver that re-serialises JSON before verifying would reproduce; so such a receiver fails
//! the exact-bytes check and that one only, and the report points at the real cause.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use wabahook_receiver::meta_json::{self, ChangeRef, EntryRef};
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::TYPED_FIELDS;

use crate::target::SetupError;

/// Text with what re-serialising JSON changes: accents and a dash (escaped `\u00e9`, `\u2014`),
/// emoji outside the BMP (surrogate pairs), a skin-tone modifier, and slashes (`\/`).
pub const TRICKY_TEXT: &str =
    "Olá! Café às 10h — ☕ 👍🏽 🇧🇷 see https://example.com/order/42?x=1/2 日本語";

/// One change: its field, value, and the id that marks it (when the field has one).
pub struct Change {
    pub field: String,
    pub value: Value,
    pub marker: Option<String>,
}

pub struct Payloads {
    fields: Vec<String>,
    contexts: [SampleContext; 2],
    /// Distinguishes the markers of this run from an earlier run's in the same echo.
    run: u32,
    next: AtomicU64,
}

impl Payloads {
    pub fn new(fields: &[String]) -> Result<Payloads, SetupError> {
        if fields.is_empty() {
            return Err(SetupError::NoField);
        }
        for f in fields {
            if !TYPED_FIELDS.contains(&f.as_str()) {
                return Err(SetupError::UnknownField {
                    field: f.clone(),
                    known: TYPED_FIELDS.join(", "),
                });
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let first = SampleContext {
            now,
            ..SampleContext::default()
        };
        let second = SampleContext {
            waba_id: "102290129340399".into(),
            phone_number_id: "106540352242923".into(),
            display_phone_number: "15550783882".into(),
            business_name: "Lucky Shrub Garden".into(),
            now,
        };
        Ok(Payloads {
            fields: fields.to_vec(),
            contexts: [first, second],
            run: rand::thread_rng().gen_range(10_000..100_000),
            next: AtomicU64::new(1),
        })
    }

    pub fn first_field(&self) -> &str {
        &self.fields[0]
    }

    fn serial(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn rng(&self, salt: u64) -> StdRng {
        StdRng::seed_from_u64(u64::from(self.run) << 20 ^ salt)
    }

    /// A sample of `field` in WABA `which` (0 or 1), plain and marked.
    pub fn change(&self, field: &str, which: usize) -> Change {
        if field == "messages" {
            return self.incoming_text("Hi, is my order ready? Order 42, thanks", which);
        }
        let n = self.serial();
        let ctx = &self.contexts[which % 2];
        let mut value = samples::sample(field, ctx, &mut self.rng(n)).unwrap_or_else(|| json!({}));
        plain(&mut value);
        // Fields about a template carry its id; a run-unique one is the change's marker.
        let marker = value
            .get("message_template_id")
            .is_some()
            .then(|| format!("9{}{n:06}", self.run));
        if let (Some(m), Some(obj)) = (&marker, value.as_object_mut()) {
            if let Ok(id) = m.parse::<u64>() {
                obj.insert("message_template_id".into(), json!(id));
            }
        }
        Change {
            field: field.to_owned(),
            value,
            marker,
        }
    }

    /// A `messages` change with one incoming text message saying `text` (kept as given, so
    /// the exact-bytes check can put characters in it that plain values avoid).
    pub fn incoming_text(&self, text: &str, which: usize) -> Change {
        let mut change = self.incoming(which);
        if let Some(m) = change.value.pointer_mut("/messages/0") {
            set_type(m, "text", json!({ "body": text }));
        }
        change
    }

    /// A `messages` change with one incoming message of a type Meta has not documented yet.
    pub fn incoming_unknown_type(&self) -> Change {
        let mut change = self.incoming(0);
        if let Some(m) = change.value.pointer_mut("/messages/0") {
            set_type(
                m,
                "hologram",
                json!({ "id": "1234567890", "duration_ms": 4000, "mode": "3d" }),
            );
        }
        change
    }

    /// A `messages` change with a status of an outgoing message.
    pub fn status(&self, which: usize) -> Change {
        self.messages_with("statuses", which)
    }

    fn incoming(&self, which: usize) -> Change {
        self.messages_with("messages", which)
    }

    /// A plain `messages` sample holding `key` (`messages` or `statuses`), its id the marker.
    fn messages_with(&self, key: &str, which: usize) -> Change {
        let n = self.serial();
        let ctx = &self.contexts[which % 2];
        // The sample picks incoming, status or error at random: seeds are tried in turn.
        let mut value = (0..1000u64)
            .filter_map(|i| samples::sample("messages", ctx, &mut self.rng(n << 12 ^ i)))
            .find(|v| v.get(key).is_some())
            .unwrap_or_else(|| json!({ "messaging_product": "whatsapp", key: [{}] }));
        plain(&mut value);
        let marker = format!("wamid.HBgLd2FiYWhvb2tjaGVjaw{}x{n:06}=", self.run);
        if let Some(obj) = value
            .pointer_mut(&format!("/{key}/0"))
            .and_then(Value::as_object_mut)
        {
            obj.insert("id".into(), json!(marker));
        }
        Change {
            field: "messages".into(),
            value,
            marker: Some(marker),
        }
    }

    /// A body with one change of the first field.
    pub fn single(&self) -> (Vec<u8>, Change) {
        let change = self.change(&self.fields[0].clone(), 0);
        (
            body(&[(0, std::slice::from_ref(&change))], &self.contexts),
            change,
        )
    }

    /// A body with one change of `field` (which need not be a known one) and `value`.
    pub fn single_of(&self, change: Change) -> Vec<u8> {
        body(&[(0, std::slice::from_ref(&change))], &self.contexts)
    }

    /// Several entries (two WABAs) with several changes each, every subscribed field mixed in:
    /// incoming messages and statuses for `messages`.
    pub fn batch(&self) -> (Vec<u8>, Vec<Change>) {
        let mut entries: Vec<(usize, Vec<Change>)> = Vec::new();
        for which in 0..2 {
            let mut changes = Vec::new();
            for field in &self.fields {
                if field == "messages" {
                    changes.push(self.incoming(which));
                    changes.push(self.status(which));
                } else {
                    changes.push(self.change(field, which));
                }
            }
            if changes.len() < 2 {
                changes.push(self.change(&self.fields[0], which));
            }
            entries.push((which, changes));
        }
        let refs: Vec<(usize, &[Change])> =
            entries.iter().map(|(w, c)| (*w, c.as_slice())).collect();
        let bytes = body(&refs, &self.contexts);
        (bytes, entries.into_iter().flat_map(|(_, c)| c).collect())
    }

    /// A body of incoming text messages just under `limit` bytes, at most 1,000 changes (Meta's
    /// batch limits).
    pub fn near(&self, limit: usize) -> (Vec<u8>, usize) {
        let filler: String = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
            .chars()
            .cycle()
            .take(3500)
            .collect();
        let mut changes = Vec::new();
        let mut size = 100;
        loop {
            let change = self.incoming_text(&filler, 0);
            let len = meta_json::to_vec(&change.value)
                .map(|v| v.len())
                .unwrap_or(0)
                + 40;
            if size + len > limit || changes.len() == 1000 {
                break;
            }
            size += len;
            changes.push(change);
        }
        let count = changes.len();
        (body(&[(0, &changes)], &self.contexts), count)
    }
}

/// The webhook body of `entries` (index of the WABA context, its changes), as the engine writes.
fn body(entries: &[(usize, &[Change])], contexts: &[SampleContext; 2]) -> Vec<u8> {
    let values: Vec<Vec<Vec<u8>>> = entries
        .iter()
        .map(|(_, changes)| {
            changes
                .iter()
                .map(|c| meta_json::to_vec(&c.value).unwrap_or_else(|_| b"{}".to_vec()))
                .collect()
        })
        .collect();
    let refs: Vec<EntryRef<'_>> = entries
        .iter()
        .zip(&values)
        .map(|((which, changes), values)| EntryRef {
            id: &contexts[*which % 2].waba_id,
            // Meta leaves `time` out of entries of `messages` only.
            time: changes
                .iter()
                .any(|c| c.field != "messages")
                .then_some(contexts[*which % 2].now),
            changes: changes
                .iter()
                .zip(values)
                .map(|(c, v)| ChangeRef {
                    field: &c.field,
                    value: v,
                })
                .collect(),
        })
        .collect();
    meta_json::webhook_body(&refs).unwrap_or_default()
}

/// Makes `message` one of type `kind` with `payload`, dropping the former type's object.
fn set_type(message: &mut Value, kind: &str, payload: Value) {
    if let Some(m) = message.as_object_mut() {
        if let Some(old) = m.get("type").and_then(Value::as_str).map(str::to_owned) {
            m.remove(&old);
        }
        m.insert("type".into(), json!(kind));
        m.insert(kind.into(), payload);
    }
}

/// Keeps every string ASCII and free of `/`, so that Meta's bytes and a re-serialiser's agree.
fn plain(value: &mut Value) {
    match value {
        Value::String(s)
            if s.chars()
                .any(|c| !c.is_ascii() || c == '/' || c.is_control()) =>
        {
            *s = s
                .chars()
                .map(|c| match c {
                    '/' => '-',
                    c if c.is_ascii() && !c.is_control() => c,
                    _ => '_',
                })
                .collect();
        }
        Value::Array(items) => items.iter_mut().for_each(plain),
        Value::Object(map) => map.values_mut().for_each(plain),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads() -> Payloads {
        Payloads::new(&["messages".into(), "message_template_status_update".into()])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn plain_bodies_have_only_plain_bytes() {
        let p = payloads();
        let (batch, changes) = p.batch();
        assert!(
            batch.iter().all(|b| b.is_ascii() && *b != b'\\'),
            "{}",
            String::from_utf8_lossy(&batch)
        );
        assert_eq!(changes.len(), 6);
        for c in &changes {
            let m = c
                .marker
                .as_deref()
                .unwrap_or_else(|| panic!("no marker for {}", c.field));
            assert!(String::from_utf8_lossy(&batch).contains(m));
        }
    }

    #[test]
    fn the_tricky_text_is_escaped_as_meta_escapes() {
        let p = payloads();
        let body = p.single_of(p.incoming_text(TRICKY_TEXT, 0));
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(r"Ol\u00e1"), "{text}");
        assert!(text.contains(r"\ud83d\udc4d"), "{text}");
        assert!(text.contains(r"https:\/\/example.com"), "{text}");
        let parsed =
            wabahook_receiver::Payload::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.changes().count(), 1);
    }

    #[test]
    fn a_near_limit_body_is_under_the_limit_and_close_to_it() {
        let p = payloads();
        let (body, count) = p.near(3_000_000);
        assert!(
            body.len() <= 3_000_000 && body.len() > 2_900_000,
            "{}",
            body.len()
        );
        assert!(count <= 1000);
    }

    #[test]
    fn unknown_fields_are_a_setup_error() {
        assert!(matches!(
            Payloads::new(&["nope".into()]),
            Err(SetupError::UnknownField { .. })
        ));
        assert!(matches!(Payloads::new(&[]), Err(SetupError::NoField)));
    }
}
