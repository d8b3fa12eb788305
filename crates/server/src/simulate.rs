//! `wabahook simulate`: a customer writes to a business number on a running server (through
//! the admin API's `simulate/inbound`), one message at a time or as a scripted conversation
//! whose expectations on what the bot sends make it a CI check.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::{json, Value};
use wabahook_simulator::inbound::CustomerIn;
use wabahook_simulator::script::{self, ReplyTo, SentMessage, Step};

use crate::client::{demo_world, Admin, Target};

#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    what: What,
}

/// Who writes in, to which number, on which server.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// The business phone number the customer writes to [default: the demo world's].
    #[arg(long)]
    phone_number_id: Option<String>,
    /// The customer's phone number (wa_id), with country code.
    #[arg(long, default_value = "16505551234")]
    from: String,
    /// The customer's profile name [default: what the business knows, else made up].
    #[arg(long)]
    name: Option<String>,
    /// The customer's username, if they use one.
    #[arg(long)]
    username: Option<String>,
    /// The customer's business-scoped user id [default: derived from the number].
    #[arg(long)]
    user_id: Option<String>,
    /// Leave the customer's phone number out of the webhook, as Meta does for a username user
    /// it may not reveal (needs --username); the bot then knows them by their user id.
    #[arg(long, requires = "username")]
    hide_phone: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args, Clone)]
pub struct MediaArgs {
    /// The file to send [default: a small placeholder of the type].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Its MIME type [default: guessed from the file name].
    #[arg(long)]
    mime: Option<String>,
    /// Caption (images, videos, documents).
    #[arg(long)]
    caption: Option<String>,
    /// Audio: a voice note.
    #[arg(long)]
    voice: bool,
    /// Sticker: animated.
    #[arg(long)]
    animated: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Subcommand)]
