//! Reading an upstream body: every change of every entry, each change's `value` kept as the
//! exact bytes Meta sent (a borrowed `RawValue`), never parsed and written again.
//!
//! Only the value is kept exactly. The envelope around it (`object`, `entry`, `id`, `time`,
//! `changes`, `field`, and the whitespace between them) is rebuilt by the engine for each
//! internal app in Meta's compact form, as Meta itself writes it; the upstream body as received
//! stays in the ingest log.

use serde::Deserialize;
use serde_json::value::RawValue;

/// One change of an upstream body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamChange<'a> {
    /// `entry.id`: the WABA.
    pub waba_id: String,
    pub field: String,
    /// The change's `value`, byte for byte as received.
    pub value: &'a str,
    /// `value.metadata.phone_number_id`, when present.
    pub phone_number_id: Option<String>,
    /// `value.metadata.display_phone_number`, when present: a WABA created on first sight gets
    /// its phone number with it.
    pub display_phone_number: Option<String>,
    /// `entry.time` (Unix seconds), when Meta gave one: internal apps get the same.
    pub time: Option<i64>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: IdText,
    #[serde(default)]
    time: Option<i64>,
    #[serde(borrow, default)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

/// An id Meta writes as a string; a number is taken too, as its digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Text(String),
    Number(u64),
}

#[derive(Deserialize, Default)]
struct ValueHead {
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
    #[serde(default)]
    display_phone_number: Option<String>,
}

/// Every change of `body`, in order. A body that is not a webhook body is an error saying why
/// (the caller keeps it in the ingest log all the same).
pub fn changes(body: &str) -> Result<Vec<UpstreamChange<'_>>, String> {
    let parsed: Body<'_> =
        serde_json::from_str(body).map_err(|e| format!("not a webhook body: {e}"))?;
    let mut out = Vec::new();
    for entry in parsed.entry {
        let waba_id = match entry.id {
            IdText::Text(s) => s,
            IdText::Number(n) => n.to_string(),
        };
        for c in entry.changes {
            // A value that is not an object has no metadata; it is kept all the same.
            let head: ValueHead = serde_json::from_str(c.value.get()).unwrap_or_default();
            let (phone_number_id, display_phone_number) = match head.metadata {
                Some(m) => (m.phone_number_id, m.display_phone_number),
                None => (None, None),
            };
            out.push(UpstreamChange {
                waba_id: waba_id.clone(),
                field: c.field,
                value: c.value.get(),
                phone_number_id,
                display_phone_number,
                time: entry.time,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escapes outside ASCII, an escaped slash, odd whitespace and key orders inside a value all
    /// come out as the very bytes that went in.
    #[test]
    fn values_are_the_bytes_received() {
        let v1 = "{ \"messaging_product\" :\"whatsapp\",\n\t\"metadata\":{\"display_phone_number\":\"15550001111\",\"phone_number_id\":\"106540352242922\"},\"messages\":[{\"text\":{\"body\":\"caf\\u00e9 \\ud83d\\ude00 a\\/b\"},\"n\":1.50,\"z\":1e3}]  }";
        let v2 = r#"{"event":"APPROVED","message_template_id":12,"reason":null}"#;
        let body = format!(
            "{{\n  \"object\": \"whatsapp_business_account\",\n  \"entry\": [\n    {{ \"id\": \"102290129340398\", \"changes\": [ {{ \"value\":   {v1}  , \"field\": \"messages\" }} ] }},\n    {{\"id\":102290129340399,\"time\":1700000000,\"changes\":[{{\"field\":\"message_template_status_update\",\"value\":{v2}}}]}}\n  ]\n}}"
        );
        let got = changes(&body).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].value, v1);
        assert_eq!(got[0].waba_id, "102290129340398");
        assert_eq!(got[0].field, "messages");
        assert_eq!(got[0].phone_number_id.as_deref(), Some("106540352242922"));
        assert_eq!(got[0].display_phone_number.as_deref(), Some("15550001111"));
        assert_eq!(got[1].value, v2);
        assert_eq!(got[1].waba_id, "102290129340399");
        assert_eq!(got[1].phone_number_id, None);
        assert_eq!((got[0].time, got[1].time), (None, Some(1700000000)));
    }

    #[test]
    fn meta_form_values_survive_the_sandbox_rewrite_unchanged() {
        // What `accept` does to a value in Meta's form must leave it alone, so that a value the
        // sandbox accepted and the relay took back are the same bytes.
        let v = r#"{"messaging_product":"whatsapp","messages":[{"text":{"body":"caf\u00e9 \ud83d\ude00 a\/b"}}]}"#;
        let mut out = Vec::new();
        wabahook_receiver::meta_json::rewrite(v, &mut out).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), v);
    }

    proptest::proptest! {
        /// Any text is taken or refused with a reason, never a panic.
        #[test]
        fn any_text_is_taken_or_refused(text in "\\PC{0,300}") {
            let _ = changes(&text);
        }

        /// Meta's form is a fixed point of the sandbox's rewrite: a value the sandbox accepted
        /// and delivered, taken back by a relay, is the same bytes either way.
        #[test]
        fn meta_form_is_kept_by_the_rewrite(text in "\\PC{0,60}") {
            let plain = serde_json::json!({"text": text, "url": "https://x/y"}).to_string();
            let mut once = Vec::new();
            wabahook_receiver::meta_json::rewrite(&plain, &mut once).unwrap();
            let once = String::from_utf8(once).unwrap();
            let mut twice = Vec::new();
            wabahook_receiver::meta_json::rewrite(&once, &mut twice).unwrap();
            proptest::prop_assert_eq!(once, String::from_utf8(twice).unwrap());
        }

        /// Whatever a value holds and however it is spaced, it comes back as the same bytes,
        /// in Meta's escaped form or as plain UTF-8 alike.
        #[test]
        fn values_come_back_exact(
            texts in proptest::collection::vec("\\PC{0,40}", 1..4),
            ws in "[ \t\n\r]{0,3}",
            meta_form in proptest::bool::ANY,
        ) {
            let values: Vec<String> = texts
                .iter()
                .map(|t| {
                    let mut s = serde_json::to_string(t).unwrap();
                    if meta_form {
                        let mut out = Vec::new();
                        wabahook_receiver::meta_json::rewrite(&s, &mut out).unwrap();
                        s = String::from_utf8(out).unwrap();
                    }
                    format!("{{{ws}\"text\"{ws}:{ws}{s}{ws},\"n\":1.0e1{ws}}}")
                })
                .collect();
            let changes_text: Vec<String> = values
                .iter()
                .map(|v| format!("{{{ws}\"value\":{ws}{v}{ws},\"field\":\"messages\"}}"))
                .collect();
            let body = format!(
                "{{\"object\":\"whatsapp_business_account\",{ws}\"entry\":[{{\"id\":\"102290129340398\",\"changes\":[{}]}}]}}",
                changes_text.join(",")
            );
            let got = changes(&body).unwrap();
            let got: Vec<&str> = got.iter().map(|c| c.value).collect();
            proptest::prop_assert_eq!(got, values.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn what_is_not_a_webhook_body_is_an_error() {
        for bad in [
            "",
            "[]",
            "{\"entry\":{}}",
            "{\"entry\":[{\"changes\":[]}]}",
            "{",
        ] {
            assert!(changes(bad).is_err(), "{bad:?}");
        }
        assert_eq!(changes(r#"{"object":"x","entry":[]}"#).unwrap(), vec![]);
    }
}
