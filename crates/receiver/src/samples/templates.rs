//! Samples of `message_template_status_update`, `message_template_quality_update`, `message_template_components_update`, `template_category_update`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::templates::*;

impl Sample for MessageTemplateStatusUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for MessageTemplateQualityUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for MessageTemplateComponentsUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for TemplateCategoryUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
