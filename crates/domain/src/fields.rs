//! The catalogue of WABA webhook fields: for each field Meta documents, the permission an app's
//! token must hold to receive it, whether phone-number and WABA callback overrides apply, and
//! whether the receiver library has a type for its value.
//!
//! Unknown field names are accepted and routed like any other (SPEC section 4): they need
//! `whatsapp_business_management` and always go to the app's own callback URL.

use wabahook_model::Permission;

/// The only Graph object type whose webhooks wabahook serves; the receiver library's constant.
pub use wabahook_receiver::WABA_OBJECT;

/// One webhook field and the rules attached to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    /// The permission a token of the app must hold on the WABA for the app to receive the field.
    pub permission: &'static str,
    /// Whether phone-number and WABA callback overrides apply; other fields always go to the
    /// app's own callback URL.
    pub override_capable: bool,
    /// Whether `wabahook_receiver` types the field's value (and has samples for it).
    pub typed: bool,
}

const MANAGEMENT: &str = Permission::MANAGEMENT;
const MESSAGING: &str = Permission::MESSAGING;
const OVERRIDE: bool = true;
const APP_URL_ONLY: bool = false;
const TYPED: bool = true;
const UNTYPED: bool = false;

const fn field(
    name: &'static str,
    permission: &'static str,
    override_capable: bool,
    typed: bool,
) -> FieldSpec {
    FieldSpec {
        name,
        permission,
        override_capable,
        typed,
    }
}

/// Every field of Meta's WABA webhook reference and override list, sorted by name.
#[rustfmt::skip]
pub const CATALOGUE: &[FieldSpec] = &[
    field("account_alerts",                     MANAGEMENT, APP_URL_ONLY, TYPED),
    field("account_review_update",              MANAGEMENT, APP_URL_ONLY, TYPED),
    field("account_settings_update",            MANAGEMENT, OVERRIDE,     UNTYPED),
    field("account_update",                     MANAGEMENT, APP_URL_ONLY, TYPED),
    field("automatic_events",                   MANAGEMENT, APP_URL_ONLY, UNTYPED),
    field("business_capability_update",         MANAGEMENT, APP_URL_ONLY, TYPED),
    field("business_status_update",             MANAGEMENT, APP_URL_ONLY, UNTYPED),
    field("business_username_updates",          MANAGEMENT, APP_URL_ONLY, TYPED),
    field("calls",                              MANAGEMENT, OVERRIDE,     TYPED),
    field("consumer_profile",                   MANAGEMENT, OVERRIDE,     UNTYPED),
    field("flows",                              MANAGEMENT, APP_URL_ONLY, TYPED),
    field("group_lifecycle_update",             MANAGEMENT, OVERRIDE,     UNTYPED),
    field("group_participants_update",          MANAGEMENT, OVERRIDE,     UNTYPED),
    field("group_settings_update",              MANAGEMENT, OVERRIDE,     UNTYPED),
    field("group_status_update",                MANAGEMENT, OVERRIDE,     UNTYPED),
    field("history",                            MANAGEMENT, OVERRIDE,     TYPED),
    field("message_echoes",                     MANAGEMENT, OVERRIDE,     UNTYPED),
    field("message_template_components_update", MANAGEMENT, APP_URL_ONLY, TYPED),
    field("message_template_quality_update",    MANAGEMENT, APP_URL_ONLY, TYPED),
    field("message_template_status_update",     MANAGEMENT, APP_URL_ONLY, TYPED),
    field("messages",                           MESSAGING,  OVERRIDE,     TYPED),
    field("messaging_handovers",                MANAGEMENT, OVERRIDE,     UNTYPED),
    field("partner_solutions",                  MANAGEMENT, APP_URL_ONLY, TYPED),
    field("payment_configuration_update",       MANAGEMENT, APP_URL_ONLY, TYPED),
    field("phone_number_name_update",           MANAGEMENT, APP_URL_ONLY, TYPED),
    field("phone_number_quality_update",        MANAGEMENT, APP_URL_ONLY, TYPED),
    field("security",                           MANAGEMENT, APP_URL_ONLY, TYPED),
    field("smb_app_state_sync",                 MANAGEMENT, OVERRIDE,     TYPED),
    field("smb_message_echoes",                 MANAGEMENT, OVERRIDE,     TYPED),
    field("standby",                            MANAGEMENT, OVERRIDE,     UNTYPED),
    field("template_category_update",           MANAGEMENT, APP_URL_ONLY, TYPED),
    field("tracking_events",                    MANAGEMENT, APP_URL_ONLY, UNTYPED),
    field("user_id_update",                     MANAGEMENT, APP_URL_ONLY, TYPED),
    field("user_preferences",                   MANAGEMENT, APP_URL_ONLY, TYPED),
];

/// The catalogue's entry for `name`, if Meta documents the field.
pub fn spec(name: &str) -> Option<&'static FieldSpec> {
    CATALOGUE
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &CATALOGUE[i])
}

/// The permission a token must hold for its app to receive `field`.
pub fn required_permission(field: &str) -> &'static str {
    spec(field).map_or(MANAGEMENT, |f| f.permission)
}

/// Whether callback overrides (phone number, then WABA) apply to `field`.
pub fn supports_override(field: &str) -> bool {
    spec(field).is_some_and(|f| f.override_capable)
}

/// Whether `name` is a syntactically acceptable field (or permission) name: Graph's names are
/// short lowercase identifiers. Unknown but well-formed names are accepted.
pub fn is_well_formed(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabahook_receiver::TYPED_FIELDS;

    #[test]
    fn catalogue_is_sorted_without_duplicates_and_well_formed() {
        for pair in CATALOGUE.windows(2) {
            assert!(pair[0].name < pair[1].name, "{pair:?}");
        }
        assert!(CATALOGUE.iter().all(|f| is_well_formed(f.name)));
    }

    #[test]
    fn every_field_the_receiver_types_is_catalogued_as_typed() {
        for name in TYPED_FIELDS {
            assert!(spec(name).is_some_and(|f| f.typed), "{name}");
        }
        for f in CATALOGUE.iter().filter(|f| f.typed) {
            assert!(TYPED_FIELDS.contains(&f.name), "{} is not typed", f.name);
        }
    }

    #[test]
    fn messages_needs_messaging_everything_else_management() {
        assert_eq!(required_permission("messages"), Permission::MESSAGING);
        assert_eq!(
            required_permission("account_update"),
            Permission::MANAGEMENT
        );
        assert_eq!(
            required_permission("brand_new_field"),
            Permission::MANAGEMENT
        );
        let messaging: Vec<_> = CATALOGUE
            .iter()
            .filter(|f| f.permission == Permission::MESSAGING)
            .map(|f| f.name)
            .collect();
        assert_eq!(messaging, ["messages"]);
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
            "brand_new_field",
        ] {
            assert!(!supports_override(f), "{f}");
        }
        let capable: Vec<_> = CATALOGUE
            .iter()
            .filter(|f| f.override_capable)
            .map(|f| f.name)
            .collect();
        // Meta's override page, word for word.
        assert_eq!(
            capable,
            [
                "account_settings_update",
                "calls",
                "consumer_profile",
                "group_lifecycle_update",
                "group_participants_update",
                "group_settings_update",
                "group_status_update",
                "history",
                "message_echoes",
                "messages",
                "messaging_handovers",
                "smb_app_state_sync",
                "smb_message_echoes",
                "standby",
            ]
        );
    }

    #[test]
    fn field_name_shape() {
        assert!(is_well_formed("messages"));
        assert!(is_well_formed("some_future_field2"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("Messages"));
        assert!(!is_well_formed("a b"));
    }
}
