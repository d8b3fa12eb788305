//! Typed values of `message_template_status_update`, `message_template_quality_update`, `message_template_components_update`, `template_category_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `message_template_status_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateStatusUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateStatusUpdateValue {
    const FIELD: &'static str = "message_template_status_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `message_template_quality_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateQualityUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateQualityUpdateValue {
    const FIELD: &'static str = "message_template_quality_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `message_template_components_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageTemplateComponentsUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessageTemplateComponentsUpdateValue {
    const FIELD: &'static str = "message_template_components_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `template_category_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateCategoryUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for TemplateCategoryUpdateValue {
    const FIELD: &'static str = "template_category_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
