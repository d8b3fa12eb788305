//! WABA webhook field names and the rules attached to them: which permission a receiver needs
//! and whether per-phone-number and per-WABA callback overrides apply.

use crate::permissions::Permission;

/// Every field named in Meta's WABA webhook reference. Unknown names are still accepted and
/// routed; this list only drives documentation, samples and the rules below.
pub const KNOWN_FIELDS: &[&str] = &[
    "account_alerts",
    "account_review_update",
    "account_settings_update",
    "account_update",
    "automatic_events",
    "business_capability_update",
    "business_status_update",
    "calls",
    "flows",
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
    "history",
    "message_echoes",
    "message_template_components_update",
    "message_template_quality_update",
    "message_template_status_update",
    "messages",
    "messaging_handovers",
    "partner_solutions",
    "payment_configuration_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "smb_app_state_sync",
    "smb_message_echoes",
    "template_category_update",
    "tracking_events",
    "user_preferences",
];

/// Fields for which Meta honours phone-number and WABA callback overrides. All others always
/// go to the app's own callback URL.
pub const OVERRIDE_CAPABLE_FIELDS: &[&str] = &[
    "messages",
    "message_echoes",
    "calls",
    "consumer_profile",
    "messaging_handovers",
    "standby",
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
    "smb_message_echoes",
    "smb_app_state_sync",
    "history",
    "account_settings_update",
];

/// A webhook field name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field<'a>(pub &'a str);

impl Field<'_> {
    pub fn is_known(&self) -> bool {
        KNOWN_FIELDS.contains(&self.0)
    }

    /// Whether callback overrides (phone number, then WABA) apply to this field.
    pub fn supports_override(&self) -> bool {
        OVERRIDE_CAPABLE_FIELDS.contains(&self.0)
    }

    /// The permission an app must hold to receive this field.
    pub fn required_permission(&self) -> &'static str {
        if self.0 == "messages" {
            Permission::MESSAGING
        } else {
            Permission::MANAGEMENT
        }
    }

    /// Whether `name` is a syntactically acceptable field name: Graph field names are short
    /// lowercase identifiers. Unknown but well-formed names are accepted.
    pub fn is_well_formed(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_needs_messaging_everything_else_management() {
        assert_eq!(
            Field("messages").required_permission(),
            Permission::MESSAGING
        );
        assert_eq!(
            Field("account_update").required_permission(),
            Permission::MANAGEMENT
        );
        assert_eq!(
            Field("brand_new_field").required_permission(),
            Permission::MANAGEMENT
        );
    }

    #[test]
    fn template_and_account_fields_never_use_overrides() {
        for f in [
            "message_template_status_update",
            "message_template_quality_update",
            "message_template_components_update",
            "template_category_update",
            "account_update",
            "account_review_update",
            "account_alerts",
        ] {
            assert!(!Field(f).supports_override(), "{f}");
        }
        assert!(Field("messages").supports_override());
        assert!(Field("smb_message_echoes").supports_override());
    }

    #[test]
    fn field_name_shape() {
        assert!(Field::is_well_formed("messages"));
        assert!(Field::is_well_formed("some_future_field2"));
        assert!(!Field::is_well_formed(""));
        assert!(!Field::is_well_formed("Messages"));
        assert!(!Field::is_well_formed("a b"));
    }
}
