//! What Meta says about a message after accepting it: the planned statuses (`sent`, `delivered`,
//! `read`, `played` for voice messages, or `failed`) with the moment each happens, and the
//! `messages` change value each one becomes.
//!
//! The plan is made once, at send time, and every status is stored then as an event dated when
//! it happens: a restart loses none, and the engine sends each when it is due. Quirks (Meta's
//! duplicates, reorderings, missing `delivered`) transform the plan before it is stored.

use serde::Serialize;

use crate::config::SimulatorConfig;

/// One status of an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Sent,
    Delivered,
    Read,
    /// A voice message was played for the first time.
    Played,
    Failed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sent => "sent",
            Stage::Delivered => "delivered",
            Stage::Read => "read",
            Stage::Played => "played",
            Stage::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "sent" => Stage::Sent,
            "delivered" => Stage::Delivered,
            "read" => Stage::Read,
            "played" => Stage::Played,
            "failed" => Stage::Failed,
            _ => return None,
        })
    }
}

/// Meta's error object on a `failed` status (`statuses[].errors[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    pub code: i64,
    pub title: String,
    pub details: String,
}

impl StatusError {
    /// 131047: the customer service window is closed.
    pub fn reengagement() -> Self {
        StatusError {
            code: 131047,
            title: "Re-engagement message".into(),
            details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into(),
        }
    }

    /// 131026: the recipient cannot receive it (the default for failing recipients).
    pub fn undeliverable() -> Self {
        StatusError {
            code: 131026,
            title: "Message undeliverable".into(),
            details: "Message Undeliverable.".into(),
        }
    }

    /// 131009 on a reaction whose target message is unknown.
    pub fn bad_reaction_target() -> Self {
        StatusError {
            code: 131009,
            title: "Parameter value is not valid".into(),
            details:
                "Message failed to send because the reaction's target message could not be found."
                    .into(),
        }
    }

    /// The error for `code` as Meta titles it, for failing recipients configured by code.
    pub fn for_code(code: i64) -> Self {
        match code {
            131047 => Self::reengagement(),
            131049 => StatusError {
                code,
                title: "This message was not delivered to maintain healthy ecosystem engagement.".into(),
                details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.".into(),
            },
            131050 => StatusError {
                code,
                title: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business".into(),
                details: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business".into(),
            },
            131000 => StatusError {
                code,
                title: "Something went wrong".into(),
                details: "Message failed to send due to an unknown error.".into(),
            },
            130472 => StatusError {
                code,
                title: "User's number is part of an experiment".into(),
                details: "Failed to send message because this user's phone number is part of an experiment".into(),
            },
            131009 => Self::bad_reaction_target(),
            _ => Self::undeliverable(),
        }
    }
}

/// One status the simulated Meta will report, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStatus {
    pub stage: Stage,
    /// When it happens (Unix milliseconds): its webhook is due then.
    pub at_ms: i64,
    /// Set on `failed`.
    pub error: Option<StatusError>,
    /// Whether this status carries `pricing` (and, for apps on v23.0 or older, `conversation`):
    /// Meta puts them on `sent` and on the first of `delivered`/`read`. Worked out again by
    /// [`mark_billing`] after quirks change the plan.
    pub billing: bool,
}

impl PlannedStatus {
    pub fn new(stage: Stage, at_ms: i64) -> Self {
        PlannedStatus {
            stage,
            at_ms,
            error: None,
            billing: false,
        }
    }
}

/// What the plan depends on.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// When the send was accepted (Unix milliseconds).
    pub now_ms: i64,
    pub kind: PlanKind,
    /// Set when the message fails instead of being delivered.
    pub failure: Option<StatusError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanKind {
    /// Any message that is delivered and read.
    Regular,
    /// A voice message (`audio` with `voice: true`): also `played`.
    Voice,
    /// A reaction: Meta reports only `sent`.
    Reaction,
}

/// The statuses a message accepted at `input.now_ms` will get, in the order Meta sends them.
pub fn plan(input: &PlanInput, cfg: &SimulatorConfig) -> Vec<PlannedStatus> {
    let d = &cfg.status_delays;
    let at = |ms: u64| input.now_ms + ms as i64;
    let mut out = Vec::with_capacity(4);
    if let Some(err) = &input.failure {
        out.push(PlannedStatus {
            error: Some(err.clone()),
            ..PlannedStatus::new(Stage::Failed, at(d.failed_ms))
        });
        return out;
    }
    out.push(PlannedStatus::new(Stage::Sent, at(d.sent_ms)));
    if input.kind == PlanKind::Reaction {
        mark_billing(&mut out);
        return out;
    }
    out.push(PlannedStatus::new(Stage::Delivered, at(d.delivered_ms)));
    out.push(PlannedStatus::new(Stage::Read, at(d.read_ms)));
    if input.kind == PlanKind::Voice {
        out.push(PlannedStatus::new(Stage::Played, at(d.played_ms)));
    }
    mark_billing(&mut out);
    out
}

