//! Every envelope in Meta's documented examples parses, every change in it is typed, and it
//! serializes back to JSON equal to the file — whatever its field.

use std::path::PathBuf;

use wabahook_receiver::Notification;

#[test]
fn every_meta_example_parses_typed_and_round_trips() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/meta-examples"
    ));
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let n =
            Notification::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for c in n.changes() {
            assert!(
                c.change.value.is_typed(),
                "{}: {} is not typed",
                path.display(),
                c.change.field
            );
            assert!(!c.change.summary().is_empty());
        }
        let input: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            input,
            "{}",
            path.display()
        );
        files += 1;
    }
    assert!(
        files >= 40,
        "only {files} examples found in {}",
        dir.display()
    );
}
