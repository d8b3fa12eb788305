//! Typed values of `smb_message_echoes`, `smb_app_state_sync`, `history`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `smb_message_echoes`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SmbMessageEchoesValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for SmbMessageEchoesValue {
    const FIELD: &'static str = "smb_message_echoes";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `smb_app_state_sync`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SmbAppStateSyncValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for SmbAppStateSyncValue {
    const FIELD: &'static str = "smb_app_state_sync";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `history`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for HistoryValue {
    const FIELD: &'static str = "history";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
