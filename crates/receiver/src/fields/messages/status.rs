//! One outgoing-message status (`statuses[]`): sent, delivered, read, played or failed, with the
//! 2026 recipient ids (`recipient_user_id`) and the pricing/conversation objects.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::message::{errors_short, phone, short_id};
use crate::fields::common::ErrorInfo;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `statuses[].status`.
    pub enum MessageStatus {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        /// A voice message was played for the first time.
        Played = "played",
        Failed = "failed",
    }
}

/// The status of a message the business sent. Only its status, never its content.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Status {
    /// The `wamid` of the message sent.
    pub id: Option<String>,
    pub status: Option<MessageStatus>,
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    /// The user's phone number, or the group id; omitted when the message went to a BSUID whose
    /// phone number Meta may not share.
    pub recipient_id: Option<NumericString>,
    /// The user's business-scoped user id.
    pub recipient_user_id: Option<String>,
    pub recipient_parent_user_id: Option<String>,
    /// `group` for messages sent to a group.
    pub recipient_type: Option<String>,
    pub recipient_participant_id: Option<NumericString>,
    pub recipient_participant_user_id: Option<String>,
    pub recipient_participant_parent_user_id: Option<String>,
    pub recipient_identity_key_hash: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    pub conversation: Option<Conversation>,
    pub pricing: Option<Pricing>,
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `conversation.origin.type`: the conversation category.
    pub enum ConversationCategory {
        Authentication = "authentication",
        AuthenticationInternational = "authentication_international",
        Marketing = "marketing",
        MarketingLite = "marketing_lite",
        ReferralConversion = "referral_conversion",
        Service = "service",
        Utility = "utility",
    }
}

/// `statuses[].conversation`; omitted since v24.0 except for free entry point conversations.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Option<String>,
    /// Unix seconds; only on `sent`.
    pub expiration_timestamp: Option<NumericString>,
    pub origin: Option<ConversationOrigin>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `conversation.origin`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConversationOrigin {
    #[serde(rename = "type")]
    pub kind: Option<ConversationCategory>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `pricing.pricing_model`.
    pub enum PricingModel {
        /// Conversation-based pricing (before July 2025).
        Cbp = "CBP",
        /// Per-message pricing.
        Pmp = "PMP",
    }
}

crate::open_enum! {
    /// `pricing.type`.
    pub enum PricingType {
        Regular = "regular",
        FreeCustomerService = "free_customer_service",
        FreeEntryPoint = "free_entry_point",
    }
}

crate::open_enum! {
    /// `pricing.category`: the rate applied. Meta spells the international authentication
    /// rate with a hyphen here and with an underscore in `conversation.origin.type`.
    pub enum PricingCategory {
        Authentication = "authentication",
        AuthenticationInternational = "authentication-international",
        Marketing = "marketing",
        MarketingLite = "marketing_lite",
        ReferralConversion = "referral_conversion",
        Service = "service",
        Utility = "utility",
    }
}

/// `statuses[].pricing`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pricing {
    /// To be deprecated by Meta: use `type` and `category`.
    pub billable: Option<bool>,
    pub pricing_model: Option<PricingModel>,
    #[serde(rename = "type")]
    pub kind: Option<PricingType>,
    pub category: Option<PricingCategory>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Status {
    /// Whether sending or delivering failed (see `errors`).
    pub fn is_failed(&self) -> bool {
        self.status == Some(MessageStatus::Failed)
    }

    /// Whether the message went to a group.
    pub fn is_group(&self) -> bool {
        self.recipient_type.as_deref() == Some("group")
    }

    /// The user the message went to: phone number if shared, else business-scoped user id. For
    /// group messages, the participant.
    pub fn recipient(&self) -> Option<&str> {
        if self.is_group() {
            return self
                .recipient_participant_id
                .as_deref()
                .or(self.recipient_participant_user_id.as_deref());
        }
        self.recipient_id
            .as_deref()
            .or(self.recipient_user_id.as_deref())
    }

    /// The recipient's business-scoped user id (participant's for groups).
    pub fn recipient_bsuid(&self) -> Option<&str> {
        if self.is_group() {
            self.recipient_participant_user_id.as_deref()
        } else {
            self.recipient_user_id.as_deref()
        }
    }

    /// `timestamp` as Unix seconds.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp.as_ref()?.as_i64()
    }

    /// Whether Meta bills this message: from `pricing.type` when sent, else `pricing.billable`.
    pub fn is_billable(&self) -> Option<bool> {
        let p = self.pricing.as_ref()?;
        match &p.kind {
            Some(PricingType::Regular) => Some(true),
            Some(PricingType::FreeCustomerService | PricingType::FreeEntryPoint) => Some(false),
            _ => p.billable,
        }
    }

    /// One line for people naming the recipient `to`, e.g.
    /// `status delivered for wamid.HBgL… to +16505551234`.
    pub fn summary_to(&self, to: &str) -> String {
        let mut s = format!(
            "status {}",
            self.status.as_ref().map_or("(none)", MessageStatus::as_str)
        );
        if let Some(id) = &self.id {
            s = format!("{s} for {}", short_id(id));
        }
        if !to.is_empty() {
            s = format!("{s} to {to}");
        }
        if let Some(errs) = self.errors.as_deref().filter(|e| !e.is_empty()) {
            s = format!("{s}: {}", errors_short(errs));
        }
        s
    }

    /// One line for people, e.g. `status delivered for wamid.HBgL… to +16505551234`.
    pub fn summary(&self) -> String {
        let to = match (self.is_group(), &self.recipient_id) {
            (true, Some(g)) => format!("group {g}"),
            (false, Some(p)) => phone(p),
            _ => self.recipient().unwrap_or_default().to_owned(),
        };
        self.summary_to(&to)
    }
}
