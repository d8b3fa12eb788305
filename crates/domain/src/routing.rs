//! Which subscribed app gets an event, and at which URL (SPEC section 4), as pure decisions.
//! The delivery engine reads the world and calls [`target`] for each app subscribed to the
//! event's WABA, when the event is accepted.

use wabahook_store::{App, AppAccess, AppSubscription, CallbackOverride, Token, Waba};

use crate::{access, fields, WABA_OBJECT};

/// What routing needs to know of one app subscribed to the event's WABA.
#[derive(Debug, Clone, Copy)]
pub struct Subscriber<'a> {
    pub app: &'a App,
    /// The app's access to businesses other than its owner.
    pub access: &'a [AppAccess],
    /// The app's `/{app-id}/subscriptions` callback and fields.
    pub subscription: &'a AppSubscription,
    /// The app's system-user tokens.
    pub tokens: &'a [Token],
    /// The app's override on the event's WABA.
    pub waba_override: Option<&'a CallbackOverride>,
    /// The app's override on the event's phone number, when the event names one.
    pub phone_override: Option<&'a CallbackOverride>,
}

/// Whether the app's subscription takes `field`: the WABA object, with a verified callback,
/// active, and the field among those subscribed.
pub fn subscription_takes(sub: &AppSubscription, field: &str) -> bool {
    sub.object == WABA_OBJECT
        && sub.verified
        && sub.active
        && sub.fields.iter().any(|f| f.name == field)
}

/// Whether the phone-number override can matter for `field`, so whether it is worth reading.
pub fn uses_overrides(field: &str) -> bool {
    fields::supports_override(field)
}

