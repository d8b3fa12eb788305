//! Typed values of the WABA-level management fields: `account_alerts`, `account_review_update`,
//! `account_update` (with every documented per-event sub-object) and
//! `business_capability_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::fields::phone_number::DailyLimit;
use crate::value::{truncate, FieldType};
use crate::{Extra, NumericString};

// ---- account_alerts ------------------------------------------------------------------------

crate::open_enum! {
    /// `account_alerts.entity_type`.
    pub enum AlertEntityType {
        Business = "BUSINESS",
        PhoneNumber = "PHONE_NUMBER",
        CurrentStatusId = "CURRENT_STATUS_ID",
    }
}

crate::open_enum! {
    /// `alert_info.alert_severity`.
    pub enum AlertSeverity {
        Critical = "CRITICAL",
        Informational = "INFORMATIONAL",
        Warning = "WARNING",
    }
}

crate::open_enum! {
    /// `alert_info.alert_status`.
    pub enum AlertStatus { Active = "ACTIVE", None = "NONE" }
}

crate::open_enum! {
    /// `alert_info.alert_type`.
    pub enum AlertType {
        IncreasedCapabilitiesEligibilityDeferred = "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
        IncreasedCapabilitiesEligibilityFailed = "INCREASED_CAPABILITIES_ELIGIBILITY_FAILED",
        IncreasedCapabilitiesEligibilityNeedMoreInfo = "INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO",
        ObaApproved = "OBA_APPROVED",
        ObaRejected = "OBA_REJECTED",
        ProfilePictureLost = "PROFILE_PICTURE_LOST",
    }
}