enum What {
    /// A text message.
    Text {
        body: String,
        /// Reply to this message (its wamid).
        #[arg(long)]
        reply_to: Option<String>,
        /// The customer came from a Click to WhatsApp ad (adds a `referral`).
        #[arg(long)]
        from_ad: bool,
        #[command(flatten)]
        common: Common,
    },
    /// A text message replying to one of the bot's messages.
    Reply {
        /// The message replied to (wamid).
        #[arg(long)]
        to: String,
        body: String,
        #[command(flatten)]
        common: Common,
    },
    /// An image (a JPEG or PNG file).
    Image(MediaArgs),
    /// An audio file or, with --voice, a voice note.
    Audio(MediaArgs),
    Video(MediaArgs),
    Document(MediaArgs),
    /// A WebP sticker.
    Sticker(MediaArgs),
    /// A shared location.
    Location {
        #[arg(long, allow_hyphen_values = true)]
        latitude: f64,
        #[arg(long, allow_hyphen_values = true)]
        longitude: f64,
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A shared contact card.
    Contact {
        /// The contact's full name.
        #[arg(long)]
        contact_name: String,
        /// The contact's phone number.
        #[arg(long)]
        contact_phone: String,
        #[command(flatten)]
        common: Common,
    },
    /// A reaction to a message; without an emoji, the reaction is removed.
    Reaction {
        /// The message reacted to (wamid).
        #[arg(long)]
        to: String,
        emoji: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A tap on a template's quick-reply button.
    Button {
        /// The template message (wamid).
        #[arg(long)]
        to: String,
        #[arg(long)]
        payload: String,
        /// The button's label [default: the payload].
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A tap on a reply button of an interactive message.
    ButtonReply {
        #[arg(long)]
        to: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        title: String,
        #[command(flatten)]
        common: Common,
    },
    /// A choice from an interactive list.
    ListReply {
        #[arg(long)]
        to: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A completed WhatsApp Flow (`nfm_reply`).
    Flow {
        #[arg(long)]
        to: String,
        /// The Flow's response, a JSON object (with its flow_token).
        #[arg(long)]
        response: String,
        #[command(flatten)]
        common: Common,
    },
    /// An order from a catalog message.
    Order {
        #[arg(long)]
        catalog_id: String,
        /// An item as SKU,QUANTITY,PRICE,CURRENCY (repeat for more).
        #[arg(long = "item", required = true)]
        items: Vec<String>,
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// The customer changed their phone number (a `system` message).
    System {
        /// The new phone number.
        #[arg(long)]
        new_wa_id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Any inbound message: the JSON body of POST /admin/v1/simulate/inbound (without
    /// phone_number_id and from, which come from the flags unless given).
    Json {
        body: String,
        #[command(flatten)]
        common: Common,
    },
    /// Play a scripted conversation (TOML or JSON) and check what the bot answers; exits 1
    /// when an expectation is not met.
    Script {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let (common, kind, payload, context, referral) = match a.what {
        What::Script { file, common } => return play(&file, &common).await,
        What::Text {
            body,
            reply_to,
            from_ad,
            common,
        } => (
            common,
            "text",
            Some(json!({ "body": body })),
            reply_to,
            from_ad.then(|| json!({})),
        ),
        What::Reply { to, body, common } => (
            common,
            "text",
            Some(json!({ "body": body })),
            Some(to),
            None,
        ),
        What::Image(m) => media("image", m)?,
        What::Audio(m) => media("audio", m)?,
        What::Video(m) => media("video", m)?,
        What::Document(m) => media("document", m)?,
        What::Sticker(m) => media("sticker", m)?,
        What::Location {
            latitude,
            longitude,
            place,
            address,
            common,
        } => {
            let mut l = json!({ "latitude": latitude, "longitude": longitude });
            if let Some(p) = place {
                l["name"] = json!(p);
            }
            if let Some(ad) = address {
                l["address"] = json!(ad);
            }
            (common, "location", Some(l), None, None)
        }
        What::Contact {
            contact_name,
            contact_phone,
            common,
        } => {
            let digits: String = contact_phone.chars().filter(char::is_ascii_digit).collect();
            let first = contact_name.split(' ').next().unwrap_or(&contact_name);
            let card = json!([{
                "name": {"formatted_name": contact_name, "first_name": first},
                "phones": [{"phone": contact_phone, "wa_id": digits, "type": "MOBILE"}],
            }]);
            (common, "contacts", Some(card), None, None)
        }
        What::Reaction { to, emoji, common } => (
            common,
            "reaction",
            Some(json!({ "message_id": to, "emoji": emoji.unwrap_or_default() })),
            None,
            None,
        ),
        What::Button {
            to,
            payload,
            text,
            common,
        } => {
            let mut b = json!({ "payload": payload });
            if let Some(t) = text {
                b["text"] = json!(t);
            }
            (common, "button", Some(b), Some(to), None)
        }
        What::ButtonReply {
            to,
            id,
            title,
            common,
        } => (
            common,
            "interactive",
            Some(json!({"type": "button_reply", "button_reply": {"id": id, "title": title}})),
            Some(to),
            None,
        ),
        What::ListReply {
            to,
            id,
            title,
            description,
            common,
        } => {
            let mut r = json!({"id": id, "title": title});
            if let Some(d) = description {
                r["description"] = json!(d);
            }
            (
                common,
                "interactive",
                Some(json!({"type": "list_reply", "list_reply": r})),
                Some(to),
                None,
            )
        }
        What::Flow {
            to,
            response,
            common,
        } => {
            let r: Value = serde_json::from_str(&response).context("--response is not JSON")?;
            (
                common,
                "interactive",
                Some(json!({"type": "nfm_reply", "nfm_reply": {"response_json": r}})),
                Some(to),
                None,
            )
        }
        What::Order {
            catalog_id,
            items,
            text,
            common,
        } => {
            let items = items
                .iter()
                .map(|i| order_item(i))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut o = json!({"catalog_id": catalog_id, "product_items": items});
            if let Some(t) = text {
                o["text"] = json!(t);
            }
            (common, "order", Some(o), None, None)
        }
        What::System { new_wa_id, common } => (
            common,
            "system",
            Some(json!({ "new_wa_id": new_wa_id })),
            None,
            None,
        ),
        What::Json { body, common } => {
            let mut v: Value = serde_json::from_str(&body).context("the body is not JSON")?;
            if !v.is_object() {
                bail!("the body must be a JSON object");
            }
            let admin = Admin::new(&common.target)?;
            if v.get("phone_number_id").is_none() {
                v["phone_number_id"] = json!(phone_number_id(&common, None)?);
            }
            if v.get("from").is_none() {
                v["from"] = customer(&common);
            }
            return send(&admin, &v).await.map(|_| ());
        }
    };
    let admin = Admin::new(&common.target)?;
    let mut body = json!({
        "phone_number_id": phone_number_id(&common, None)?,
        "from": customer(&common),
        "type": kind,
    });
    if let Some(p) = payload {
        body[kind] = p;
    }
    if let Some(id) = context {
        body["context"] = json!({ "message_id": id });
    }
    if let Some(r) = referral {
        body["referral"] = r;
    }
    send(&admin, &body).await.map(|_| ())
}

type OneShot = (
    Common,
    &'static str,
    Option<Value>,
    Option<String>,
    Option<Value>,
);

fn media(kind: &'static str, m: MediaArgs) -> anyhow::Result<OneShot> {
    let mut p = serde_json::Map::new();
    if let Some(path) = &m.file {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        p.insert(
            "data_base64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
        );
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mime = m
            .mime
            .clone()
            .or_else(|| script::mime_of(name).map(str::to_owned));
        match mime {
            Some(t) => {
                p.insert("mime_type".into(), json!(t));
            }
            None if kind != "document" => {
                bail!("cannot tell the MIME type of {name:?}: give --mime")
            }
            None => {}
        }
        if kind == "document" {
            p.insert("filename".into(), json!(name));
        }
    } else if let Some(t) = &m.mime {
        p.insert("mime_type".into(), json!(t));
    }
    if let Some(c) = m.caption {
        p.insert("caption".into(), json!(c));
    }
    if m.voice {
        p.insert("voice".into(), json!(true));
    }
    if m.animated {
        p.insert("animated".into(), json!(true));
    }
    Ok((m.common, kind, Some(Value::Object(p)), None, None))
}

fn order_item(s: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [sku, qty, price, currency] = parts.as_slice() else {
        bail!("--item {s:?} is not SKU,QUANTITY,PRICE,CURRENCY");
    };
    let qty: i64 = qty
        .parse()
        .with_context(|| format!("--item {s:?}: the quantity is not a number"))?;
    let price: Value = serde_json::from_str(price)
        .ok()
        .filter(Value::is_number)
        .with_context(|| format!("--item {s:?}: the price is not a number"))?;
    Ok(json!({
        "product_retailer_id": sku,
        "quantity": qty,
        "item_price": price,
        "currency": currency,
    }))
}

fn customer(c: &Common) -> Value {
    json!(CustomerIn {
        wa_id: c.from.clone(),
        name: c.name.clone(),
        username: c.username.clone(),
        user_id: c.user_id.clone(),
        share_phone: c.hide_phone.then_some(false),
    })
}

fn phone_number_id(c: &Common, from_script: Option<&str>) -> anyhow::Result<String> {
    c.phone_number_id
        .clone()
        .or_else(|| from_script.map(str::to_owned))
        .or_else(|| demo_world(&c.target.data_dir).map(|d| d.phone_number_id))
        .with_context(|| {
            format!(
                "--phone-number-id is required (no demo world found in {})",
                c.target.data_dir.display()
            )
        })
}

/// Sends one inbound message; prints its id on stdout (for `$(…)`) and its event on stderr.
async fn send(admin: &Admin, body: &Value) -> anyhow::Result<String> {
    let r = admin.post("simulate/inbound", body).await?;
    let id = r["message_id"].as_str().unwrap_or_default().to_owned();
    println!("{id}");
    eprintln!("event {} accepted", r["event_id"].as_str().unwrap_or("?"));
    Ok(id)
}

// ---- scripts -------------------------------------------------------------------------------

/// How often the conversation is read while an expectation waits.
const POLL: Duration = Duration::from_millis(100);

/// Plays `file` against the server; fails on the first expectation the bot does not meet.
async fn play(file: &std::path::Path, common: &Common) -> anyhow::Result<()> {
    let s = script::load(file)?;
    let admin = Admin::new(&common.target)?;
    let phone = phone_number_id(common, s.phone_number_id.as_deref())?;
    let from = json!(s.customer);
    let wa_id = s.customer.wa_id.trim_start_matches('+').to_owned();
    // What the bot sent before the script started cannot meet its expectations.
    let mut seen: HashSet<String> = bot_messages(&admin, &phone, &wa_id)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut last_bot: Option<String> = None;
    let total = s.steps.len();
    for (i, step) in s.steps.iter().enumerate() {
        let n = i + 1;
        match step {
            Step::Wait { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            Step::Send(turn) => {
                let context = match &turn.reply_to {
                    None => None,
                    Some(ReplyTo::Id(id)) => Some(id.clone()),
                    Some(ReplyTo::Label(l)) => Some(
                        labels
                            .get(l)
                            .cloned()
                            .with_context(|| format!("step {n}: no message saved as {l:?}"))?,
                    ),
                    Some(ReplyTo::Last) => match &last_bot {
                        Some(id) => Some(id.clone()),
                        None => Some(
                            bot_messages(&admin, &phone, &wa_id)
                                .await?
                                .pop()
                                .map(|m| m.id)
                                .with_context(|| {
                                    format!("step {n}: a reply to the bot's last message, but the bot has sent nothing")
                                })?,
                        ),
                    },
                };
                let body = turn.request(&phone, &from, context.as_deref());
                let r = admin
                    .post("simulate/inbound", &body)
                    .await
                    .with_context(|| format!("step {n}: the customer's {} message", turn.kind))?;
                let id = r["message_id"].as_str().unwrap_or_default().to_owned();
                eprintln!("step {n}/{total}: customer sent {} {id}", turn.kind);
                if let Some(l) = &turn.save_as {
                    labels.insert(l.clone(), id);
                }
            }
            Step::Expect(e) => {
                let within = e.within_ms.unwrap_or(script::DEFAULT_TIMEOUT_MS);
                let deadline = tokio::time::Instant::now() + Duration::from_millis(within);
                loop {
                    let sent = bot_messages(&admin, &phone, &wa_id).await?;
                    if let Some(m) = sent.iter().find(|m| !seen.contains(&m.id) && e.matches(m)) {
                        eprintln!("step {n}/{total}: bot sent {} {}", m.kind, m.id);
                        seen.insert(m.id.clone());
                        if let Some(l) = &e.save_as {
                            labels.insert(l.clone(), m.id.clone());
                        }
                        last_bot = Some(m.id.clone());
                        break;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        let new: Vec<String> = sent
                            .iter()
                            .filter(|m| !seen.contains(&m.id))
                            .map(|m| {
                                format!(
                                    "{} {:?}",
                                    m.kind,
                                    wabahook_receiver::value::truncate(
                                        &script::visible_text(m),
                                        80
                                    )
                                )
                            })
                            .collect();
                        let got = if new.is_empty() {
                            "nothing new".to_owned()
                        } else {
                            new.join("; ")
                        };
                        bail!(
                            "step {n}: expected the bot to send {}; it sent {got}",
                            e.describe(within)
                        );
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
    println!("script passed: {total} steps");
    Ok(())
}

/// What the bot has sent to `wa_id` from this number, oldest first (the last thousand).
async fn bot_messages(admin: &Admin, phone: &str, wa_id: &str) -> anyhow::Result<Vec<SentMessage>> {
    let v = admin
        .get(&format!(
            "conversations?phone_number_id={phone}&wa_id={wa_id}&limit=1000"
        ))
        .await?;
    let list = v["data"][0]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(list
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .map(|m| SentMessage {
            id: m["id"].as_str().unwrap_or_default().to_owned(),
            kind: m["type"].as_str().unwrap_or_default().to_owned(),
            payload: m["payload"].clone(),
        })
        .collect())
}
