//! Typed values of `phone_number_name_update` (display name review outcomes) and
//! `phone_number_quality_update` (messaging limit and throughput changes of a business number).

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `phone_number_name_update.decision`.
    pub enum NameDecision {
        Approved = "APPROVED",
        Deferred = "DEFERRED",
        Pending = "PENDING",
        Rejected = "REJECTED",
    }
}

crate::open_enum! {
    /// `phone_number_name_update.rejection_reason` (sent as `null` when the name was accepted).
    pub enum NameRejectionReason {
        EmployeeIssue = "NAME_EMPLOYEE_ISSUE",
        EndclientNotRelated = "NAME_ENDCLIENT_NOTRELATED",
        FormatUnacceptable = "NAME_FORMAT_UNACCEPTABLE",
        IndividualIssue = "NAME_INDIVIDUAL_ISSUE",
        NotConsistent = "NAME_NOT_CONSISTENT",
        Unknown = "UNKNOWN",
    }
}

crate::open_enum! {
    /// `phone_number_quality_update.event`.
    pub enum QualityEvent {
        Onboarding = "ONBOARDING",
        ThroughputUpgrade = "THROUGHPUT_UPGRADE",
        /// Older payloads, sent with `current_limit`.
        Flagged = "FLAGGED",
    }
}

crate::open_enum! {
    /// A messaging limit or throughput tier (`current_limit`, `old_limit`,
    /// `max_daily_conversations_per_business`).
    pub enum MessagingLimit {
        Tier50 = "TIER_50",
        Tier250 = "TIER_250",
        Tier2K = "TIER_2K",
        Tier10K = "TIER_10K",
        Tier100K = "TIER_100K",
        TierNotSet = "TIER_NOT_SET",
        TierUnlimited = "TIER_UNLIMITED",
    }
}

/// `max_daily_conversations_per_business`: Meta documents it as a tier name (`TIER_2K`) but its
/// own example sends a count (`2000`); both must round-trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DailyLimit {
    Count(i64),
    Tier(MessagingLimit),
}

/// The value of `phone_number_name_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PhoneNumberNameUpdateValue {
    pub display_phone_number: Option<NumericString>,
    pub decision: Option<NameDecision>,
    pub requested_verified_name: Option<String>,
    /// `Some(None)` is the explicit `null` Meta sends for accepted names; `None` is absent.
    #[serde(
        default,
        with = "::serde_with::rust::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rejection_reason: Option<Option<NameRejectionReason>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PhoneNumberNameUpdateValue {
    const FIELD: &'static str = "phone_number_name_update";
    fn summary(&self) -> String {
        let mut s = String::from("display name");
        if let Some(n) = &self.requested_verified_name {
            s.push_str(&format!(" \"{}\"", crate::value::truncate(n, 60)));
        }
        if let Some(p) = &self.display_phone_number {
            s.push_str(&format!(" for {}", pretty_phone(p)));
        }
        if let Some(d) = &self.decision {
            s.push_str(&format!(" {d}"));
        }
        if let Some(Some(r)) = &self.rejection_reason {
            s.push_str(&format!(" ({r})"));
        }
        s
    }
}

/// The value of `phone_number_quality_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PhoneNumberQualityUpdateValue {
    pub display_phone_number: Option<NumericString>,
    pub event: Option<QualityEvent>,
    pub old_limit: Option<MessagingLimit>,
    pub current_limit: Option<MessagingLimit>,
    pub max_daily_conversations_per_business: Option<DailyLimit>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PhoneNumberQualityUpdateValue {
    const FIELD: &'static str = "phone_number_quality_update";
    fn summary(&self) -> String {
        let mut s = String::from("phone number");
        if let Some(p) = &self.display_phone_number {
            s.push_str(&format!(" {}", pretty_phone(p)));
        }
        s.push_str(" quality");
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        s
    }
}

/// `15550783881` → `+1 555-078-3881` (North American numbers), anything else → `+` and digits.
pub(crate) fn pretty_phone(digits: &str) -> String {
    let d = digits.trim_start_matches('+');
    if d.len() == 11 && d.starts_with('1') && d.bytes().all(|b| b.is_ascii_digit()) {
        format!("+1 {}-{}-{}", &d[1..4], &d[4..7], &d[7..])
    } else {
        format!("+{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::pretty_phone;

    #[test]
    fn phone_numbers_read_like_people_write_them() {
        assert_eq!(pretty_phone("15550783881"), "+1 555-078-3881");
        assert_eq!(pretty_phone("+15550783881"), "+1 555-078-3881");
        assert_eq!(pretty_phone("4915112345678"), "+4915112345678");
        assert_eq!(pretty_phone("1555"), "+1555");
    }
}
