//! Typed values of the message template fields: `message_template_status_update`,
//! `message_template_quality_update`, `message_template_components_update` and
//! `template_category_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::{truncate, FieldType};
use crate::Extra;

crate::open_enum! {
    /// `message_template_status_update.event`.
    pub enum TemplateStatusEvent {
        Approved = "APPROVED",
        Archived = "ARCHIVED",
        Unarchived = "UNARCHIVED",
        Deleted = "DELETED",
        Disabled = "DISABLED",
        Flagged = "FLAGGED",
        InAppeal = "IN_APPEAL",
        LimitExceeded = "LIMIT_EXCEEDED",
        Locked = "LOCKED",
        Paused = "PAUSED",
        Pending = "PENDING",
        Reinstated = "REINSTATED",
        PendingDeletion = "PENDING_DELETION",
        Rejected = "REJECTED",
    }
}

crate::open_enum! {
    /// `message_template_status_update.reason`.
    pub enum TemplateRejectionReason {
        AbusiveContent = "ABUSIVE_CONTENT",
        CategoryNotAvailable = "CATEGORY_NOT_AVAILABLE",
        IncorrectCategory = "INCORRECT_CATEGORY",
        InvalidFormat = "INVALID_FORMAT",
        None = "NONE",
        Promotional = "PROMOTIONAL",
        Scam = "SCAM",
        TagContentMismatch = "TAG_CONTENT_MISMATCH",
    }
}

crate::open_enum! {
    /// A template category.
    pub enum TemplateCategory {
        Marketing = "MARKETING",
        Utility = "UTILITY",
        Authentication = "AUTHENTICATION",
    }
}

crate::open_enum! {
    /// `other_info.title` of a template pause, unpause or disable.
    pub enum PauseTitle {
        FirstPause = "FIRST_PAUSE",
        SecondPause = "SECOND_PAUSE",
        RateLimitingPause = "RATE_LIMITING_PAUSE",
        Unpause = "UNPAUSE",
        Disabled = "DISABLED",
    }
}

crate::open_enum! {
    /// A template quality score.
    pub enum QualityScore {
        Green = "GREEN",
        Yellow = "YELLOW",
        Red = "RED",
        Unknown = "UNKNOWN",
    }
}

crate::open_enum! {
    /// `message_template_buttons[].message_template_button_type`.
    pub enum TemplateButtonType {
        Catalog = "CATALOG",
        CopyCode = "COPY_CODE",
        Extension = "EXTENSION",
        Flow = "FLOW",
        Mpm = "MPM",
        OrderDetails = "ORDER_DETAILS",
        Otp = "OTP",
        PhoneNumber = "PHONE_NUMBER",
        Postback = "POSTBACK",
        Reminder = "REMINDER",
        SendLocation = "SEND_LOCATION",
        Spm = "SPM",
        QuickReply = "QUICK_REPLY",
        Url = "URL",
        VoiceCall = "VOICE_CALL",
    }
}

/// A time Meta documents as Unix seconds (integer) but shows in quotes in its syntax block;
/// both forms round-trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UnixTime {
    Seconds(i64),
    Text(String),
}

// ---- message_template_status_update --------------------------------------------------------

