//! Error bodies and codes of the distribution-spec ("Error Codes").
//!
//! A registry answers a failed request with `{"errors":[{"code":…,"message":…,"detail":…}]}`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The JSON body of an error response.
///
/// ```
/// use ocipull_spec::{ErrorBody, ErrorCode, ErrorInfo};
/// let body = ErrorBody::single(ErrorCode::ManifestUnknown, "manifest unknown");
/// let json = serde_json::to_string(&body).unwrap();
/// assert_eq!(json, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, usually one.
    pub errors: Vec<ErrorInfo>,
}

impl ErrorBody {
    /// A body with one error and no detail.
    pub fn single(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorInfo {
                code,
                message: message.into(),
                detail: None,
            }],
        }
    }
}

/// One error of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error code.
    pub code: ErrorCode,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// Unstructured detail, any JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

macro_rules! error_codes {
    ($($variant:ident = $text:literal: $doc:literal,)*) => {
        /// The error codes of the distribution-spec's table, plus [`ErrorCode::Other`] for codes
        /// a registry invents.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
            /// A code not in the spec's table.
            Other(String),
        }

        impl ErrorCode {
            /// The code as it appears in JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(s) => s,
                }
            }

            /// The code for a JSON string; unknown codes become [`ErrorCode::Other`].
            pub fn from_code(s: &str) -> ErrorCode {
                match s {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    BlobUnknown = "BLOB_UNKNOWN": "Blob unknown to registry.",
    BlobUploadInvalid = "BLOB_UPLOAD_INVALID": "Blob upload invalid.",
    BlobUploadUnknown = "BLOB_UPLOAD_UNKNOWN": "Blob upload unknown to registry.",
    DigestInvalid = "DIGEST_INVALID": "Provided digest did not match uploaded content.",
    ManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN": "Manifest references a manifest or blob unknown to registry.",
    ManifestInvalid = "MANIFEST_INVALID": "Manifest invalid.",
    ManifestUnknown = "MANIFEST_UNKNOWN": "Manifest unknown to registry.",
    NameInvalid = "NAME_INVALID": "Invalid repository name.",
    NameUnknown = "NAME_UNKNOWN": "Repository name not known to registry.",
    SizeInvalid = "SIZE_INVALID": "Provided length did not match content length.",
    Unauthorized = "UNAUTHORIZED": "Authentication required.",
    Denied = "DENIED": "Requested access to the resource is denied.",
    Unsupported = "UNSUPPORTED": "The operation is unsupported.",
    TooManyRequests = "TOOMANYREQUESTS": "Too many requests.",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::from_code(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in [
            "BLOB_UNKNOWN",
            "BLOB_UPLOAD_INVALID",
            "BLOB_UPLOAD_UNKNOWN",
            "DIGEST_INVALID",
            "MANIFEST_BLOB_UNKNOWN",
            "MANIFEST_INVALID",
            "MANIFEST_UNKNOWN",
            "NAME_INVALID",
            "NAME_UNKNOWN",
            "SIZE_INVALID",
            "UNAUTHORIZED",
            "DENIED",
            "UNSUPPORTED",
            "TOOMANYREQUESTS",
        ] {
            let c = ErrorCode::from_code(code);
            assert!(!matches!(c, ErrorCode::Other(_)), "{code}");
            assert_eq!(c.as_str(), code);
        }
        assert_eq!(ErrorCode::from_code("X_Y"), ErrorCode::Other("X_Y".into()));
    }

    #[test]
    fn parses_bodies_with_detail_and_without_message() {
        let b: ErrorBody = serde_json::from_str(
            r#"{"errors":[{"code":"DENIED","detail":{"a":[1]}},{"code":"CUSTOM","message":"m"}]}"#,
        )
        .unwrap();
        assert_eq!(b.errors[0].code, ErrorCode::Denied);
        assert_eq!(b.errors[0].message, "");
        assert_eq!(b.errors[1].code, ErrorCode::Other("CUSTOM".into()));
        let back = serde_json::to_string(&b).unwrap();
        assert!(back.contains(r#""detail":{"a":[1]}"#));
    }
}
