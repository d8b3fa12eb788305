//! The two building blocks that make every type in this crate lossless: `Extra`, which keeps the
//! attributes a type does not name, and `open_enum!`, whose enums keep values they do not know.
//!
//! Meta adds attributes and enum values without notice; a receiver that rejects them drops real
//! notifications. Everything here parses what it knows and carries the rest through unchanged.

/// Attributes of a JSON object that the surrounding type does not name, kept in order to be
/// written back on serialization.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// Declares a string enum that accepts any value: known values get a variant, anything else is
/// kept in `Other(String)` and serialized back as it came.
///
/// ```
/// wabahook_receiver::open_enum! {
///     /// A colour.
///     pub enum Colour { Red = "red", Green = "green" }
/// }
/// let c: Colour = serde_json::from_str("\"mauve\"").unwrap();
/// assert_eq!(c, Colour::Other("mauve".into()));
/// assert_eq!(serde_json::to_string(&c).unwrap(), "\"mauve\"");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know, kept as sent.
            Other(::std::string::String),
        }

        impl $name {
            /// The wire form.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Whether this is a value this version knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $value => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl ::std::convert::From<::std::string::String> for $name {
            fn from(s: ::std::string::String) -> Self {
                match s.as_str() {
                    $( $value => Self::$variant, )*
                    _ => Self::Other(s),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    open_enum! {
        /// Test enum.
        pub enum Mode { Fast = "fast", Slow = "slow" }
    }

    #[test]
    fn known_and_unknown_values_round_trip() {
        for text in ["\"fast\"", "\"slow\"", "\"sideways\"", "\"\""] {
            let m: Mode = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&m).unwrap(), text);
        }
        assert_eq!(Mode::from("fast"), Mode::Fast);
        assert!(!Mode::from("x").is_known());
        assert!(serde_json::from_str::<Mode>("3").is_err());
    }
}
