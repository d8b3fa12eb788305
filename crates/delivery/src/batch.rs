//! Grouping claimed deliveries into POSTs: one POST per (app, target), entries by WABA, at most
//! `batch_max_changes` changes and about `batch_max_bytes` bytes each.

use std::collections::BTreeMap;

use wabahook_receiver::meta_json::{self, ChangeRef, EntryRef};
use wabahook_store::Claimed;

/// Deliveries sent together in one POST.
pub struct Batch {
    pub app_id: String,
    pub target_url: String,
    pub items: Vec<Claimed>,
}

/// Room one change takes in a body besides its value: `{"value":,"field":""}` and a comma,
/// plus a whole entry's frame in the worst case that it opens one.
fn change_overhead(c: &Claimed) -> usize {
    24 + c.event.field.len() + 48 + c.event.waba_id.len()
}

/// Splits claimed deliveries into batches. Order within a batch follows the claim order.
pub fn group(claimed: Vec<Claimed>, max_changes: usize, max_bytes: usize) -> Vec<Batch> {
    let mut by_target: BTreeMap<(String, String), Vec<Vec<Claimed>>> = BTreeMap::new();
    let mut sizes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in claimed {
        let key = (c.delivery.app_id.clone(), c.delivery.target_url.clone());
        let size = c.event.value_json.len() + change_overhead(&c);
        let groups = by_target.entry(key.clone()).or_default();
        let current = sizes.entry(key).or_insert(0);
        let fits = groups.last().is_some_and(|g| {
            g.len() < max_changes && *current + size <= max_bytes.saturating_sub(64)
        });
        if fits {
            if let Some(g) = groups.last_mut() {
                g.push(c);
            }
            *current += size;
        } else {
            groups.push(vec![c]);
            *current = size;
        }
    }
    by_target
        .into_iter()
        .flat_map(|((app_id, target_url), groups)| {
            groups.into_iter().map(move |items| Batch {
                app_id: app_id.clone(),
                target_url: target_url.clone(),
                items,
            })
        })
        .collect()
}

