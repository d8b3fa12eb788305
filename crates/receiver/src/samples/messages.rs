//! Samples of `messages`: an incoming message of any type, a status of an outgoing message, or
//! (rarely) a value-level error, in Meta's 2026 shape. The payload generators are shared with
//! the coexistence samples, whose echoes and history messages have the same payloads.

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::{digits, graph_id, pick, recent_timestamp, wamid, Person, Sample, SampleContext};
use crate::fields::messages::*;

impl Sample for MessagesValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let roll = rng.gen_range(0..100);
        let mut v = envelope(ctx);
        if roll < 60 {
            incoming(ctx, rng, &mut v);
        } else if roll < 97 {
            status(ctx, rng, &mut v);
        } else {
            v.insert("errors".into(), json!([value_error(rng)]));
        }
        Value::Object(v)
    }
}

/// `messaging_product` and `metadata` of the business number in `ctx`.
pub(super) fn envelope(ctx: &SampleContext) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("messaging_product".into(), json!("whatsapp"));
    v.insert(
        "metadata".into(),
        json!({
            "display_phone_number": ctx.display_phone_number,
            "phone_number_id": ctx.phone_number_id,
        }),
    );
    v
}

/// A user as one webhook shows them: the phone number is shared unless the user has a
/// username and no recent interaction with this number; parent BSUIDs only if enrolled.
pub(super) struct Who {
    pub person: Person,
    pub phone_shared: bool,
    pub parent_user_id: Option<String>,
}

impl Who {
    pub(super) fn random(rng: &mut dyn RngCore) -> Who {
        let person = Person::random(rng);
        let phone_shared = person.username.is_none() || rng.gen_bool(0.5);
        let country = person.user_id.split('.').next().unwrap_or("US").to_owned();
        let parent_user_id = rng
            .gen_bool(0.2)
            .then(|| format!("{country}.ENT.{}", digits(rng, 20)));
        Who {
            person,
            phone_shared,
            parent_user_id,
        }
    }

    pub(super) fn wa_id(&self) -> Option<&str> {
        self.phone_shared.then_some(self.person.wa_id.as_str())
    }

    /// The `contacts[]` entry; `with_username` is false where Meta leaves it out (`sent`).
    pub(super) fn contact(&self, with_username: bool) -> Value {
        let mut profile = Map::new();
        profile.insert("name".into(), json!(self.person.name));
        if let (true, Some(u)) = (with_username, &self.person.username) {
            profile.insert("username".into(), json!(u));
        }
        let mut c = Map::new();
        c.insert("profile".into(), Value::Object(profile));
        if let Some(w) = self.wa_id() {
            c.insert("wa_id".into(), json!(w));
        }
        c.insert("user_id".into(), json!(self.person.user_id));
        if let Some(p) = &self.parent_user_id {
            c.insert("parent_user_id".into(), json!(p));
        }
        Value::Object(c)
    }

    /// `from`, `from_user_id`, `from_parent_user_id` (or `to…` with `prefix` = `to`).
    pub(super) fn ids_into(&self, prefix: &str, m: &mut Map<String, Value>) {
        if let Some(w) = self.wa_id() {
            m.insert(prefix.into(), json!(w));
        }
        m.insert(format!("{prefix}_user_id"), json!(self.person.user_id));
        if let Some(p) = &self.parent_user_id {
            m.insert(format!("{prefix}_parent_user_id"), json!(p));
        }
    }
}

const TEXTS: &[&str] = &[
    "Does it come in another color?",
    "Hi! Is my order on its way?",
    "Can I change the delivery address?",
    "Do you ship to Canada?",
    "Thanks, that worked 👍",
    "What are your opening hours on Sunday?",
    "I'd like to book a table for 4 tonight at 8pm",
    "¿Tienen talla M?",
    "Bonjour, la commande n'est pas arrivée",
    "Können Sie mir eine Rechnung schicken?",
    "Is this still available?",
    "Can I get more info about this?",
];

const CAPTIONS: &[&str] = &[
    "This one please",
    "It arrived damaged",
    "Taj Mahal",
    "Receipt attached",
    "Like this but in blue",
];

