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
        // Entries by WABA, in the order each WABA first appears.
        let mut order: Vec<&str> = Vec::new();
        let mut per_waba: BTreeMap<&str, Vec<&Claimed>> = BTreeMap::new();
        for c in &self.items {
            let w = c.event.waba_id.as_str();
            if !per_waba.contains_key(w) {
                order.push(w);
            }
            per_waba.entry(w).or_default().push(c);
        }
        let entries: Vec<EntryRef<'_>> = order
            .iter()
            .map(|w| {
                let items = &per_waba[w];
                // Meta leaves `time` out of `messages` entries.
                let time = items
                    .iter()
                    .filter(|c| c.event.field != "messages")
                    .map(|c| c.event.time)
                    .max();
                EntryRef {
                    id: w,
                    time,
                    changes: items
                        .iter()
                        .map(|c| ChangeRef {
                            field: &c.event.field,
                            value: c.event.value_json.as_bytes(),
                        })
                        .collect(),
                }
            })
            .collect();
        meta_json::webhook_body(&entries)
    }
}