/// Puts `billing` on every `sent` and on the first `delivered` or `read` (Meta: "only included
/// with sent status, and one of either delivered or read status"); `failed` and `played` carry
/// neither.
pub fn mark_billing(plan: &mut [PlannedStatus]) {
    let mut second = false;
    for s in plan.iter_mut() {
        s.billing = match s.stage {
            Stage::Sent => true,
            Stage::Delivered | Stage::Read if !second => {
                second = true;
                true
            }
            _ => false,
        };
    }
}

/// Who the message went to, as the statuses name them.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Phone number (digits), when the message went to it or Meta may share it.
    pub wa_id: Option<String>,
    /// The business-scoped user id.
    pub user_id: String,
    pub name: String,
    pub username: Option<String>,
    /// Whether the business addressed the phone number (not only the BSUID).
    pub sent_to_phone: bool,
}

/// Pricing of one message, worked out at send time.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PricingInfo {
    pub billable: bool,
    pub pricing_model: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: String,
}

impl PricingInfo {
    /// A service message or utility template inside an open window is free; other templates
    /// are billed in their category.
    pub fn for_message(template_category: Option<&str>) -> Self {
        match template_category.map(str::to_ascii_lowercase) {
            None => PricingInfo {
                billable: false,
                pricing_model: "PMP",
                kind: "free_customer_service",
                category: "service".into(),
            },
            Some(c) => PricingInfo {
                billable: true,
                pricing_model: "PMP",
                kind: "regular",
                category: c,
            },
        }
    }
}

/// The business number a status is about.
pub struct Sender<'a> {
    pub display_phone_number: &'a str,
    pub phone_number_id: &'a str,
}

/// The message a status is about.
pub struct About<'a> {
    pub wamid: &'a str,
    pub recipient: &'a Recipient,
    pub biz_opaque_callback_data: Option<&'a str>,
    pub pricing: &'a PricingInfo,
    /// `conversation.id` (Meta: one per message before v24.0).
    pub conversation_id: &'a str,
    /// When the message was sent (Unix milliseconds): the conversation expires a day later.
    pub sent_ms: i64,
}

#[derive(Serialize)]
struct Value<'a> {
    messaging_product: &'static str,
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contacts: Option<[Contact<'a>; 1]>,
    statuses: [StatusOut<'a>; 1],
}

#[derive(Serialize)]
struct Metadata<'a> {
    display_phone_number: String,
    phone_number_id: &'a str,
}

#[derive(Serialize)]
struct Contact<'a> {
    profile: Profile<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<&'a str>,
    user_id: &'a str,
}

#[derive(Serialize)]
struct Profile<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    id: &'a str,
    status: &'static str,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_opaque_callback_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<ConversationOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<&'a PricingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<[ErrorOut<'a>; 1]>,
}

#[derive(Serialize)]
struct ConversationOut<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_timestamp: Option<String>,
    origin: Origin<'a>,
}

#[derive(Serialize)]
struct Origin<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    code: i64,
    title: &'a str,
    message: &'a str,
    error_data: ErrorData<'a>,
    href: &'static str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    details: &'a str,
}

/// Meta's link to its error codes page, on every status error.
const ERROR_HREF: &str = "/documentation/business-messaging/whatsapp/support/error-codes";