/// The value of `account_alerts`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountAlertsValue {
    pub entity_type: Option<AlertEntityType>,
    /// A business portfolio id or a business phone number id, per `entity_type`.
    pub entity_id: Option<NumericString>,
    pub alert_info: Option<AlertInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_alerts.alert_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertInfo {
    pub alert_severity: Option<AlertSeverity>,
    pub alert_status: Option<AlertStatus>,
    pub alert_type: Option<AlertType>,
    pub alert_description: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for AccountAlertsValue {
    const FIELD: &'static str = "account_alerts";
    fn summary(&self) -> String {
        let mut parts = vec!["alert".to_owned()];
        if let Some(i) = &self.alert_info {
            parts.extend(i.alert_severity.as_ref().map(ToString::to_string));
            parts.extend(i.alert_type.as_ref().map(ToString::to_string));
        }
        if let Some(t) = &self.entity_type {
            parts.push(format!("on {t}"));
        }
        parts.extend(self.entity_id.as_deref().map(str::to_owned));
        parts.join(" ")
    }
}

// ---- account_review_update -----------------------------------------------------------------

crate::open_enum! {
    /// `account_review_update.decision`.
    pub enum ReviewDecision {
        Approved = "APPROVED",
        Rejected = "REJECTED",
        Pending = "PENDING",
        Deferred = "DEFERRED",
    }
}

/// The value of `account_review_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountReviewUpdateValue {
    pub decision: Option<ReviewDecision>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for AccountReviewUpdateValue {
    const FIELD: &'static str = "account_review_update";
    fn summary(&self) -> String {
        match &self.decision {
            Some(d) => format!("account review {d}"),
            None => "account review".to_owned(),
        }
    }
}

// ---- account_update ------------------------------------------------------------------------

crate::open_enum! {
    /// `account_update.event`.
    pub enum AccountEvent {
        AccountDeleted = "ACCOUNT_DELETED",
        AccountRestriction = "ACCOUNT_RESTRICTION",
        AccountViolation = "ACCOUNT_VIOLATION",
        AdAccountLinked = "AD_ACCOUNT_LINKED",
        AuthIntlPriceEligibilityUpdate = "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
        BusinessPrimaryLocationCountryUpdate = "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE",
        DisabledUpdate = "DISABLED_UPDATE",
        MmLiteTermsSigned = "MM_LITE_TERMS_SIGNED",
        PartnerAdded = "PARTNER_ADDED",
        PartnerAppInstalled = "PARTNER_APP_INSTALLED",
        PartnerAppUninstalled = "PARTNER_APP_UNINSTALLED",
        PartnerClientCertificationStatusUpdate = "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
        PartnerRemoved = "PARTNER_REMOVED",
        VolumeBasedPricingTierUpdate = "VOLUME_BASED_PRICING_TIER_UPDATE",
        AccountOffboarded = "ACCOUNT_OFFBOARDED",
        AccountReconnected = "ACCOUNT_RECONNECTED",
        /// Seen in older examples.
        VerifiedAccount = "VERIFIED_ACCOUNT",
    }
}

crate::open_enum! {
    /// `restriction_info[].restriction_type`.
    pub enum RestrictionType {
        AddPhoneNumberAction = "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
        BizInitiatedAndUserInitiatedCalling = "RESTRICTED_BIZ_INITIATED_AND_USER_INITIATED_CALLING",
        BizInitiatedMessaging = "RESTRICTED_BIZ_INITIATED_MESSAGING",
        BusinessInitiatedCalling = "RESTRICTED_BUSINESS_INITIATED_CALLING",
        CustomerInitiatedMessaging = "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
        DirectSendUtilityTemplates = "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
        UserInitiatedCalling = "RESTRICTED_USER_INITIATED_CALLING",
        UserInitiatedCallingCallButtonHidden = "RESTRICTED_USER_INITIATED_CALLING_CALL_BUTTON_HIDDEN",
        UtilityTemplates = "RESTRICTED_UTILITY_TEMPLATES",
    }
}

crate::open_enum! {
    /// `ban_info.waba_ban_state`.
    pub enum BanState {
        Disable = "DISABLE",
        Reinstate = "REINSTATE",
        ScheduleForDisable = "SCHEDULE_FOR_DISABLE",
    }
}

crate::open_enum! {
    /// `disconnection_info.reason`.
    pub enum DisconnectionReason {
        AccountDisconnected = "ACCOUNT_DISCONNECTED",
        BusinessDowngrade = "BUSINESS_DOWNGRADE",
        ChangeNumber = "CHANGE_NUMBER",
        CompanionInactivity = "COMPANION_INACTIVITY",
        PrimaryInactivity = "PRIMARY_INACTIVITY",
        UserReRegistered = "USER_RE_REGISTERED",
    }
}

crate::open_enum! {
    /// `disconnection_info.initiated_by`.
    pub enum InitiatedBy { System = "SYSTEM", User = "USER" }
}

crate::open_enum! {
    /// `partner_client_certification_info.status` (partner-led business verification).
    pub enum CertificationStatus {
        Approved = "APPROVED",
        Discarded = "DISCARDED",
        Failed = "FAILED",
        Pending = "PENDING",
        Revoked = "REVOKED",
    }
}

/// The value of `account_update`. Which sub-object is present depends on `event`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountUpdateValue {
    /// ISO 3166-1 alpha-2 code (`BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE`).
    pub country: Option<String>,
    pub event: Option<AccountEvent>,
    /// `AD_ACCOUNT_LINKED`, `MM_LITE_TERMS_SIGNED` and `PARTNER_*` events.
    pub waba_info: Option<WabaInfo>,
    /// `ACCOUNT_VIOLATION`.
    pub violation_info: Option<ViolationInfo>,
    /// `AUTH_INTL_PRICE_ELIGIBILITY_UPDATE`.
    pub auth_international_rate_eligibility: Option<AuthInternationalRateEligibility>,
    /// `DISABLED_UPDATE`.
    pub ban_info: Option<BanInfo>,
    /// `VOLUME_BASED_PRICING_TIER_UPDATE`.
    pub volume_tier_info: Option<VolumeTierInfo>,
    /// `PARTNER_REMOVED` when the business used both the WhatsApp Business app and Cloud API.
    pub disconnection_info: Option<DisconnectionInfo>,
    /// `PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE`.
    pub partner_client_certification_info: Option<PartnerClientCertificationInfo>,
    /// `ACCOUNT_RESTRICTION`.
    pub restriction_info: Option<Vec<RestrictionInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.waba_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WabaInfo {
    pub waba_id: Option<NumericString>,
    pub owner_business_id: Option<NumericString>,
    /// The ad account id (`AD_ACCOUNT_LINKED`).
    pub ad_account_linked: Option<NumericString>,
    pub partner_app_id: Option<NumericString>,
    pub solution_id: Option<NumericString>,
    pub solution_partner_business_ids: Option<Vec<NumericString>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.violation_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ViolationInfo {
    /// E.g. `ADULT`; Meta's violations page lists many values, kept as text.
    pub violation_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.auth_international_rate_eligibility`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuthInternationalRateEligibility {
    pub exception_countries: Option<Vec<ExceptionCountry>>,
    /// Unix seconds.
    pub start_time: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `auth_international_rate_eligibility.exception_countries[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExceptionCountry {
    pub country_code: Option<String>,
    /// Unix seconds.
    pub start_time: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.ban_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BanInfo {
    pub waba_ban_state: Option<BanState>,
    /// Human text, e.g. `April 17, 2025`.
    pub waba_ban_date: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.volume_tier_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VolumeTierInfo {
    /// Unix seconds.
    pub tier_update_time: Option<i64>,
    pub pricing_category: Option<String>,
    /// `min:max`, e.g. `25000001:50000000`.
    pub tier: Option<String>,
    /// `YYYY-MM`.
    pub effective_month: Option<String>,
    pub region: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.disconnection_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisconnectionInfo {
    pub reason: Option<DisconnectionReason>,
    pub initiated_by: Option<InitiatedBy>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `account_update.partner_client_certification_info`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PartnerClientCertificationInfo {
    pub client_business_id: Option<NumericString>,
    pub status: Option<CertificationStatus>,
    /// E.g. `NONE`, `LEGAL NAME NOT MATCHING` (Meta's values contain spaces).
    pub rejection_reasons: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `account_update.restriction_info[]` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RestrictionInfo {
    pub restriction_type: Option<RestrictionType>,
    /// Unix seconds.
    pub expiration: Option<i64>,
    /// Only when Meta has remediation steps to offer.
    pub remediation: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AccountUpdateValue {
    /// The most telling detail of the event's sub-object, for summaries.
    fn detail(&self) -> Option<String> {
        if let Some(r) = self.restriction_info.as_deref().filter(|r| !r.is_empty()) {
            let kinds: Vec<&str> = r
                .iter()
                .filter_map(|r| r.restriction_type.as_ref().map(|t| t.as_str()))
                .collect();
            return Some(kinds.join(", "));
        }
        if let Some(t) = self
            .violation_info
            .as_ref()
            .and_then(|v| v.violation_type.as_ref())
        {
            return Some(t.clone());
        }
        if let Some(s) = self
            .ban_info
            .as_ref()
            .and_then(|b| b.waba_ban_state.as_ref())
        {
            return Some(s.to_string());
        }
        if let Some(c) = self.partner_client_certification_info.as_ref() {
            return c.status.as_ref().map(ToString::to_string);
        }
        if let Some(d) = self.disconnection_info.as_ref() {
            let parts: Vec<String> = [
                d.reason.as_ref().map(ToString::to_string),
                d.initiated_by.as_ref().map(|i| format!("by {i}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Some(parts.join(" "));
        }
        if let Some(v) = self.volume_tier_info.as_ref() {
            let parts: Vec<&str> = [&v.pricing_category, &v.tier, &v.region, &v.effective_month]
                .into_iter()
                .filter_map(|p| p.as_deref())
                .collect();
            return Some(parts.join(" "));
        }
        if let Some(c) = &self.country {
            return Some(c.clone());
        }
        if let Some(a) = self.auth_international_rate_eligibility.as_ref() {
            return a.start_time.map(|t| format!("from {t}"));
        }
        if let Some(w) = self.waba_info.as_ref() {
            return w.waba_id.as_ref().map(|id| format!("WABA {id}"));
        }
        None
    }
}

impl FieldType for AccountUpdateValue {
    const FIELD: &'static str = "account_update";
    fn summary(&self) -> String {
        let mut s = String::from("account");
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        if let Some(d) = self.detail().filter(|d| !d.is_empty()) {
            s.push_str(&format!(" ({})", truncate(&d, 80)));
        }
        s
    }
}

// ---- business_capability_update ------------------------------------------------------------

/// The value of `business_capability_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BusinessCapabilityUpdateValue {
    /// Deprecated by Meta (February 2026); `-1` means unlimited.
    pub max_daily_conversation_per_phone: Option<i64>,
    pub max_daily_conversations_per_business: Option<DailyLimit>,
    pub max_phone_numbers_per_business: Option<i64>,
    pub max_phone_numbers_per_waba: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for BusinessCapabilityUpdateValue {
    const FIELD: &'static str = "business_capability_update";
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = &self.max_daily_conversations_per_business {
            parts.push(format!("messaging limit {}", daily_limit_text(l)));
        } else if let Some(n) = self.max_daily_conversation_per_phone {
            parts.push(format!("messaging limit {}", count_text(n)));
        }
        if let Some(n) = self.max_phone_numbers_per_waba {
            parts.push(format!("{n} numbers per WABA"));
        }
        if let Some(n) = self.max_phone_numbers_per_business {
            parts.push(format!("{n} numbers per business"));
        }
        if parts.is_empty() {
            "capabilities updated".to_owned()
        } else {
            format!("capabilities: {}", parts.join(", "))
        }
    }
}

fn count_text(n: i64) -> String {
    if n < 0 {
        "unlimited".to_owned()
    } else {
        n.to_string()
    }
}

fn daily_limit_text(l: &DailyLimit) -> String {
    match l {
        DailyLimit::Count(n) => count_text(*n),
        DailyLimit::Tier(t) => t.to_string(),
    }
}
