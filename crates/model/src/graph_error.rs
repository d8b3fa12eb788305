//! Graph API's error envelope: `{"error":{"message","type","code","error_subcode"?,"fbtrace_id"}}`.
//!
//! Clients branch on `code`, so the codes here are Meta's. Servers build these through their own
//! error types; receivers and SDK-like clients deserialize them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorEnvelope {
    pub error: GraphErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorBody {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: i64,
    /// WhatsApp's details on Cloud API errors (`error_data.details`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_data: Option<GraphErrorData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_subcode: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_transient: Option<bool>,
    pub fbtrace_id: String,
}

/// `error.error_data` of Cloud API errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorData {
    pub messaging_product: String,
    pub details: String,
}

/// Meta's error codes that wabahook answers with.
pub mod codes {
    /// Generic OAuth failure, used by Graph for a bad client secret.
    pub const UNKNOWN_OAUTH: i64 = 1;
    /// Invalid parameter, or an object that does not exist or is not visible (subcode 33).
    pub const INVALID_PARAMETER: i64 = 100;
    /// Subcode of 100: the object does not exist, cannot be loaded or does not support the call.
    pub const SUBCODE_UNKNOWN_OBJECT: i64 = 33;
    /// Missing or invalid `client_id` on the OAuth endpoint.
    pub const INVALID_CLIENT_ID: i64 = 101;
    /// No access token.
    pub const NO_TOKEN: i64 = 104;
    /// Invalid or expired access token.
    pub const INVALID_TOKEN: i64 = 190;
    /// Permission missing.
    pub const PERMISSION: i64 = 200;
    /// The callback URL failed verification.
    pub const CALLBACK_VERIFICATION_FAILED: i64 = 2200;
    /// The callback echoed the wrong challenge.
    pub const CALLBACK_INVALID_CHALLENGE: i64 = 2201;
    /// Unknown path components.
    pub const UNKNOWN_PATH: i64 = 2500;
    /// Business Use Case rate limit of the WhatsApp Business Management API.
    pub const WABA_RATE_LIMIT: i64 = 80008;
    /// Subcode of 100: a template with that name already exists in that language.
    pub const SUBCODE_TEMPLATE_EXISTS: i64 = 2388024;
    /// Media upload error (wrong type, too large).
    pub const MEDIA_UPLOAD_ERROR: i64 = 131053;
}
