//! Samples of `account_alerts`, `account_review_update`, `account_update` (every documented
//! event with its sub-object) and `business_capability_update`.

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::{graph_id, pick, Sample, SampleContext};
use crate::fields::account::*;

const ALERTS: &[(&str, &str, &str, &str)] = &[
    (
        "BUSINESS",
        "WARNING",
        "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
        "Limits cannot be increased for your business {NAME}. Use WhatsApp Business platform actively for several days and follow our messaging policies.",
    ),
    (
        "BUSINESS",
        "CRITICAL",
        "INCREASED_CAPABILITIES_ELIGIBILITY_FAILED",
        "Based on your activity, limits cannot be increased for your business. Contact support for more information.",
    ),
    (
        "BUSINESS",
        "WARNING",
        "INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO",
        "Additional verification is required for your business {NAME}. Go to Security Center in Meta for Business to complete identity verification. To continue without completing additional verification, your business can use WhatsApp Business platform actively for several days and follow our messaging policies.",
    ),
    (
        "PHONE_NUMBER",
        "INFORMATIONAL",
        "OBA_APPROVED",
        "This phone number now has a green badge next to its name showing that it's an authentic and notable business account. Add more details to your business profile to increase customer trust.",
    ),
    (
        "PHONE_NUMBER",
        "CRITICAL",
        "OBA_REJECTED",
        "We do not grant official business accounts to individuals. Your display name must be directly associated with your business. Edit the display name and submit a new request.",
    ),
    (
        "CURRENT_STATUS_ID",
        "WARNING",
        "PROFILE_PICTURE_LOST",
        "Please reupload your profile picture",
    ),
];

impl Sample for AccountAlertsValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let (entity_type, severity, kind, description) = ALERTS[rng.gen_range(0..ALERTS.len())];
        let entity_id = match entity_type {
            "PHONE_NUMBER" => ctx.phone_number_id.clone(),
            _ => graph_id(rng),
        };
        json!({
            "entity_type": entity_type,
            "entity_id": entity_id,
            "alert_info": {
                "alert_severity": severity,
                "alert_status": pick(rng, &["ACTIVE", "ACTIVE", "NONE"]),
                "alert_type": kind,
                "alert_description": description.replace("{NAME}", &ctx.business_name),
            }
        })
    }
}

impl Sample for AccountReviewUpdateValue {
    fn sample(_ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        json!({ "decision": pick(rng, &["APPROVED", "APPROVED", "REJECTED", "PENDING", "DEFERRED"]) })
    }
}

const RESTRICTIONS: &[&str] = &[
    "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
    "RESTRICTED_BIZ_INITIATED_MESSAGING",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
    "RESTRICTED_BUSINESS_INITIATED_CALLING",
    "RESTRICTED_USER_INITIATED_CALLING",
    "RESTRICTED_UTILITY_TEMPLATES",
    "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
];

const COUNTRIES: &[&str] = &["IN", "ID", "BR", "MX", "NG", "ZA", "TR", "EG", "PK", "MY"];