/// A base64 SHA-256 like Meta's media hashes.
fn sha256(rng: &mut dyn RngCore) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s: String = (0..43)
        .map(|_| char::from(B64[rng.gen_range(0..B64.len())]))
        .collect();
    s.push('=');
    s
}

fn alnum(rng: &mut dyn RngCore, n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

fn media_url(rng: &mut dyn RngCore) -> String {
    format!(
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={}",
        digits(rng, 16)
    )
}

/// A media payload of `kind` (image, audio, video, document, sticker).
pub(super) fn media(kind: &str, rng: &mut dyn RngCore) -> Value {
    let mut m = Map::new();
    let caption = rng.gen_bool(0.5).then(|| pick(rng, CAPTIONS).to_owned());
    match kind {
        "image" | "video" | "document" => {
            if let Some(c) = caption {
                m.insert("caption".into(), json!(c));
            }
        }
        _ => {}
    }
    let mime = match kind {
        "image" => pick(rng, &["image/jpeg", "image/png"]),
        "audio" => pick(rng, &["audio/ogg; codecs=opus", "audio/mpeg", "audio/mp4"]),
        "video" => "video/mp4",
        "sticker" => "image/webp",
        _ => pick(
            rng,
            &[
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ],
        ),
    };
    if kind == "document" {
        let name = if mime == "application/pdf" {
            pick(
                rng,
                &["receipt.pdf", "invoice-2026-0142.pdf", "boarding-pass.pdf"],
            )
        } else {
            "order-details.docx"
        };
        m.insert("filename".into(), json!(name));
    }
    m.insert("mime_type".into(), json!(mime));
    m.insert("sha256".into(), json!(sha256(rng)));
    m.insert("id".into(), json!(graph_id(rng)));
    m.insert("url".into(), json!(media_url(rng)));
    match kind {
        "audio" => {
            m.insert("voice".into(), json!(mime.starts_with("audio/ogg")));
        }
        "sticker" => {
            m.insert("animated".into(), json!(rng.gen_bool(0.3)));
        }
        _ => {}
    }
    Value::Object(m)
}

fn location(rng: &mut dyn RngCore) -> Value {
    const PLACES: &[(&str, &str, f64, f64)] = &[
        (
            "Philz Coffee",
            "101 Forest Ave, Palo Alto, CA 94301",
            37.44221496582,
            -122.16165924072,
        ),
        (
            "Brandenburger Tor",
            "Pariser Platz, 10117 Berlin",
            52.516275,
            13.377704,
        ),
        (
            "Shibuya Crossing",
            "2-2-1 Dogenzaka, Shibuya City, Tokyo",
            35.659482,
            139.700553,
        ),
        (
            "Marina Beach",
            "Kamarajar Salai, Chennai 600005",
            13.050025,
            80.282402,
        ),
    ];
    let (name, address, lat, lon) = PLACES[rng.gen_range(0..PLACES.len())];
    if rng.gen_bool(0.3) {
        // A dropped pin: coordinates only.
        let jitter = |rng: &mut dyn RngCore| f64::from(rng.gen_range(-5000..5000)) / 100_000.0;
        let la = lat + jitter(rng);
        let lo = lon + jitter(rng);
        return json!({"latitude": la, "longitude": lo});
    }
    json!({"address": address, "latitude": lat, "longitude": lon, "name": name})
}

fn shared_contacts(rng: &mut dyn RngCore) -> Value {
    const NAMES: &[(&str, &str, &str)] = &[
        ("Barbara", "Johnson", "Social Tsunami"),
        ("Kenji", "Watanabe", "Lucky Shrub"),
        ("Fatima", "Haddad", "Cedar Logistics"),
        ("Oliver", "Smith", "Greenway Plumbing"),
    ];
    let (first, last, company) = NAMES[rng.gen_range(0..NAMES.len())];
    let wa = format!("1{}", digits(rng, 10));
    let mut c = Map::new();
    c.insert(
        "name".into(),
        json!({"first_name": first, "last_name": last, "formatted_name": format!("{first} {last}")}),
    );
    if rng.gen_bool(0.5) {
        c.insert("org".into(), json!({"company": company}));
    }
    if rng.gen_bool(0.3) {
        c.insert(
            "emails".into(),
            json!([{"email": format!("{}@example.com", first.to_lowercase()), "type": "WORK"}]),
        );
    }
    c.insert(
        "phones".into(),
        json!([{"phone": format!("+{wa}"), "wa_id": wa, "type": pick(rng, &["MOBILE", "CELL", "HOME"])}]),
    );
    json!([c])
}

fn order(rng: &mut dyn RngCore) -> Value {
    let currency = pick(rng, &["USD", "EUR", "INR", "BRL"]);
    let items: Vec<Value> = (0..rng.gen_range(1..=3))
        .map(|_| {
            let price = if rng.gen_bool(0.5) {
                json!(rng.gen_range(5..200))
            } else {
                json!(f64::from(rng.gen_range(500..20000)) / 100.0)
            };
            json!({
                "product_retailer_id": alnum(rng, 10),
                "quantity": rng.gen_range(1..=3),
                "item_price": price,
                "currency": currency,
            })
        })
        .collect();
    let mut o = Map::new();
    o.insert("catalog_id".into(), json!(graph_id(rng)));
    if rng.gen_bool(0.5) {
        o.insert(
            "text".into(),
            json!(pick(
                rng,
                &["Love these!", "Gift wrap please", "Deliver after 6pm"]
            )),
        );
    }
    o.insert("product_items".into(), json!(items));
    Value::Object(o)
}

fn referral(rng: &mut dyn RngCore) -> Value {
    let mut r = Map::new();
    r.insert(
        "source_url".into(),
        json!(format!("https://fb.me/{}", alnum(rng, 9))),
    );
    r.insert("source_id".into(), json!(digits(rng, 18)));
    r.insert("source_type".into(), json!("ad"));
    r.insert("body".into(), json!("Summer succulents are here!"));
    r.insert("headline".into(), json!("Chat with us"));
    if rng.gen_bool(0.5) {
        r.insert("media_type".into(), json!("image"));
        r.insert(
            "image_url".into(),
            json!("https://scontent.xx.fbcdn.net/v/t45.1..."),
        );
    } else {
        r.insert("media_type".into(), json!("video"));
        r.insert(
            "video_url".into(),
            json!("https://scontent.xx.fbcdn.net/v/t45.2..."),
        );
        r.insert(
            "thumbnail_url".into(),
            json!("https://scontent.xx.fbcdn.net/v/t45.3..."),
        );
    }
    // Omitted for ads shown in WhatsApp Status.
    if rng.gen_bool(0.8) {
        r.insert("ctwa_clid".into(), json!(format!("Aff-{}", alnum(rng, 60))));
    }
    r.insert(
        "welcome_message".into(),
        json!({"text": "Hi there! Let us know how we can help!"}),
    );
    Value::Object(r)
}

fn error(code: i64, title: &str, details: &str) -> Value {
    json!({
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "/documentation/business-messaging/whatsapp/support/error-codes",
    })
}

fn value_error(rng: &mut dyn RngCore) -> Value {
    let _ = rng;
    error(
        130429,
        "Rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number in a short period of time",
    )
}

const INCOMING_TYPES: &[&str] = &[
    "text",
    "text",
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "button_reply",
    "list_reply",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
];

/// The type-specific attributes of a message the user sent as `kind`, into `m`.
pub(super) fn payload_into(
    kind: &str,
    ctx: &SampleContext,
    rng: &mut dyn RngCore,
    m: &mut Map<String, Value>,
) {
    let reply_context =
        |rng: &mut dyn RngCore| json!({"from": ctx.display_phone_number, "id": wamid(rng)});
    let t = match kind {
        "button_reply" | "list_reply" => "interactive",
        other => other,
    };
    m.insert("type".into(), json!(t));
    match kind {
        "text" => {
            if rng.gen_bool(0.1) {
                m.insert("context".into(), json!({"forwarded": true}));
            }
            m.insert("text".into(), json!({"body": pick(rng, TEXTS)}));
            if rng.gen_bool(0.15) {
                m.insert("referral".into(), referral(rng));
            }
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            m.insert(kind.into(), media(kind, rng));
        }
        "location" => {
            m.insert("location".into(), location(rng));
        }
        "contacts" => {
            m.insert("contacts".into(), shared_contacts(rng));
        }
        "button_reply" => {
            m.insert("context".into(), reply_context(rng));
            let (id, title) = *pick(
                rng,
                &[
                    &("cancel-button", "Cancel"),
                    &("confirm-button", "Confirm"),
                    &("talk-to-agent", "Talk to an agent"),
                ],
            );
            m.insert(
                "interactive".into(),
                json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
            );
        }
        "list_reply" => {
            m.insert("context".into(), reply_context(rng));
            let (id, title, desc) = *pick(
                rng,
                &[
                    &(
                        "priority_express",
                        "Priority Mail Express",
                        "Next Day to 2 Days",
                    ),
                    &("priority_mail", "Priority Mail", "1–3 Days"),
                    &("ground", "Ground Advantage", "2–5 Days"),
                ],
            );
            m.insert(
                "interactive".into(),
                json!({"type": "list_reply", "list_reply": {"id": id, "title": title, "description": desc}}),
            );
        }
        "button" => {
            m.insert("context".into(), reply_context(rng));
            let label = pick(
                rng,
                &[
                    "Unsubscribe",
                    "Yes, confirm",
                    "Track my order",
                    "Stop promotions",
                ],
            );
            m.insert("button".into(), json!({"payload": label, "text": label}));
        }
        "reaction" => {
            let mut r = Map::new();
            r.insert("message_id".into(), json!(wamid(rng)));
            // Without `emoji` the user removed their reaction.
            if rng.gen_bool(0.9) {
                r.insert(
                    "emoji".into(),
                    json!(pick(rng, &["👍", "❤️", "😂", "🙏", "😮"])),
                );
            }
            m.insert("reaction".into(), Value::Object(r));
        }
        "order" => {
            m.insert("order".into(), order(rng));
        }
        "unsupported" => {
            m.insert(
                "errors".into(),
                json!([{
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }]),
            );
            m.insert("unsupported".into(), json!({"type": "edit"}));
        }
        _ => {}
    }
}

fn incoming(ctx: &SampleContext, rng: &mut dyn RngCore, v: &mut Map<String, Value>) {
    let kind = pick(rng, INCOMING_TYPES);
    let mut who = Who::random(rng);
    let mut m = Map::new();
    if kind == "system" {
        system(ctx, rng, &who, &mut m);
        // System messages come without `contacts`.
        v.insert("messages".into(), json!([m]));
        return;
    }
    if kind == "contacts" && who.person.username.is_some() && rng.gen_bool(0.5) {
        // The user shared their own number by tapping a REQUEST_CONTACT_INFO button.
        who.phone_shared = false;
        who.ids_into("from", &mut m);
        m.insert("id".into(), json!(wamid(rng)));
        m.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
        m.insert("type".into(), json!("contacts"));
        let wa = &who.person.wa_id;
        m.insert(
            "contacts".into(),
            json!([{"origin": "contact_request", "phones": [{"phone": format!("+{wa}"), "wa_id": wa, "type": "MOBILE"}]}]),
        );
    } else {
        who.ids_into("from", &mut m);
        m.insert("id".into(), json!(wamid(rng)));
        m.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
        payload_into(kind, ctx, rng, &mut m);
    }
    v.insert("contacts".into(), json!([who.contact(true)]));
    v.insert("messages".into(), json!([m]));
}

fn system(ctx: &SampleContext, rng: &mut dyn RngCore, who: &Who, m: &mut Map<String, Value>) {
    let country = who.person.user_id.split('.').next().unwrap_or("US");
    let new_user_id = format!("{country}.{}", digits(rng, 20));
    let new_parent = who
        .parent_user_id
        .as_ref()
        .map(|_| format!("{country}.ENT.{}", digits(rng, 20)));
    let mut s = Map::new();
    if who.phone_shared {
        let old = &who.person.wa_id;
        let new = format!(
            "{}{}",
            &old[..old.len().min(4)],
            digits(rng, old.len().saturating_sub(4).max(1))
        );
        m.insert("from".into(), json!(old));
        s.insert(
            "body".into(),
            json!(format!(
                "User {} changed from {old} to {new}",
                who.person.name
            )),
        );
        s.insert("wa_id".into(), json!(new));
    } else {
        s.insert(
            "body".into(),
            json!(format!(
                "User {} changed from {} to {new_user_id}",
                who.person.name, who.person.user_id
            )),
        );
    }
    m.insert("from_user_id".into(), json!(who.person.user_id));
    m.insert("id".into(), json!(wamid(rng)));
    m.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
    m.insert("type".into(), json!("system"));
    s.insert("user_id".into(), json!(new_user_id));
    if let Some(p) = &new_parent {
        s.insert("parent_user_id".into(), json!(p));
    }
    s.insert("previous_user_id".into(), json!(who.person.user_id));
    if let Some(p) = &who.parent_user_id {
        s.insert("previous_parent_user_id".into(), json!(p));
    }
    s.insert(
        "type".into(),
        json!(if who.phone_shared {
            "user_changed_number"
        } else {
            "user_changed_user_id"
        }),
    );
    m.insert("system".into(), Value::Object(s));
}

fn status(ctx: &SampleContext, rng: &mut dyn RngCore, v: &mut Map<String, Value>) {
    let state = pick(
        rng,
        &[
            "sent",
            "sent",
            "delivered",
            "delivered",
            "read",
            "read",
            "failed",
            "played",
        ],
    );
    let who = Who::random(rng);
    let to_bsuid = rng.gen_bool(0.25);
    let failed = state == "failed";
    let mut s = Map::new();
    s.insert("id".into(), json!(wamid(rng)));
    s.insert("status".into(), json!(state));
    s.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
    // The phone number is there when sent to it, or when Meta may share it.
    if !to_bsuid || who.phone_shared {
        s.insert("recipient_id".into(), json!(who.person.wa_id));
    }
    // Failed sends to a phone number carry no BSUID.
    if !failed || to_bsuid {
        s.insert("recipient_user_id".into(), json!(who.person.user_id));
        if let Some(p) = &who.parent_user_id {
            s.insert("recipient_parent_user_id".into(), json!(p));
        }
    }
    if rng.gen_bool(0.1) {
        s.insert(
            "biz_opaque_callback_data".into(),
            json!(format!("order-{}", digits(rng, 6))),
        );
    }
    if failed {
        let (code, title, details) = *pick(
            rng,
            &[
                &(131049, "This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
                &(131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
                &(131026, "Message undeliverable", "Message undeliverable"),
            ],
        );
        s.insert("errors".into(), json!([error(code, title, details)]));
    } else if state == "sent" || rng.gen_bool(0.5) {
        let (kind, category) = *pick(
            rng,
            &[
                &("regular", "marketing"),
                &("regular", "utility"),
                &("regular", "authentication"),
                &("free_customer_service", "service"),
                &("free_customer_service", "utility"),
                &("free_entry_point", "referral_conversion"),
            ],
        );
        if kind == "free_entry_point" {
            // Since v24.0 `conversation` only comes for free entry point conversations.
            let mut c = Map::new();
            c.insert(
                "id".into(),
                json!(format!("{}{}", alnum(rng, 16), alnum(rng, 16))),
            );
            if state == "sent" {
                c.insert(
                    "expiration_timestamp".into(),
                    json!((ctx.now + 72 * 3600).to_string()),
                );
            }
            c.insert("origin".into(), json!({"type": "referral_conversion"}));
            s.insert("conversation".into(), Value::Object(c));
        }
        s.insert(
            "pricing".into(),
            json!({"billable": kind == "regular", "pricing_model": "PMP", "type": kind, "category": category}),
        );
    }
    if !failed {
        v.insert("contacts".into(), json!([who.contact(state != "sent")]));
    }
    v.insert("statuses".into(), json!([s]));
}
