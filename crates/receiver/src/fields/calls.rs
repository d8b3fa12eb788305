//! Typed value of `calls` (Calling API): call connect and terminate events with their SDP
//! session, business-initiated call statuses, and the 2026 business-scoped user id fields.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::fields::common::{Contact, ErrorInfo, Metadata};
use crate::fields::phone_number::pretty_phone;
use crate::value::{truncate, FieldType};
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `calls[].event`.
    pub enum CallEvent { Connect = "connect", Terminate = "terminate" }
}

crate::open_enum! {
    /// `calls[].direction`.
    pub enum CallDirection {
        BusinessInitiated = "BUSINESS_INITIATED",
        UserInitiated = "USER_INITIATED",
    }
}

crate::open_enum! {
    /// `calls[].status` of a terminate event.
    pub enum CallOutcome { Completed = "COMPLETED", Failed = "FAILED" }
}

crate::open_enum! {
    /// `statuses[].status` of a business-initiated call.
    pub enum CallStatusKind {
        Ringing = "RINGING",
        Accepted = "ACCEPTED",
        Rejected = "REJECTED",
    }
}

crate::open_enum! {
    /// `session.sdp_type`.
    pub enum SdpType { Offer = "offer", Answer = "answer" }
}

/// One value or a list of them: Meta's call pages show the terminate `status` both as
/// `"COMPLETED"` and as `["Failed", "Completed"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// The value of `calls`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallsValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    pub contacts: Option<Vec<Contact>>,
    pub calls: Option<Vec<Call>>,
    pub statuses: Option<Vec<CallStatus>>,
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `calls[]` item: a connect or terminate event.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Call {
    /// `wacid.…`
    pub id: Option<String>,
    pub to: Option<NumericString>,
    pub to_user_id: Option<String>,
    pub to_parent_user_id: Option<String>,
    pub from: Option<NumericString>,
    pub from_user_id: Option<String>,
    pub from_parent_user_id: Option<String>,
    pub event: Option<CallEvent>,
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    pub direction: Option<CallDirection>,
    pub session: Option<CallSession>,
    pub connection: Option<CallConnection>,
    /// The string the business passed when connecting or accepting the call.
    pub biz_opaque_callback_data: Option<String>,
    pub status: Option<OneOrMany<CallOutcome>>,
    /// Unix seconds.
    pub start_time: Option<NumericString>,
    /// Unix seconds.
    pub end_time: Option<NumericString>,
    /// Seconds.
    pub duration: Option<i64>,
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `calls[].session`: the SDP offer or answer.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallSession {
    pub sdp_type: Option<SdpType>,
    pub sdp: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `calls[].connection`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallConnection {
    pub webrtc: Option<WebRtc>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `calls[].connection.webrtc`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebRtc {
    pub sdp: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `statuses[]` item of a business-initiated call.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallStatus {
    pub id: Option<String>,
    /// `call`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<CallStatusKind>,
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    /// Omitted when only the business-scoped user id is known.
    pub recipient_id: Option<NumericString>,
    pub recipient_user_id: Option<String>,
    pub recipient_parent_user_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn party(phone: Option<&str>, user_id: Option<&str>) -> Option<String> {
    phone
        .map(pretty_phone)
        .or_else(|| user_id.map(str::to_owned))
}

impl Call {
    fn summary(&self) -> String {
        let mut s = String::from("call");
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        if let Some(d) = &self.direction {
            s.push_str(&format!(" {d}"));
        }
        let from = party(self.from.as_deref(), self.from_user_id.as_deref());
        let to = party(self.to.as_deref(), self.to_user_id.as_deref());
        if from.is_some() || to.is_some() {
            s.push_str(&format!(
                " {} → {}",
                from.as_deref().unwrap_or("?"),
                to.as_deref().unwrap_or("?")
            ));
        }
        match &self.status {
            Some(OneOrMany::One(o)) => s.push_str(&format!(" {o}")),
            Some(OneOrMany::Many(os)) => {
                let all: Vec<&str> = os.iter().map(CallOutcome::as_str).collect();
                s.push_str(&format!(" {}", all.join("/")));
            }
            None => {}
        }
        if let Some(d) = self.duration {
            s.push_str(&format!(" {d}s"));
        }
        if let Some(e) = self.errors.as_deref().and_then(<[ErrorInfo]>::first) {
            s.push_str(&format!(": {}", truncate(&e.short(), 80)));
        }
        s
    }
}

impl FieldType for CallsValue {
    const FIELD: &'static str = "calls";
    fn summary(&self) -> String {
        if let Some(c) = self.calls.as_deref().and_then(<[Call]>::first) {
            return c.summary();
        }
        if let Some(st) = self.statuses.as_deref().and_then(<[CallStatus]>::first) {
            let mut s = String::from("call status");
            if let Some(k) = &st.status {
                s.push_str(&format!(" {k}"));
            }
            if let Some(to) = party(st.recipient_id.as_deref(), st.recipient_user_id.as_deref()) {
                s.push_str(&format!(" to {to}"));
            }
            return s;
        }
        if let Some(e) = self.errors.as_deref().and_then(<[ErrorInfo]>::first) {
            return format!("calls error {}", truncate(&e.short(), 80));
        }
        "calls".to_owned()
    }
}
