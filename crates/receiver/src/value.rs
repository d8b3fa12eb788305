//! `FieldValue`: a change's `value`, typed by its `field` when this crate knows the field and the
//! value fits its type, and kept as plain JSON otherwise.
//!
//! The rule that makes this lossless: a typed value is used only if serializing it gives back
//! exactly the JSON that came in. Anything else (an unknown field, a known attribute of an
//! unexpected type, an explicit `null`) stays `FieldValue::Other` with the original JSON, so a
//! receiver never fails on, nor silently changes, what Meta sends.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::fields::*;

/// Implemented by the typed value of every known field.
pub trait FieldType: Serialize + DeserializeOwned + Debug + Clone + PartialEq {
    /// The webhook field name, e.g. `messages`.
    const FIELD: &'static str;
    /// One line for people, e.g. `text from +16505551234 "Does it come in another color?"`.
    fn summary(&self) -> String;
}

fn typed<T: FieldType>(value: &Value) -> Option<T> {
    let t = T::deserialize(value).ok()?;
    // Only keep the typed form if it gives back exactly what came in.
    (serde_json::to_value(&t).ok()? == *value).then_some(t)
}

macro_rules! known_fields {
    ($( $(#[$meta:meta])* $variant:ident => $ty:ty ),* $(,)?) => {
        /// A change's value, typed by field.
        #[derive(Debug, Clone, PartialEq)]
        pub enum FieldValue {
            $( $(#[$meta])* $variant(Box<$ty>), )*
            /// An unknown field, or a value that does not fit its field's type: the JSON as sent.
            Other(Value),
        }

        /// Every field name this crate has a type for (and a sample, with the `samples`
        /// feature). Other field names are still parsed, as [`FieldValue::Other`].
        pub const TYPED_FIELDS: &[&str] = &[ $( <$ty as FieldType>::FIELD ),* ];

        impl FieldValue {
            /// Types `value` as `field`'s value if it fits, else keeps it as JSON. Never fails.
            pub fn parse(field: &str, value: Value) -> FieldValue {
                $(
                    if field == <$ty as FieldType>::FIELD {
                        if let Some(t) = typed::<$ty>(&value) {
                            return FieldValue::$variant(Box::new(t));
                        }
                        return FieldValue::Other(value);
                    }
                )*
                FieldValue::Other(value)
            }

            /// The field name of a typed value; `None` for `Other`.
            pub fn field(&self) -> Option<&'static str> {
                match self {
                    $( FieldValue::$variant(_) => Some(<$ty as FieldType>::FIELD), )*
                    FieldValue::Other(_) => None,
                }
            }

            /// A one-line description for people.
            pub fn summary(&self) -> String {
                match self {
                    $( FieldValue::$variant(v) => v.summary(), )*
                    FieldValue::Other(v) => other_summary(v),
                }
            }
        }

        impl Serialize for FieldValue {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( FieldValue::$variant(v) => v.serialize(s), )*
                    FieldValue::Other(v) => v.serialize(s),
                }
            }
        }

        /// A realistic sample value for `field`, or `None` if this crate has no type for it.
        #[cfg(feature = "samples")]
        pub(crate) fn sample_value(
            field: &str,
            ctx: &crate::samples::SampleContext,
            rng: &mut dyn rand::RngCore,
        ) -> Option<Value> {
            $(
                if field == <$ty as FieldType>::FIELD {
                    return Some(<$ty as crate::samples::Sample>::sample(ctx, rng));
                }
            )*
            None
        }
    };
}

known_fields! {
    Messages => messages::MessagesValue,
    SmbMessageEchoes => coexistence::SmbMessageEchoesValue,
    SmbAppStateSync => coexistence::SmbAppStateSyncValue,
    History => coexistence::HistoryValue,
    UserIdUpdate => identity::UserIdUpdateValue,
    BusinessUsernameUpdates => identity::BusinessUsernameUpdatesValue,
    AccountAlerts => account::AccountAlertsValue,
    AccountReviewUpdate => account::AccountReviewUpdateValue,
    AccountUpdate => account::AccountUpdateValue,
    BusinessCapabilityUpdate => account::BusinessCapabilityUpdateValue,
    MessageTemplateStatusUpdate => templates::MessageTemplateStatusUpdateValue,
    MessageTemplateQualityUpdate => templates::MessageTemplateQualityUpdateValue,
    MessageTemplateComponentsUpdate => templates::MessageTemplateComponentsUpdateValue,
    TemplateCategoryUpdate => templates::TemplateCategoryUpdateValue,
    PhoneNumberNameUpdate => phone_number::PhoneNumberNameUpdateValue,
    PhoneNumberQualityUpdate => phone_number::PhoneNumberQualityUpdateValue,
    Security => security::SecurityValue,
    UserPreferences => user_preferences::UserPreferencesValue,
    PartnerSolutions => partner_solutions::PartnerSolutionsValue,
    PaymentConfigurationUpdate => payment_configuration::PaymentConfigurationUpdateValue,
    Flows => flows::FlowsValue,
    Calls => calls::CallsValue,
}

/// The former name of [`TYPED_FIELDS`]: these are the fields this crate types, not every field
/// Meta knows.
#[deprecated(since = "0.1.0", note = "renamed to TYPED_FIELDS")]
pub const KNOWN_FIELDS: &[&str] = TYPED_FIELDS;

impl FieldValue {
    /// Whether the value was typed (a known field whose value fits its type).
    pub fn is_typed(&self) -> bool {
        !matches!(self, FieldValue::Other(_))
    }

    /// The value as JSON, equal to what was parsed.
    pub fn to_value(&self) -> Value {
        match self {
            FieldValue::Other(v) => v.clone(),
            // Typed values were checked to serialize back to their input when parsed.
            typed => serde_json::to_value(typed).unwrap_or(Value::Null),
        }
    }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

fn other_summary(v: &Value) -> String {
    truncate(&v.to_string(), 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_and_misfits_stay_json() {
        let v = json!({"anything": [1, 2, {"x": null}]});
        assert_eq!(
            FieldValue::parse("no_such_field", v.clone()),
            FieldValue::Other(v.clone())
        );
        // `security.event` is a string; a number does not fit and is kept as sent.
        let misfit = json!({"event": 5});
        let parsed = FieldValue::parse("security", misfit.clone());
        assert!(!parsed.is_typed());
        assert_eq!(parsed.to_value(), misfit);
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }
}
