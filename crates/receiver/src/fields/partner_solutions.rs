//! Typed value of `partner_solutions`: status changes of a Multi-Partner Solution.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `partner_solutions.event`.
    pub enum SolutionEvent {
        SolutionCreated = "SOLUTION_CREATED",
        SolutionUpdated = "SOLUTION_UPDATED",
    }
}

crate::open_enum! {
    /// `partner_solutions.solution_status`.
    pub enum SolutionStatus {
        Active = "ACTIVE",
        Deactivated = "DEACTIVATED",
        Draft = "DRAFT",
        Initiated = "INITIATED",
        PendingDeactivation = "PENDING_DEACTIVATION",
        Rejected = "REJECTED",
    }
}

/// The value of `partner_solutions`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PartnerSolutionsValue {
    pub event: Option<SolutionEvent>,
    pub solution_id: Option<NumericString>,
    pub solution_status: Option<SolutionStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PartnerSolutionsValue {
    const FIELD: &'static str = "partner_solutions";
    fn summary(&self) -> String {
        let mut parts = vec!["solution".to_owned()];
        parts.extend(self.solution_id.as_deref().map(str::to_owned));
        parts.extend(self.event.as_ref().map(ToString::to_string));
        parts.extend(self.solution_status.as_ref().map(ToString::to_string));
        parts.join(" ")
    }
}
