//! Token permissions and asset access levels, as Meta names them.

use serde::{Deserialize, Serialize};

/// A permission a system-user token may carry. Unknown names are kept as they are, so a seed
/// or admin call can grant permissions wabahook does not check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Permission(pub String);

impl Permission {
    pub const MANAGEMENT: &'static str = "whatsapp_business_management";
    pub const MESSAGING: &'static str = "whatsapp_business_messaging";
    pub const BUSINESS_MANAGEMENT: &'static str = "business_management";
}

/// What a token may do with one WABA it holds as an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AssetAccess {
    /// Read and change the WABA (subscribe, unsubscribe, set overrides).
    Manage,
    /// Read only.
    View,
}

impl AssetAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetAccess::Manage => "MANAGE",
            AssetAccess::View => "VIEW",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "MANAGE" => Some(AssetAccess::Manage),
            "VIEW" => Some(AssetAccess::View),
            _ => None,
        }
    }
}
