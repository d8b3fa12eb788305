//! Who may do what: how an app relates to a business (owned, granted, shared), what a
//! system-user token permits (permissions) and on which WABAs (assets, VIEW or MANAGE).

use wabahook_model::{AssetAccess, Permission};
use wabahook_store::{AccessRole, App, AppAccess, Token, Waba};

use crate::error::Denied;
use crate::fields;

/// Whether `app` may edit WABAs of `business_id`: owned by that business, or granted access by
/// it (as Embedded Signup does). Apps merely shared with the business may not, so they can
/// neither subscribe to its WABAs nor receive their webhooks. `access` is the app's access list.
pub fn app_may_edit(app: &App, business_id: &str, access: &[AppAccess]) -> bool {
    app.business_id == business_id
        || access
            .iter()
            .any(|a| a.business_id == business_id && a.role == AccessRole::Granted)
}

/// Refuses a subscription of `app` to `waba` unless the app may edit it.
pub fn require_app_may_edit(app: &App, waba: &Waba, access: &[AppAccess]) -> Result<(), Denied> {
    if app_may_edit(app, &waba.business_id, access) {
        Ok(())
    } else {
        Err(Denied::AppMayNotEdit {
            app_id: app.id.clone(),
            waba_id: waba.id.clone(),
        })
    }
}

/// Whether system users of `business_id` may hold tokens for `app`: the business owns the app,
/// or the app is granted or shared to it.
pub fn business_may_issue_tokens(app: &App, business_id: &str, access: &[AppAccess]) -> bool {
    app.business_id == business_id || access.iter().any(|a| a.business_id == business_id)
}

/// Whether a token issued by `token_business_id` for an app with `access` may hold `waba` as an
/// asset: the issuing business owns the WABA, or the WABA's business granted the app access.
pub fn token_may_hold(token_business_id: &str, waba: &Waba, access: &[AppAccess]) -> bool {
    waba.business_id == token_business_id
        || access
            .iter()
            .any(|a| a.business_id == waba.business_id && a.role == AccessRole::Granted)
}

pub fn has_permission(token: &Token, permission: &str) -> bool {
    token.permissions.iter().any(|p| p == permission)
}

/// The token's access to `waba_id`, if the WABA is one of its assets. Without it the token
/// cannot see the WABA at all (Graph answers as if it did not exist).
pub fn access_to(token: &Token, waba_id: &str) -> Option<AssetAccess> {
    token
        .assets
        .iter()
        .find(|a| a.waba_id == waba_id)
        .map(|a| a.access)
}

pub fn can_see(token: &Token, waba_id: &str) -> bool {
    access_to(token, waba_id).is_some()
}

/// Refuses a call on a WABA's webhooks unless the token holds `whatsapp_business_management`.
pub fn require_management(token: &Token) -> Result<(), Denied> {
    if has_permission(token, Permission::MANAGEMENT) {
        Ok(())
    } else {
        Err(Denied::MissingPermission(Permission::MANAGEMENT))
    }
}

/// Refuses a change to `waba` unless the token holds MANAGE on it; VIEW only reads.
pub fn require_manage(token: &Token, waba: &Waba) -> Result<(), Denied> {
    match access_to(token, &waba.id) {
        Some(AssetAccess::Manage) => Ok(()),
        _ => Err(Denied::ViewOnly {
            waba_id: waba.id.clone(),
        }),
    }
}

/// Whether one of an app's `tokens` lets it receive `field` on `waba_id`: the token holds the
/// field's permission and the WABA as an asset (VIEW is enough to receive).
pub fn may_receive(tokens: &[Token], field: &str, waba_id: &str) -> bool {
    let permission = fields::required_permission(field);
    tokens
        .iter()
        .any(|t| has_permission(t, permission) && can_see(t, waba_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{token, waba, OTHER, OWNER, WABA};

    #[test]
    fn view_reads_manage_changes() {
        let w = waba(WABA, OWNER);
        let view = token(&[Permission::MANAGEMENT], AssetAccess::View);
        assert!(can_see(&view, &w.id));
        assert!(!can_see(&view, "200000000000009"));
        assert_eq!(
            require_manage(&view, &w),
            Err(Denied::ViewOnly {
                waba_id: w.id.clone()
            })
        );
        let manage = token(&[Permission::MANAGEMENT], AssetAccess::Manage);
        assert_eq!(require_manage(&manage, &w), Ok(()));
    }

    #[test]
    fn webhook_calls_need_the_management_permission() {
        let messaging = token(&[Permission::MESSAGING], AssetAccess::Manage);
        assert_eq!(
            require_management(&messaging).map_err(|d| d.to_string()),
            Err(
                "Permissions error: the token lacks the whatsapp_business_management permission"
                    .into()
            )
        );
        let both = token(
            &[Permission::MESSAGING, Permission::MANAGEMENT],
            AssetAccess::View,
        );
        assert_eq!(require_management(&both), Ok(()));
    }

    #[test]
    fn tokens_hold_wabas_of_their_business_or_of_a_granting_one() {
        let grant = |role| AppAccess {
            app_id: crate::fixtures::APP.into(),
            business_id: OTHER.into(),
            role,
        };
        let foreign = waba("200000000000002", OTHER);
        let own = waba(WABA, OWNER);
        assert!(token_may_hold(OWNER, &own, &[]));
        assert!(!token_may_hold(OWNER, &foreign, &[]));
        assert!(!token_may_hold(
            OWNER,
            &foreign,
            &[grant(AccessRole::Shared)]
        ));
        assert!(token_may_hold(
            OWNER,
            &foreign,
            &[grant(AccessRole::Granted)]
        ));
    }
}