/// The value of `message_template_status_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateStatusUpdateValue {
    pub event: Option<TemplateStatusEvent>,
    pub message_template_id: Option<i64>,
    pub message_template_name: Option<String>,
    pub message_template_language: Option<String>,
    /// `Some(None)` is the explicit `null` Meta sends for templates scheduled for deletion.
    #[serde(
        default,
        with = "::serde_with::rust::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<Option<TemplateRejectionReason>>,
    pub message_template_category: Option<TemplateCategory>,
    /// Only when the template was disabled.
    pub disable_info: Option<DisableInfo>,
    /// Only when the template was locked or unlocked (paused, unpaused).
    pub other_info: Option<OtherInfo>,
    /// Only when rejected with `INVALID_FORMAT`.
    pub rejection_info: Option<RejectionInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `message_template_status_update.disable_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisableInfo {
    pub disable_date: Option<UnixTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `message_template_status_update.other_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OtherInfo {
    pub title: Option<PauseTitle>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `message_template_status_update.rejection_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RejectionInfo {
    pub reason: Option<String>,
    pub recommendation: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateStatusUpdateValue {
    const FIELD: &'static str = "message_template_status_update";
    fn summary(&self) -> String {
        let mut s = template_head(
            self.message_template_name.as_deref(),
            self.message_template_language.as_deref(),
            self.message_template_id,
        );
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        match &self.reason {
            Some(Some(TemplateRejectionReason::None)) | Some(None) | None => {}
            Some(Some(r)) => s.push_str(&format!(": {r}")),
        }
        if let Some(t) = self.other_info.as_ref().and_then(|o| o.title.as_ref()) {
            s.push_str(&format!(" ({t})"));
        }
        s
    }
}

// ---- message_template_quality_update -------------------------------------------------------

/// The value of `message_template_quality_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateQualityUpdateValue {
    pub previous_quality_score: Option<QualityScore>,
    pub new_quality_score: Option<QualityScore>,
    pub message_template_id: Option<i64>,
    pub message_template_name: Option<String>,
    pub message_template_language: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateQualityUpdateValue {
    const FIELD: &'static str = "message_template_quality_update";
    fn summary(&self) -> String {
        let mut s = template_head(
            self.message_template_name.as_deref(),
            self.message_template_language.as_deref(),
            self.message_template_id,
        );
        s.push_str(" quality");
        s.push_str(&transition(
            self.previous_quality_score.as_ref().map(|q| q.as_str()),
            self.new_quality_score.as_ref().map(|q| q.as_str()),
        ));
        s
    }
}

// ---- message_template_components_update ----------------------------------------------------

/// The value of `message_template_components_update`: the template's content after an edit.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateComponentsUpdateValue {
    pub message_template_id: Option<i64>,
    pub message_template_name: Option<String>,
    pub message_template_language: Option<String>,
    /// The text header, if the template has one.
    pub message_template_title: Option<String>,
    /// The body text.
    pub message_template_element: Option<String>,
    pub message_template_footer: Option<String>,
    /// Only URL and phone number buttons are listed.
    pub message_template_buttons: Option<Vec<TemplateButton>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `message_template_buttons[]` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateButton {
    pub message_template_button_type: Option<TemplateButtonType>,
    pub message_template_button_text: Option<String>,
    pub message_template_button_url: Option<String>,
    pub message_template_button_phone_number: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateComponentsUpdateValue {
    const FIELD: &'static str = "message_template_components_update";
    fn summary(&self) -> String {
        let mut s = template_head(
            self.message_template_name.as_deref(),
            self.message_template_language.as_deref(),
            self.message_template_id,
        );
        s.push_str(" edited");
        if let Some(b) = &self.message_template_element {
            s.push_str(&format!(": \"{}\"", truncate(b, 60)));
        }
        s
    }
}

// ---- template_category_update --------------------------------------------------------------

/// The value of `template_category_update`. An impending change carries `correct_category`
/// (the category to come) and `new_category` (the current one); a completed change carries
/// `previous_category` and `new_category`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateCategoryUpdateValue {
    pub message_template_id: Option<i64>,
    pub message_template_name: Option<String>,
    pub message_template_language: Option<String>,
    pub previous_category: Option<TemplateCategory>,
    pub new_category: Option<TemplateCategory>,
    pub correct_category: Option<TemplateCategory>,
    /// Unix seconds when an impending change takes effect.
    pub category_update_timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for TemplateCategoryUpdateValue {
    const FIELD: &'static str = "template_category_update";
    fn summary(&self) -> String {
        let mut s = template_head(
            self.message_template_name.as_deref(),
            self.message_template_language.as_deref(),
            self.message_template_id,
        );
        s.push_str(" category");
        let new = self.new_category.as_ref().map(|c| c.as_str());
        if let Some(correct) = &self.correct_category {
            // Impending: `new_category` is the current category.
            s.push_str(&format!(" {} will become {correct}", new.unwrap_or("?")));
            if let Some(t) = self.category_update_timestamp {
                s.push_str(&format!(" at {t}"));
            }
        } else {
            s.push_str(&transition(
                self.previous_category.as_ref().map(|c| c.as_str()),
                new,
            ));
        }
        s
    }
}

// ---- shared ----------------------------------------------------------------------------------

/// `template "order_confirmation" (en_US)`, falling back to the id when the name is missing.
fn template_head(name: Option<&str>, language: Option<&str>, id: Option<i64>) -> String {
    let mut s = String::from("template");
    match (name, id) {
        (Some(n), _) => s.push_str(&format!(" \"{}\"", truncate(n, 60))),
        (None, Some(id)) => s.push_str(&format!(" {id}")),
        (None, None) => {}
    }
    if let Some(l) = language {
        s.push_str(&format!(" ({l})"));
    }
    s
}

/// ` GREEN → YELLOW`, ` → YELLOW` or ` GREEN →`.
fn transition(from: Option<&str>, to: Option<&str>) -> String {
    match (from, to) {
        (None, None) => String::new(),
        (Some(f), Some(t)) => format!(" {f} → {t}"),
        (None, Some(t)) => format!(" → {t}"),
        (Some(f), None) => format!(" {f} →"),
    }
}
