//! Invariants of seed-file parsing, shared by the fuzz target `seed` (`fuzz/`) and its
//! property-test mirror (`tests/seed_properties.rs`), so that both check exactly the same thing.
//! Each panics when an invariant is broken; that is what a fuzzer looks for.

use crate::error::DomainError;
use crate::seed::Seed;

/// Any text, read as a JSON and as a TOML seed: parsing never panics, a refusal is a
/// `SeedParse` error with a message, and a JSON seed written as TOML (where TOML can hold it)
/// parses to the same seed.
pub fn seed(text: &str) {
    let json = parsed(text, false);
    let _ = parsed(text, true);
    let Some(json) = json else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        panic!("a JSON seed parsed from text that is not JSON");
    };
    // TOML has no null, and a JSON null is an absent optional field here.
    let Ok(as_toml) = toml::to_string(&without_nulls(value)) else {
        return;
    };
    let again = Seed::parse(&as_toml, true)
        .unwrap_or_else(|e| panic!("the seed written as TOML does not parse: {e}\n{as_toml}"));
    assert_eq!(again, json, "the seed written as TOML parses differently");
}

/// The seed in `text`, or `None` after checking that the refusal is a parse error with a
/// message.
fn parsed(text: &str, toml: bool) -> Option<Seed> {
    match Seed::parse(text, toml) {
        Ok(seed) => Some(seed),
        Err(DomainError::SeedParse(message)) => {
            assert!(!message.is_empty(), "a seed refused without a reason");
            None
        }
        Err(e) => panic!("a seed refused with an error other than a parse error: {e}"),
    }
}

fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}