/// The `messages` change value of one status, in Meta's key order, with `conversation` on
/// billing statuses: the engine drops it for apps whose `messages` subscription is on v24.0 or
/// later (see `wabahook_delivery::shaping`), so that one event serves apps of every version.
pub fn status_value(sender: &Sender<'_>, about: &About<'_>, s: &PlannedStatus) -> String {
    let r = about.recipient;
    let failed = s.stage == Stage::Failed;
    let contacts = (!failed).then(|| {
        [Contact {
            profile: Profile {
                name: &r.name,
                // "Will be omitted entirely for sent status messages webhooks".
                username: if s.stage == Stage::Sent {
                    None
                } else {
                    r.username.as_deref()
                },
            },
            wa_id: r.wa_id.as_deref(),
            user_id: &r.user_id,
        }]
    });
    let conversation = s.billing.then(|| ConversationOut {
        id: about.conversation_id,
        expiration_timestamp: (s.stage == Stage::Sent)
            .then(|| ((about.sent_ms.div_euclid(1000)) + 24 * 3600).to_string()),
        origin: Origin {
            kind: &about.pricing.category,
        },
    });
    let errors = s.error.as_ref().map(|e| {
        [ErrorOut {
            code: e.code,
            title: &e.title,
            message: &e.title,
            error_data: ErrorData {
                details: &e.details,
            },
            href: ERROR_HREF,
        }]
    });
    let value = Value {
        messaging_product: "whatsapp",
        metadata: Metadata {
            display_phone_number: digits(sender.display_phone_number),
            phone_number_id: sender.phone_number_id,
        },
        contacts,
        statuses: [StatusOut {
            id: about.wamid,
            status: s.stage.as_str(),
            timestamp: s.at_ms.div_euclid(1000).to_string(),
            recipient_id: if r.sent_to_phone || !failed {
                r.wa_id.as_deref()
            } else {
                None
            },
            // "For failed status messages, will be omitted if the message was sent to the
            // user's phone number."
            recipient_user_id: if failed && r.sent_to_phone {
                None
            } else {
                Some(&r.user_id)
            },
            biz_opaque_callback_data: about.biz_opaque_callback_data,
            conversation,
            pricing: s.billing.then_some(about.pricing),
            errors,
        }],
    };
    // Plain structs of strings and numbers always serialize.
    let bytes = wabahook_receiver::meta_json::to_vec(&value).unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Only the digits of a phone number, as Meta writes `display_phone_number` in webhooks.
pub fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabahook_receiver::fields::messages::MessagesValue;

    fn input(kind: PlanKind) -> PlanInput {
        PlanInput {
            now_ms: 1_750_000_000_000,
            kind,
            failure: None,
        }
    }

    fn stages(p: &[PlannedStatus]) -> Vec<(Stage, bool)> {
        p.iter().map(|s| (s.stage, s.billing)).collect()
    }

    #[test]
    fn plans_follow_the_message_kind() {
        let cfg = SimulatorConfig::default();
        let p = plan(&input(PlanKind::Regular), &cfg);
        assert_eq!(
            stages(&p),
            [
                (Stage::Sent, true),
                (Stage::Delivered, true),
                (Stage::Read, false)
            ]
        );
        assert!(p.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        let p = plan(&input(PlanKind::Voice), &cfg);
        assert_eq!(
            p.last().map(|s| (s.stage, s.billing)),
            Some((Stage::Played, false))
        );
        assert_eq!(
            stages(&plan(&input(PlanKind::Reaction), &cfg)),
            [(Stage::Sent, true)]
        );
        let mut failing = input(PlanKind::Regular);
        failing.failure = Some(StatusError::reengagement());
        let p = plan(&failing, &cfg);
        assert_eq!(stages(&p), [(Stage::Failed, false)]);
    }

    #[test]
    fn billing_moves_to_read_when_delivered_is_gone() {
        let mut p = vec![
            PlannedStatus::new(Stage::Sent, 1),
            PlannedStatus::new(Stage::Read, 2),
        ];
        mark_billing(&mut p);
        assert_eq!(stages(&p), [(Stage::Sent, true), (Stage::Read, true)]);
    }

    fn recipient(sent_to_phone: bool) -> Recipient {
        Recipient {
            wa_id: Some("16505551234".into()),
            user_id: "US.13491208655302741918".into(),
            name: "Pablo M.".into(),
            username: Some("pablomorales".into()),
            sent_to_phone,
        }
    }

    #[test]
    fn values_have_metas_shape_and_parse_typed() {
        let r = recipient(true);
        let pricing = PricingInfo::for_message(None);
        let about = About {
            wamid: "wamid.X",
            recipient: &r,
            biz_opaque_callback_data: Some("order-1"),
            pricing: &pricing,
            conversation_id: "c1",
            sent_ms: 1_750_030_073_000,
        };
        let sender = Sender {
            display_phone_number: "+1 555-078-3881",
            phone_number_id: "106540352242922",
        };
        let mut sent = PlannedStatus::new(Stage::Sent, 1_750_030_073_000);
        sent.billing = true;
        let v = status_value(&sender, &about, &sent);
        assert_eq!(
            v,
            concat!(
                r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"#,
                r#""contacts":[{"profile":{"name":"Pablo M."},"wa_id":"16505551234","user_id":"US.13491208655302741918"}],"#,
                r#""statuses":[{"id":"wamid.X","status":"sent","timestamp":"1750030073","recipient_id":"16505551234","#,
                r#""recipient_user_id":"US.13491208655302741918","biz_opaque_callback_data":"order-1","#,
                r#""conversation":{"id":"c1","expiration_timestamp":"1750116473","origin":{"type":"service"}},"#,
                r#""pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}}]}"#
            )
        );
        let typed: MessagesValue = serde_json::from_str(&v).unwrap();
        assert_eq!(
            typed.statuses.unwrap()[0].recipient_user_id.as_deref(),
            Some("US.13491208655302741918")
        );

        let read = PlannedStatus::new(Stage::Read, 1_750_030_074_000);
        let v = status_value(&sender, &about, &read);
        assert!(
            v.contains(r#""username":"pablomorales""#) && !v.contains("pricing"),
            "{v}"
        );

        let failed = PlannedStatus {
            error: Some(StatusError::reengagement()),
            ..PlannedStatus::new(Stage::Failed, 1_750_030_074_000)
        };
        let v = status_value(&sender, &about, &failed);
        let typed: MessagesValue = serde_json::from_str(&v).unwrap();
        assert!(typed.contacts.is_none());
        let s = &typed.statuses.unwrap()[0];
        assert!(s.recipient_user_id.is_none());
        assert_eq!(s.errors.as_ref().unwrap()[0].code, Some(131047));
    }
}