impl Batch {
    /// The exact body to sign and send.
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        self.body_for(false)
    }

    /// The exact body for an app whose `messages` subscription is on v24.0 or later when
    /// `omit_conversation` is set: statuses lose `conversation` ([`crate::shaping`]).
    pub fn body_for(&self, omit_conversation: bool) -> Result<Vec<u8>, serde_json::Error> {
        let values: Vec<std::borrow::Cow<'_, str>> = self
            .items
            .iter()
            .map(|c| {
                if omit_conversation {
                    crate::shaping::without_conversation(&c.event.field, &c.event.value_json)
                } else {
                    std::borrow::Cow::Borrowed(c.event.value_json.as_str())
                }
            })
            .collect();
        // Entries by WABA, in the order each WABA first appears.
        let mut order: Vec<&str> = Vec::new();
        let mut per_waba: BTreeMap<&str, Vec<(&Claimed, &str)>> = BTreeMap::new();
        for (c, v) in self.items.iter().zip(&values) {
            let w = c.event.waba_id.as_str();
            if !per_waba.contains_key(w) {
                order.push(w);
            }
            per_waba.entry(w).or_default().push((c, v.as_ref()));
        }
        let entries: Vec<EntryRef<'_>> = order
            .iter()
            .map(|w| {
                let items = &per_waba[w];
                // Meta leaves `time` out of `messages` entries.
                let time = items
                    .iter()
                    .filter(|(c, _)| c.event.field != "messages")
                    .map(|(c, _)| c.event.time)
                    .max();
                EntryRef {
                    id: w,
                    time,
                    changes: items
                        .iter()
                        .map(|(c, v)| ChangeRef {
                            field: &c.event.field,
                            value: v.as_bytes(),
                        })
                        .collect(),
                }
            })
            .collect();
        meta_json::webhook_body(&entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabahook_store::{Delivery, DeliveryState, Event};

    fn claimed(id: i64, app: &str, target: &str, waba: &str, field: &str, value: &str) -> Claimed {
        Claimed {
            delivery: Delivery {
                id,
                event_id: format!("e{id}"),
                app_id: app.into(),
                waba_id: waba.into(),
                field: field.into(),
                target_url: target.into(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at_ms: 0,
                claim_seq: 1,
                created_at_ms: 0,
                expires_at_ms: 0,
                finished_at_ms: None,
                claimed_by: None,
            },
            event: Event {
                id: format!("e{id}"),
                waba_id: waba.into(),
                field: field.into(),
                value_json: value.into(),
                phone_number_id: None,
                time: 1_700_000_000 + id,
                created_at_ms: 0,
            },
        }
    }

    fn ids(b: &Batch) -> Vec<i64> {
        b.items.iter().map(|c| c.delivery.id).collect()
    }

    #[test]
    fn one_batch_per_app_and_target_in_claim_order() {
        let batches = group(
            vec![
                claimed(1, "a", "http://x/1", "w", "f", "{}"),
                claimed(2, "b", "http://x/1", "w", "f", "{}"),
                claimed(3, "a", "http://x/2", "w", "f", "{}"),
                claimed(4, "a", "http://x/1", "w", "f", "{}"),
            ],
            1000,
            3 << 20,
        );
        let got: Vec<_> = batches
            .iter()
            .map(|b| (b.app_id.as_str(), b.target_url.as_str(), ids(b)))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "http://x/1", vec![1, 4]),
                ("a", "http://x/2", vec![3]),
                ("b", "http://x/1", vec![2]),
            ]
        );
    }

    #[test]
    fn batches_stop_at_the_change_limit() {
        let items = (1..=7)
            .map(|i| claimed(i, "a", "http://x", "w", "f", "{}"))
            .collect();
        let sizes: Vec<usize> = group(items, 3, 3 << 20)
            .iter()
            .map(|b| b.items.len())
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
    }

    #[test]
    fn batches_stop_before_the_byte_limit_and_a_large_change_goes_alone() {
        let value = format!("{{\"t\":\"{}\"}}", "x".repeat(400));
        let items = (1..=5)
            .map(|i| claimed(i, "a", "http://x", "w", "f", &value))
            .collect();
        let limit = 1200;
        let batches = group(items, 1000, limit);
        assert!(batches.len() > 1);
        for b in &batches {
            assert!(b.body().unwrap().len() <= limit, "{}", b.items.len());
        }
        let total: usize = batches.iter().map(|b| b.items.len()).sum();
        assert_eq!(total, 5);
        // A single change larger than the limit is still sent, alone.
        let huge = format!("{{\"t\":\"{}\"}}", "x".repeat(5000));
        let batches = group(
            vec![
                claimed(1, "a", "http://x", "w", "f", &huge),
                claimed(2, "a", "http://x", "w", "f", "{}"),
            ],
            1000,
            limit,
        );
        assert_eq!(
            batches.iter().map(ids).collect::<Vec<_>>(),
            [vec![1], vec![2]]
        );
    }

    #[test]
    fn body_groups_entries_by_waba_and_leaves_time_out_of_messages() {
        let b = Batch {
            app_id: "a".into(),
            target_url: "http://x".into(),
            items: vec![
                claimed(1, "a", "http://x", "w2", "messages", r#"{"m":1}"#),
                // Values are stored as Meta writes them and copied verbatim.
                claimed(
                    2,
                    "a",
                    "http://x",
                    "w1",
                    "account_update",
                    r#"{"u":"\u00e9"}"#,
                ),
                claimed(3, "a", "http://x", "w2", "messages", r#"{"m":2}"#),
            ],
        };
        let body = String::from_utf8(b.body().unwrap()).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"{"object":"whatsapp_business_account","entry":["#,
                r#"{"id":"w2","changes":[{"value":{"m":1},"field":"messages"},{"value":{"m":2},"field":"messages"}]},"#,
                r#"{"id":"w1","time":1700000002,"changes":[{"value":{"u":"\u00e9"},"field":"account_update"}]}"#,
                "]}"
            )
        );
    }
}
