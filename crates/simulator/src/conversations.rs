//! The sandbox's conversations: who customers are (phone number, business-scoped user id,
//! profile name), message ids in Meta's form, the 24-hour customer service window, and the one
//! way to record an inbound message (which opens the window).
//!
//! Customers who write in and the send endpoint both go through here, so that a reply's
//! statuses name the customer exactly as the inbound webhook did.

use base64::Engine as _;
use rand::Rng;
use sha2::{Digest, Sha256};
use wabahook_store::{
    Customer, Direction, MessageRecord, NewEmission, PendingEmission, Store, StoreResult,
};

use crate::config::SimulatorConfig;

/// The business-scoped user id of `wa_id` as business `business_id` sees it: the country of
/// the number and 20 digits derived from both, so it is stable and differs per business.
pub fn bsuid(business_id: &str, wa_id: &str) -> String {
    let hash = Sha256::digest(format!("{business_id}/{wa_id}").as_bytes());
    let digits: String = hash
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, b)| char::from(b'0' + if i == 0 { 1 + b % 9 } else { b % 10 }))
        .collect();
    format!("{}.{digits}", country(wa_id))
}

/// The ISO country of a phone number's calling code, for the BSUID prefix (a few common codes;
/// others count as `US`, which only changes how the id looks).
fn country(wa_id: &str) -> &'static str {
    const CODES: &[(&str, &str)] = &[
        ("1", "US"),
        ("44", "GB"),
        ("49", "DE"),
        ("33", "FR"),
        ("34", "ES"),
        ("39", "IT"),
        ("31", "NL"),
        ("52", "MX"),
        ("55", "BR"),
        ("54", "AR"),
        ("57", "CO"),
        ("91", "IN"),
        ("62", "ID"),
        ("234", "NG"),
        ("27", "ZA"),
        ("971", "AE"),
        ("972", "IL"),
        ("90", "TR"),
        ("81", "JP"),
        ("65", "SG"),
    ];
    CODES
        .iter()
        .filter(|(code, _)| wa_id.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map_or("US", |(_, c)| c)
}

/// The customer `wa_id` as business `business_id` knows them, made up (derived id, a plain
/// profile name) and stored the first time.
pub async fn customer(
    store: &dyn Store,
    business_id: &str,
    wa_id: &str,
    now_ms: i64,
) -> StoreResult<Customer> {
    if let Some(c) = store.customer(business_id, wa_id).await? {
        return Ok(c);
    }
    let c = Customer {
        business_id: business_id.to_string(),
        wa_id: wa_id.to_string(),
        user_id: bsuid(business_id, wa_id),
        name: default_name(wa_id),
        username: None,
        updated_at_ms: now_ms,
    };
    store.put_customer(&c).await?;
    Ok(c)
}

/// The profile name of a customer nobody named: "Customer" and the number's last four digits.
pub fn default_name(wa_id: &str) -> String {
    let tail: String = wa_id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("Customer {tail}")
}

/// A new message id in Meta's form: `wamid.` and base64 of the Thrift-compact struct Meta's ids
/// decode to (the user's number, whether the business sent it, and a random hex id: 18
/// characters for business-sent ids, 20 starting `3A` for user-sent ones).
pub fn new_wamid(wa_id: &str, from_business: bool, rng: &mut impl Rng) -> String {
    let hex: String = if from_business {
        (0..18)
            .map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16)]))
            .collect()
    } else {
        let rest: String = (0..18)
            .map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16)]))
            .collect();
        format!("3A{rest}")
    };
    let number: Vec<u8> = wa_id.bytes().take(32).collect();
    let mut raw = vec![0x1c, 0x18, number.len() as u8];
    raw.extend_from_slice(&number);
    raw.extend_from_slice(&[
        0x15,
        0x02,
        0x00,
        if from_business { 0x11 } else { 0x12 },
        0x18,
    ]);
    raw.push(hex.len() as u8);
    raw.extend_from_slice(hex.as_bytes());
    raw.push(0x00);
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Whether the customer service window of (business number, customer) is open at `now_ms`.
pub async fn window_open(
    store: &dyn Store,
    cfg: &SimulatorConfig,
    phone_number_id: &str,
    wa_id: &str,
    now_ms: i64,
) -> StoreResult<bool> {
    let window_ms = i64::from(cfg.window_hours) * 3_600_000;
    Ok(store
        .last_inbound(phone_number_id, wa_id)
        .await?
        .is_some_and(|at| now_ms - at < window_ms))
}

/// An inbound message to record: what a customer sent to a business number.
pub struct Inbound<'a> {
    pub wamid: &'a str,
    pub waba_id: &'a str,
    pub phone_number_id: &'a str,
    pub customer: &'a Customer,
    /// The message type (`text`, `image`, …).
    pub kind: &'a str,
    /// The message as the webhook reports it (JSON).
    pub payload_json: &'a str,
    pub at_ms: i64,
}

/// Records an inbound message in its conversation and opens the customer service window, with
/// `emissions` (its webhook) in the outbox, in one store operation.
pub async fn record_inbound(
    store: &dyn Store,
    m: &Inbound<'_>,
    emissions: &[NewEmission],
) -> StoreResult<Vec<PendingEmission>> {
    store
        .record_message(
            &MessageRecord {
                wamid: m.wamid.to_string(),
                phone_number_id: m.phone_number_id.to_string(),
                waba_id: m.waba_id.to_string(),
                wa_id: m.customer.wa_id.clone(),
                user_id: m.customer.user_id.clone(),
                direction: Direction::Inbound,
                kind: m.kind.to_string(),
                payload_json: m.payload_json.to_string(),
                created_at_ms: m.at_ms,
            },
            &[],
            emissions,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_decode_like_metas() {
        let mut rng = rand::thread_rng();
        let id = new_wamid("16467043595", true, &mut rng);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(id.strip_prefix("wamid.").unwrap())
            .unwrap();
        assert_eq!(&raw[..14], b"\x1c\x18\x0b16467043595");
        assert_eq!(&raw[14..19], b"\x15\x02\x00\x11\x18");
        assert_eq!(raw[19], 18);
        assert_eq!(raw.len(), 20 + 18 + 1);
        // Meta's own example has the same shape.
        let meta = base64::engine::general_purpose::STANDARD
            .decode("HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA")
            .unwrap();
        assert_eq!(meta.len(), raw.len());
        assert_eq!(&meta[..20], &raw[..20]);
    }

    #[test]
    fn bsuids_are_stable_per_business_and_country() {
        let a = bsuid("b1", "16505551234");
        assert_eq!(a, bsuid("b1", "16505551234"));
        assert_ne!(a, bsuid("b2", "16505551234"));
        assert!(a.starts_with("US.") && a.len() == 23, "{a}");
        assert!(bsuid("b1", "447700900123").starts_with("GB."));
        assert!(bsuid("b1", "971500000000").starts_with("AE."));
        assert_eq!(default_name("16505551234"), "Customer 1234");
    }
}
