//! `NumericString`: an attribute Meta documents as a string holding a number (timestamps, phone
//! numbers, Graph ids), accepted as a JSON string or a JSON number.
//!
//! Real payloads sometimes carry such an attribute as a number where Meta's documentation shows a
//! string (seen: `conversation.expiration_timestamp` as `1454119029`). Declared as `String`, one
//! such number makes the whole change fall back to plain JSON. This type takes either form and
//! remembers which one came, so that serializing gives back exactly what was sent and the
//! lossless check in [`crate::value`] still holds. Anything else (bool, null, object, array) is
//! refused, so a value that really does not fit still stays as JSON.
//!
//! ```
//! use wabahook_receiver::NumericString;
//!
//! let quoted: NumericString = serde_json::from_str(r#""1454119029""#).unwrap();
//! let bare: NumericString = serde_json::from_str("1454119029").unwrap();
//! // Read the same …
//! assert_eq!(quoted, "1454119029");
//! assert_eq!(bare, "1454119029");
//! assert_eq!(bare.as_i64(), Some(1454119029));
//! // … and written back as they came.
//! assert_eq!(serde_json::to_string(&quoted).unwrap(), r#""1454119029""#);
//! assert_eq!(serde_json::to_string(&bare).unwrap(), "1454119029");
//! assert!(serde_json::from_str::<NumericString>("true").is_err());
//! ```

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Number, Value};

/// A string that holds a number, as received: a JSON string (Meta's documented form) or a JSON
/// number. Reads as `&str` either way (a number reads as its JSON text); serializes in the form
/// it came in.
///
/// Two values are equal when they would serialize the same: `"5"` and `5` differ. Compare with a
/// `&str` to ignore the form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NumericString {
    /// The string as sent, or the number's JSON text; what `Deref` gives out.
    text: String,
    /// `Some` when the value came as a JSON number; `text` is then its `to_string()`.
    number: Option<Number>,
}

impl NumericString {
    /// The text: the string as sent, or the number as JSON writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it came as a JSON number rather than a string.
    pub fn is_number(&self) -> bool {
        self.number.is_some()
    }

    /// The JSON number, if it came as one.
    pub fn as_number(&self) -> Option<&Number> {
        self.number.as_ref()
    }

    /// The value as an `i64`, from either form; `None` for text that is not an integer (a group
    /// id, an empty string) or a number that is not one (`1.5`, beyond `i64`).
    pub fn as_i64(&self) -> Option<i64> {
        match &self.number {
            Some(n) => n.as_i64(),
            None => self.text.parse().ok(),
        }
    }

    /// The value as a `u64`, from either form; `None` if it is not a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.number {
            Some(n) => n.as_u64(),
            None => self.text.parse().ok(),
        }
    }

    /// The text, dropping the form it came in.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl Deref for NumericString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for NumericString {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for NumericString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for NumericString {
    // Shows the form as JSON would: `NumericString("16505551234")` or `NumericString(1454119029)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("NumericString");
        match &self.number {
            Some(n) => t.field(&format_args!("{n}")),
            None => t.field(&self.text),
        };
        t.finish()
    }
}

impl From<String> for NumericString {
    /// The string form, as Meta documents it.
    fn from(text: String) -> Self {
        NumericString { text, number: None }
    }
}

impl From<&str> for NumericString {
    /// The string form, as Meta documents it.
    fn from(text: &str) -> Self {
        NumericString::from(text.to_owned())
    }
}

impl From<Number> for NumericString {
    /// The number form.
    fn from(number: Number) -> Self {
        NumericString {
            text: number.to_string(),
            number: Some(number),
        }
    }
}

impl From<NumericString> for String {
    fn from(n: NumericString) -> String {
        n.text
    }
}

