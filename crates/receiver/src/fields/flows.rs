//! Typed value of `flows`: WhatsApp Flows status changes, endpoint health alerts and version
//! expiry warnings. (Flow completions arrive on `messages` as `nfm_reply`.)

use serde::{Deserialize, Serialize};
use serde_json::Number;
use serde_with::skip_serializing_none;

use crate::value::{truncate, FieldType};
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `flows.event`.
    pub enum FlowEvent {
        FlowStatusChange = "FLOW_STATUS_CHANGE",
        ClientErrorRate = "CLIENT_ERROR_RATE",
        EndpointErrorRate = "ENDPOINT_ERROR_RATE",
        EndpointLatency = "ENDPOINT_LATENCY",
        EndpointAvailability = "ENDPOINT_AVAILABILITY",
        FlowVersionExpiryWarning = "FLOW_VERSION_EXPIRY_WARNING",
    }
}

crate::open_enum! {
    /// `old_status` / `new_status` of a flow.
    pub enum FlowStatus {
        Draft = "DRAFT",
        Published = "PUBLISHED",
        Deprecated = "DEPRECATED",
        Blocked = "BLOCKED",
        Throttled = "THROTTLED",
    }
}

crate::open_enum! {
    /// `flows.alert_state`.
    pub enum AlertState { Activated = "ACTIVATED", Deactivated = "DEACTIVATED" }
}

/// The value of `flows`. Which attributes are present depends on `event`. Rates, thresholds
/// and latencies are kept as `Number` because Meta sends both integers (`10`) and decimals
/// (`14.28`) and each must come back as it was.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FlowsValue {
    pub event: Option<FlowEvent>,
    pub message: Option<String>,
    pub flow_id: Option<NumericString>,
    /// Absent when the flow was just created.
    pub old_status: Option<FlowStatus>,
    pub new_status: Option<FlowStatus>,
    pub alert_state: Option<AlertState>,
    /// The threshold reached or recovered from (percent, or milliseconds for latency).
    pub threshold: Option<Number>,
    pub error_rate: Option<Number>,
    pub requests_count: Option<i64>,
    pub errors: Option<Vec<FlowAlertError>>,
    pub p50_latency: Option<Number>,
    pub p90_latency: Option<Number>,
    /// Percent (`ENDPOINT_AVAILABILITY`).
    pub availability: Option<Number>,
    /// Version freeze or expiry warning text.
    pub warning: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `flows.errors[]` item of an error-rate alert.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FlowAlertError {
    /// E.g. `TIMEOUT`, `INVALID_SCREEN_TRANSITION` (see Meta's Flows error codes).
    pub error_type: Option<String>,
    pub error_rate: Option<Number>,
    pub error_count: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for FlowsValue {
    const FIELD: &'static str = "flows";
    fn summary(&self) -> String {
        let mut s = String::from("flow");
        if let Some(id) = &self.flow_id {
            s.push_str(&format!(" {id}"));
        }
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        match (&self.old_status, &self.new_status) {
            (Some(o), Some(n)) => s.push_str(&format!(" {o} → {n}")),
            (None, Some(n)) => s.push_str(&format!(" {n}")),
            (Some(o), None) => s.push_str(&format!(" {o} →")),
            (None, None) => {}
        }
        if let Some(a) = &self.alert_state {
            s.push_str(&format!(" {a}"));
        }
        let metric = match self.event {
            Some(FlowEvent::EndpointLatency) => {
                self.p90_latency.as_ref().map(|l| format!("p90 {l} ms"))
            }
            Some(FlowEvent::EndpointAvailability) => self
                .availability
                .as_ref()
                .map(|a| format!("availability {a}%")),
            _ => self.error_rate.as_ref().map(|r| format!("error rate {r}%")),
        };
        if let Some(m) = metric {
            s.push_str(&format!(" {m}"));
        }
        if let Some(t) = &self.threshold {
            s.push_str(&format!(" (threshold {t})"));
        }
        if let Some(w) = &self.warning {
            s.push_str(&format!(": {}", truncate(w, 80)));
        }
        s
    }
}
