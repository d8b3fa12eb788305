//! Realistic sample values for every field, in Meta's current payload shapes (business-scoped
//! user ids, usernames, `contacts` on statuses), for sandboxes, demos and property tests.

mod account;
mod calls;
mod coexistence;
mod flows;
mod identity;
mod messages;
mod partner_solutions;
mod payment_configuration;
mod phone_number;
mod security;
mod templates;
mod user_preferences;

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde_json::Value;

/// Where a sample happens: the WABA and business phone number it is about, and "now".
/// Samples use these so that a triggered event matches the sandbox's world.
#[derive(Debug, Clone)]
pub struct SampleContext {
    pub waba_id: String,
    pub phone_number_id: String,
    /// Digits only, as in `metadata.display_phone_number`, e.g. `15550783881`.
    pub display_phone_number: String,
    pub business_name: String,
    /// Unix seconds used for timestamps in the sample.
    pub now: i64,
}

impl Default for SampleContext {
    fn default() -> Self {
        SampleContext {
            waba_id: "102290129340398".into(),
            phone_number_id: "106540352242922".into(),
            display_phone_number: "15550783881".into(),
            business_name: "Lucky Shrub".into(),
            now: 1_764_000_000,
        }
    }
}

/// Implemented for every typed field value: a realistic, valid value of that field as JSON.
pub trait Sample {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value;
}

/// A realistic sample value of `field`, or `None` for a field this crate has no type for.
pub fn sample(field: &str, ctx: &SampleContext, rng: &mut dyn RngCore) -> Option<Value> {
    crate::value::sample_value(field, ctx, rng)
}

// ---- shared generators -------------------------------------------------------------------

/// One of `items`.
pub(crate) fn pick<'a, T: ?Sized>(rng: &mut dyn RngCore, items: &[&'a T]) -> &'a T {
    items
        .choose(rng)
        .copied()
        .unwrap_or_else(|| unreachable!("pick from an empty list"))
}

/// A string of `n` decimal digits, not starting with 0.
pub(crate) fn digits(rng: &mut dyn RngCore, n: usize) -> String {
    let mut s = String::with_capacity(n);
    s.push(char::from(b'1' + rng.gen_range(0..9u8)));
    for _ in 1..n {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

/// A Graph-style numeric id (15 or 16 digits).
pub(crate) fn graph_id(rng: &mut dyn RngCore) -> String {
    let n = rng.gen_range(15..=16);
    digits(rng, n)
}

/// A WhatsApp message id: `wamid.` + base64 of a random payload, as Meta's look.
pub(crate) fn wamid(rng: &mut dyn RngCore) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("wamid.HBgL");
    for _ in 0..48 {
        s.push(char::from(B64[rng.gen_range(0..B64.len())]));
    }
    s.push('=');
    s
}

/// A WhatsApp user as the business sees them today.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub name: String,
    /// Digits with country code, e.g. `16505551234`.
    pub wa_id: String,
    /// Business-scoped user id, e.g. `US.13491208655302741918`.
    pub user_id: String,
    /// Set when the user has enabled usernames.
    pub username: Option<String>,
}

const PEOPLE: &[(&str, &str, &str)] = &[
    ("Sheena Nelson", "1650555", "US"),
    ("Pablo Morales", "1650555", "US"),
    ("Aiko Tanaka", "8190", "JP"),
    ("Chloé Dubois", "3361", "FR"),
    ("Jürgen Weiß", "49151", "DE"),
    ("Priya Raman", "9198", "IN"),
    ("Lucas Oliveira", "55119", "BR"),
    ("Amara Okafor", "234803", "NG"),
    ("Sofía Martínez", "52155", "MX"),
    ("Mehmet Yılmaz", "90532", "TR"),
    ("Nomvula Dlamini", "2782", "ZA"),
    ("Liam O'Brien", "35387", "IE"),
];

impl Person {
    pub(crate) fn random(rng: &mut dyn RngCore) -> Person {
        let (name, prefix, country) = PEOPLE[rng.gen_range(0..PEOPLE.len())];
        let wa_id = format!("{prefix}{}", digits(rng, 11 - prefix.len().min(10)));
        let user_id = format!("{country}.{}", digits(rng, 20));
        let username = rng.gen_bool(0.4).then(|| {
            let first = name.split(' ').next().unwrap_or(name).to_lowercase();
            format!(
                "{}{}",
                first.replace(|c: char| !c.is_ascii_alphanumeric(), ""),
                rng.gen_range(1..999)
            )
        });
        Person {
            name: name.to_owned(),
            wa_id,
            user_id,
            username,
        }
    }
}

/// A timestamp shortly before `ctx.now`, as Meta's string form.
pub(crate) fn recent_timestamp(ctx: &SampleContext, rng: &mut dyn RngCore) -> String {
    (ctx.now - rng.gen_range(0..120)).to_string()
}