impl Sample for AccountUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let event = pick(
            rng,
            &[
                "ACCOUNT_DELETED",
                "ACCOUNT_RESTRICTION",
                "ACCOUNT_VIOLATION",
                "AD_ACCOUNT_LINKED",
                "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
                "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE",
                "DISABLED_UPDATE",
                "MM_LITE_TERMS_SIGNED",
                "PARTNER_ADDED",
                "PARTNER_APP_INSTALLED",
                "PARTNER_APP_UNINSTALLED",
                "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
                "PARTNER_REMOVED",
                "VOLUME_BASED_PRICING_TIER_UPDATE",
                "ACCOUNT_OFFBOARDED",
                "ACCOUNT_RECONNECTED",
            ],
        );
        let mut v = Map::new();
        v.insert("event".into(), json!(event));
        let owner = graph_id(rng);
        match event {
            "ACCOUNT_RESTRICTION" => {
                let n = rng.gen_range(1..=3);
                let mut kinds: Vec<&str> = Vec::new();
                while kinds.len() < n {
                    let k = pick(rng, RESTRICTIONS);
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                let expiration = ctx.now + rng.gen_range(1..30) * 86_400;
                let with_remediation = rng.gen_bool(0.5);
                let items: Vec<Value> = kinds
                    .into_iter()
                    .map(|k| {
                        let mut r = json!({"restriction_type": k, "expiration": expiration});
                        if with_remediation {
                            r["remediation"] = json!("Review your messaging practices and ensure compliance with WhatsApp policies.");
                        }
                        r
                    })
                    .collect();
                v.insert("restriction_info".into(), json!(items));
            }
            "ACCOUNT_VIOLATION" => {
                let t = pick(
                    rng,
                    &[
                        "ADULT",
                        "SCAM",
                        "SPAM",
                        "ILLEGAL_PRODUCTS_OR_SERVICES",
                        "TERMS_OF_SERVICE",
                    ],
                );
                v.insert("violation_info".into(), json!({ "violation_type": t }));
            }
            "AD_ACCOUNT_LINKED" => {
                v.insert(
                    "waba_info".into(),
                    json!({
                        "owner_business_id": owner,
                        "ad_account_linked": graph_id(rng),
                        "waba_id": ctx.waba_id,
                    }),
                );
            }
            "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE" => {
                let start = ctx.now + rng.gen_range(1..60) * 86_400;
                let mut a = json!({ "start_time": start });
                if rng.gen_bool(0.6) {
                    a["exception_countries"] = json!([{
                        "country_code": pick(rng, COUNTRIES),
                        "start_time": start + rng.gen_range(1..60) * 86_400,
                    }]);
                }
                v.insert("auth_international_rate_eligibility".into(), a);
            }
            "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE" => {
                v.insert("country".into(), json!(pick(rng, COUNTRIES)));
            }
            "DISABLED_UPDATE" => {
                let state = pick(rng, &["DISABLE", "REINSTATE", "SCHEDULE_FOR_DISABLE"]);
                v.insert(
                    "ban_info".into(),
                    json!({ "waba_ban_state": state, "waba_ban_date": long_date(ctx.now) }),
                );
            }
            "MM_LITE_TERMS_SIGNED" | "PARTNER_REMOVED" => {
                v.insert(
                    "waba_info".into(),
                    json!({ "waba_id": ctx.waba_id, "owner_business_id": owner }),
                );
                if event == "PARTNER_REMOVED" && rng.gen_bool(0.5) {
                    let reason = pick(
                        rng,
                        &[
                            "ACCOUNT_DISCONNECTED",
                            "BUSINESS_DOWNGRADE",
                            "CHANGE_NUMBER",
                            "COMPANION_INACTIVITY",
                            "PRIMARY_INACTIVITY",
                            "USER_RE_REGISTERED",
                        ],
                    );
                    let by = match reason {
                        "COMPANION_INACTIVITY" | "PRIMARY_INACTIVITY" => "SYSTEM",
                        "ACCOUNT_DISCONNECTED" => pick(rng, &["SYSTEM", "USER"]),
                        _ => "USER",
                    };
                    v.insert(
                        "disconnection_info".into(),
                        json!({ "reason": reason, "initiated_by": by }),
                    );
                }
            }
            "PARTNER_ADDED" | "PARTNER_APP_INSTALLED" | "PARTNER_APP_UNINSTALLED" => {
                let mut w = json!({ "waba_id": ctx.waba_id, "owner_business_id": owner });
                if event != "PARTNER_ADDED" {
                    w["partner_app_id"] = json!(graph_id(rng));
                }
                // Multi-partner solution ids are never sent on uninstall.
                if event != "PARTNER_APP_UNINSTALLED" && rng.gen_bool(0.5) {
                    w["solution_id"] = json!(graph_id(rng));
                    w["solution_partner_business_ids"] = json!([graph_id(rng), graph_id(rng)]);
                }
                v.insert("waba_info".into(), w);
            }
            "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE" => {
                let status = pick(
                    rng,
                    &["APPROVED", "DISCARDED", "FAILED", "PENDING", "REVOKED"],
                );
                let reason = if status == "FAILED" {
                    pick(
                        rng,
                        &[
                            "ADDRESS NOT MATCHING",
                            "BUSINESS NOT ELIGIBLE",
                            "LEGAL NAME NOT MATCHING",
                            "LEGAL NAME NOT FOUND IN DOCUMENTS",
                            "MALFORMED DOCUMENTS",
                            "WEBSITE NOT MATCHING",
                        ],
                    )
                } else {
                    "NONE"
                };
                v.insert(
                    "partner_client_certification_info".into(),
                    json!({
                        "client_business_id": owner,
                        "status": status,
                        "rejection_reasons": [reason],
                    }),
                );
            }
            "VOLUME_BASED_PRICING_TIER_UPDATE" => {
                let tier = pick(
                    rng,
                    &[
                        "1:1000000",
                        "1000001:5000000",
                        "5000001:25000000",
                        "25000001:50000000",
                    ],
                );
                v.insert(
                    "volume_tier_info".into(),
                    json!({
                        "tier_update_time": ctx.now,
                        "pricing_category": pick(rng, &["UTILITY", "AUTHENTICATION"]),
                        "tier": tier,
                        "effective_month": next_month(ctx.now),
                        "region": pick(rng, &["India", "Brazil", "Indonesia", "Mexico", "North America", "Rest of Asia Pacific"]),
                    }),
                );
            }
            _ => {}
        }
        Value::Object(v)
    }
}

impl Sample for BusinessCapabilityUpdateValue {
    fn sample(_ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        // Meta's own example sends the per-business limit as a count; its table lists tiers.
        let limit: Value = if rng.gen_bool(0.5) {
            json!(pick(
                rng,
                &[
                    "TIER_250",
                    "TIER_2K",
                    "TIER_10K",
                    "TIER_100K",
                    "TIER_UNLIMITED"
                ]
            ))
        } else {
            json!(*pick(rng, &[&250i64, &2000, &10000, &100000]))
        };
        let small = limit == json!("TIER_250") || limit == json!(250);
        if small {
            json!({
                "max_daily_conversations_per_business": limit,
                "max_phone_numbers_per_business": 2,
            })
        } else {
            json!({
                "max_daily_conversations_per_business": limit,
                "max_phone_numbers_per_waba": *pick(rng, &[&2i64, &20, &25, &50]),
            })
        }
    }
}

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days since 1970-01-01 to (year, month 1-12, day).
fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `April 17, 2025`, the way `ban_info.waba_ban_date` reads.
fn long_date(unix: i64) -> String {
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!("{} {d}, {y}", MONTHS[(m - 1) as usize])
}

/// `2025-11`: the month after `unix`.
fn next_month(unix: i64) -> String {
    let (y, m, _) = civil(unix.div_euclid(86_400));
    if m == 12 {
        format!("{}-01", y + 1)
    } else {
        format!("{y}-{:02}", m + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(long_date(1_744_848_000), "April 17, 2025");
        assert_eq!(next_month(1_764_000_000), "2025-12");
        assert_eq!(next_month(1_765_000_000), "2026-01");
    }
}