/// Where an event on `waba` for `field` goes for this subscriber, or `None` when the app gets no
/// delivery: its subscription does not take the field, it may not edit the WABA (shared, not
/// owned or granted), or none of its tokens holds the field's permission on the WABA.
/// Target: phone-number override → WABA override → the app's callback URL, overrides only for
/// override-capable fields.
pub fn target<'a>(waba: &Waba, field: &str, s: &Subscriber<'a>) -> Option<&'a str> {
    if !subscription_takes(s.subscription, field)
        || !access::app_may_edit(s.app, &waba.business_id, s.access)
        || !access::may_receive(s.tokens, field, &waba.id)
    {
        return None;
    }
    let overridden = uses_overrides(field)
        .then(|| s.phone_override.or(s.waba_override))
        .flatten();
    Some(
        overridden.map_or(s.subscription.callback_url.as_str(), |o| {
            o.callback_uri.as_str()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, token, APP, OTHER, OWNER, WABA};
    use wabahook_model::{AssetAccess, Permission};
    use wabahook_store::{AccessRole, SubscribedField};

    const APP_URL: &str = "https://app.example/hook";
    const WABA_URL: &str = "https://waba.example/hook";
    const PHONE_URL: &str = "https://phone.example/hook";

    fn waba() -> Waba {
        fixtures::waba(WABA, OWNER)
    }

    fn app(business_id: &str) -> App {
        App {
            id: APP.into(),
            business_id: business_id.into(),
            name: "Hooks".into(),
            link: String::new(),
            secret: "0123456789abcdef".into(),
            created_at: 0,
        }
    }

    fn subscription(fields: &[&str]) -> AppSubscription {
        AppSubscription {
            app_id: APP.into(),
            object: WABA_OBJECT.into(),
            callback_url: APP_URL.into(),
            verify_token: "v".into(),
            verified: true,
            include_values: true,
            include_client_certificate: false,
            active: true,
            fields: fields
                .iter()
                .map(|f| SubscribedField {
                    name: f.to_string(),
                    version: "v25.0".into(),
                })
                .collect(),
            updated_at: 0,
        }
    }

    fn url(callback_uri: &str) -> CallbackOverride {
        CallbackOverride {
            callback_uri: callback_uri.into(),
            verify_token: "v".into(),
        }
    }

    /// The target for `field` of an owned app subscribed to every field used here, holding
    /// both permissions, with the given overrides.
    fn route(
        field: &str,
        phone: Option<&CallbackOverride>,
        waba_override: Option<&CallbackOverride>,
    ) -> Option<String> {
        let (app, sub) = (app(OWNER), subscription(&["messages", "account_update"]));
        let tokens = [token(
            &[Permission::MANAGEMENT, Permission::MESSAGING],
            AssetAccess::Manage,
        )];
        let s = Subscriber {
            app: &app,
            access: &[],
            subscription: &sub,
            tokens: &tokens,
            waba_override,
            phone_override: phone,
        };
        target(&waba(), field, &s).map(str::to_owned)
    }

    #[test]
    fn phone_override_wins_over_waba_override_over_app_url() {
        let (phone, w) = (url(PHONE_URL), url(WABA_URL));
        assert_eq!(
            route("messages", Some(&phone), Some(&w)).as_deref(),
            Some(PHONE_URL)
        );
        assert_eq!(route("messages", None, Some(&w)).as_deref(), Some(WABA_URL));
        assert_eq!(route("messages", None, None).as_deref(), Some(APP_URL));
    }

    #[test]
    fn fields_that_are_not_override_capable_go_to_the_app_url() {
        let (phone, w) = (url(PHONE_URL), url(WABA_URL));
        assert_eq!(
            route("account_update", Some(&phone), Some(&w)).as_deref(),
            Some(APP_URL)
        );
    }

    #[test]
    fn unsubscribed_fields_get_nothing() {
        assert_eq!(route("security", None, None), None);
    }

    #[test]
    fn missing_permission_or_asset_gets_nothing() {
        let (w, a, sub) = (waba(), app(OWNER), subscription(&["messages", "flows"]));
        let only_management = [token(&[Permission::MANAGEMENT], AssetAccess::View)];
        let s = Subscriber {
            app: &a,
            access: &[],
            subscription: &sub,
            tokens: &only_management,
            waba_override: None,
            phone_override: None,
        };
        assert_eq!(target(&w, "messages", &s), None);
        // VIEW access is enough to receive.
        assert_eq!(target(&w, "flows", &s), Some(APP_URL));
        let mut elsewhere = only_management[0].clone();
        elsewhere.assets[0].waba_id = "200000000000009".into();
        let elsewhere = [elsewhere];
        assert_eq!(
            target(
                &w,
                "flows",
                &Subscriber {
                    tokens: &elsewhere,
                    ..s
                }
            ),
            None
        );
        assert_eq!(target(&w, "flows", &Subscriber { tokens: &[], ..s }), None);
    }

    #[test]
    fn shared_apps_get_nothing_granted_apps_do() {
        let (w, a, sub) = (waba(), app(OTHER), subscription(&["messages"]));
        let tokens = [token(&[Permission::MESSAGING], AssetAccess::Manage)];
        let with = |role| {
            [AppAccess {
                app_id: a.id.clone(),
                business_id: OWNER.into(),
                role,
            }]
        };
        let (shared, granted) = (with(AccessRole::Shared), with(AccessRole::Granted));
        let s = Subscriber {
            app: &a,
            access: &shared,
            subscription: &sub,
            tokens: &tokens,
            waba_override: None,
            phone_override: None,
        };
        assert_eq!(target(&w, "messages", &s), None);
        assert_eq!(
            target(&w, "messages", &Subscriber { access: &[], ..s }),
            None
        );
        assert_eq!(
            target(
                &w,
                "messages",
                &Subscriber {
                    access: &granted,
                    ..s
                }
            ),
            Some(APP_URL)
        );
    }

    #[test]
    fn unverified_inactive_or_foreign_subscriptions_get_nothing() {
        let (w, a) = (waba(), app(OWNER));
        let tokens = [token(&[Permission::MESSAGING], AssetAccess::Manage)];
        let mut subs = [
            subscription(&["messages"]),
            subscription(&["messages"]),
            subscription(&["messages"]),
        ];
        subs[0].verified = false;
        subs[1].active = false;
        subs[2].object = "page".into();
        for sub in &subs {
            let s = Subscriber {
                app: &a,
                access: &[],
                subscription: sub,
                tokens: &tokens,
                waba_override: None,
                phone_override: None,
            };
            assert_eq!(target(&w, "messages", &s), None, "{sub:?}");
        }
    }
}