impl PartialEq<str> for NumericString {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for NumericString {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for NumericString {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl PartialEq<NumericString> for str {
    fn eq(&self, other: &NumericString) -> bool {
        *self == other.text
    }
}

impl PartialEq<NumericString> for &str {
    fn eq(&self, other: &NumericString) -> bool {
        **self == other.text
    }
}

impl Serialize for NumericString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.number {
            Some(n) => n.serialize(s),
            None => s.serialize_str(&self.text),
        }
    }
}

impl<'de> Deserialize<'de> for NumericString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through `Value` rather than a hand-written visitor: it reads numbers however
        // serde_json's features make it deliver them, including inside the buffered content
        // that `#[serde(flatten)]` structs deserialize from.
        let refuse =
            |u: Unexpected<'_>| -> D::Error { de::Error::invalid_type(u, &"a string or a number") };
        match Value::deserialize(d)? {
            Value::String(s) => Ok(NumericString::from(s)),
            Value::Number(n) => Ok(NumericString::from(n)),
            Value::Null => Err(refuse(Unexpected::Unit)),
            Value::Bool(b) => Err(refuse(Unexpected::Bool(b))),
            Value::Array(_) => Err(refuse(Unexpected::Seq)),
            Value::Object(_) => Err(refuse(Unexpected::Map)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn parse(text: &str) -> Result<NumericString, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn both_forms_round_trip_byte_for_byte() {
        for text in [
            r#""1454119029""#,
            r#""""#,
            r#""Y2FwaV9ncm91cDox""#,
            r#""007""#,
            "1454119029",
            "0",
            "-42",
            "18446744073709551615",
            "-9223372036854775808",
            "1454119029.5",
            "0.25",
        ] {
            let n = parse(text).unwrap();
            assert_eq!(serde_json::to_string(&n).unwrap(), text);
            assert_eq!(
                crate::meta_json::to_vec(&n).unwrap(),
                text.as_bytes(),
                "{text}"
            );
            assert_eq!(n.is_number(), !text.starts_with('"'), "{text}");
        }
    }

    #[test]
    fn reads_as_text_in_either_form() {
        let s = parse(r#""16505551234""#).unwrap();
        let n = parse("16505551234").unwrap();
        for v in [&s, &n] {
            assert_eq!(v.as_str(), "16505551234");
            assert_eq!(&**v, "16505551234");
            assert_eq!(v.to_string(), "16505551234");
            assert_eq!(*v, "16505551234");
            assert!("16505551234" == *v);
            assert_eq!(v.as_i64(), Some(16_505_551_234));
            assert_eq!(v.as_u64(), Some(16_505_551_234));
            assert!(v.starts_with("1650"));
        }
        let as_opt = Some(n.clone());
        assert_eq!(as_opt.as_deref(), Some("16505551234"));
        assert_eq!(s.as_number(), None);
        assert_eq!(n.as_number(), Some(&Number::from(16_505_551_234u64)));
        assert_eq!(String::from(n), "16505551234");
        assert_eq!(s.into_string(), "16505551234");
    }

    #[test]
    fn the_form_is_part_of_equality() {
        let s = parse(r#""5""#).unwrap();
        let n = parse("5").unwrap();
        assert_ne!(s, n);
        assert_eq!(s, NumericString::from("5"));
        assert_eq!(s, NumericString::from(String::from("5")));
        assert_eq!(n, NumericString::from(Number::from(5)));
        let set: HashSet<_> = [s.clone(), n.clone(), s].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert_eq!(
            format!("{:?}", parse(r#""5""#).unwrap()),
            r#"NumericString("5")"#
        );
        assert_eq!(format!("{n:?}"), "NumericString(5)");
    }

    #[test]
    fn integer_accessors_refuse_what_is_not_an_integer() {
        for text in [
            r#""US.13491208655302741918""#,
            r#""""#,
            r#""1.5""#,
            "1.5",
            r#""99999999999999999999""#,
        ] {
            let n = parse(text).unwrap();
            assert_eq!(n.as_i64(), None, "{text}");
            assert_eq!(n.as_u64(), None, "{text}");
        }
        assert_eq!(parse("-1").unwrap().as_u64(), None);
        assert_eq!(parse("-1").unwrap().as_i64(), Some(-1));
        assert_eq!(
            parse("18446744073709551615").unwrap().as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(parse("18446744073709551615").unwrap().as_i64(), None);
    }

    #[test]
    fn anything_but_a_string_or_number_is_refused() {
        for text in [
            "true",
            "false",
            "null",
            "{}",
            r#"{"a":"1"}"#,
            "[]",
            r#"["1"]"#,
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                err.to_string().contains("a string or a number"),
                "{text}: {err}"
            );
        }
        // From a `Value` too, which is how `FieldValue::parse` reads.
        assert!(NumericString::deserialize(&serde_json::json!(true)).is_err());
        assert!(NumericString::deserialize(&serde_json::json!(7)).is_ok());
    }
}
