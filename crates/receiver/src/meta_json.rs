//! JSON written the way Meta writes webhook bodies: compact, every non-ASCII character escaped
//! as `\u` plus four lowercase hex digits (surrogate pairs above U+FFFF), and `/` escaped as `\/`.
//!
//! Signatures are computed over these exact bytes, so the delivery engine and anyone building
//! test payloads must use this one implementation. Object key order is kept as given.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// serde_json formatter that escapes like Meta.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetaFormatter;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_u16_escape<W: ?Sized + io::Write>(w: &mut W, unit: u16) -> io::Result<()> {
    let bytes = [
        b'\\',
        b'u',
        HEX[(unit >> 12) as usize & 0xf],
        HEX[(unit >> 8) as usize & 0xf],
        HEX[(unit >> 4) as usize & 0xf],
        HEX[unit as usize & 0xf],
    ];
    w.write_all(&bytes)
}

impl Formatter for MetaFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '/' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            if c == '/' {
                writer.write_all(b"\\/")?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write_u16_escape(writer, *unit)?;
                }
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write_u16_escape(writer, u16::from(byte)),
        };
        writer.write_all(s)
    }
}

/// Serializes `value` as Meta does.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut Serializer::with_formatter(&mut out, MetaFormatter))?;
    Ok(out)
}

/// Re-writes JSON text in Meta's form without reordering keys or touching numbers.
pub fn rewrite(json: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let mut ser = Serializer::with_formatter(out, MetaFormatter);
    serde_transcode::transcode(&mut de, &mut ser)?;
    de.end()
}

/// One change inside an entry.
pub struct ChangeRef<'a> {
    pub field: &'a str,
    /// The change's `value`, already in Meta's form (see [`rewrite`]).
    pub value: &'a [u8],
}

/// One entry of a webhook body: changes of one WABA.
pub struct EntryRef<'a> {
    pub id: &'a str,
    /// `entry.time`; Meta leaves it out for `messages`.
    pub time: Option<i64>,
    pub changes: Vec<ChangeRef<'a>>,
}

/// Writes a whole webhook body: `{"object":"whatsapp_business_account","entry":[…]}` with
/// Meta's key order (`id`, `time`, `changes`; `value` before `field`).
pub fn webhook_body(entries: &[EntryRef<'_>]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(br#"{"object":"whatsapp_business_account","entry":["#);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"id":"#);
        out.extend_from_slice(&to_vec(e.id)?);
        if let Some(t) = e.time {
            out.extend_from_slice(br#","time":"#);
            out.extend_from_slice(t.to_string().as_bytes());
        }
        out.extend_from_slice(br#","changes":["#);
        for (j, c) in e.changes.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"value":"#);
            out.extend_from_slice(c.value);
            out.extend_from_slice(br#","field":"#);
            out.extend_from_slice(&to_vec(c.field)?);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_meta() {
        let v = serde_json::json!({"t": "é 😀 / \"q\" \\ \n äöå"});
        let s = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            s,
            r#"{"t":"\u00e9 \ud83d\ude00 \/ \"q\" \\ \n \u00e4\u00f6\u00e5"}"#
        );
        // Escaped output parses back to the same value.
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v);
    }

    #[test]
    fn rewrite_keeps_key_order_and_numbers() {
        let mut out = Vec::new();
        rewrite(
            "{ \"z\": 1, \"a\": [1.50, -0, 1e3], \"m\": \"ü\" }",
            &mut out,
        )
        .unwrap();
        // Floats are written in their shortest round-trip form; integers stay integers.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"z":1,"a":[1.5,-0.0,1000.0],"m":"\u00fc"}"#
        );
        assert!(rewrite("{} trailing", &mut Vec::new()).is_err());
    }

    #[test]
    fn body_layout() {
        let body = webhook_body(&[
            EntryRef {
                id: "1",
                time: None,
                changes: vec![ChangeRef {
                    field: "messages",
                    value: b"{\"a\":1}",
                }],
            },
            EntryRef {
                id: "2",
                time: Some(1700000000),
                changes: vec![
                    ChangeRef {
                        field: "security",
                        value: b"{}",
                    },
                    ChangeRef {
                        field: "x",
                        value: b"[]",
                    },
                ],
            },
        ])
        .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"a":1},"field":"messages"}]},{"id":"2","time":1700000000,"changes":[{"value":{},"field":"security"},{"value":[],"field":"x"}]}]}"#
        );
    }
}
