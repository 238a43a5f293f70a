//! Which failures are worth another try.
//!
//! One function decides for statuses and one for errors, so the retry loop, the blob resume
//! logic and callers agree. The status rule is the one go-containerregistry's `retry` package
//! and the distribution-spec's guidance converge on: server errors and "try later" statuses
//! are transient, client errors are not.

use http::StatusCode;

use crate::Error;

/// Whether a failure may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Trying again (after a delay) may succeed.
    Transient,
    /// Trying again will fail the same way.
    Permanent,
}

/// Statuses in the 5xx range that are nevertheless permanent: the server says it will never
/// do this (501 Not Implemented, 505 HTTP Version Not Supported) or that the network needs a
/// login page (511 Network Authentication Required) — waiting changes nothing.
const PERMANENT_SERVER_ERRORS: [u16; 3] = [501, 505, 511];

/// Client-error statuses that mean "later": 408 Request Timeout, 425 Too Early,
/// 429 Too Many Requests (RFC 6585), and 499, which some proxies (nginx) use when the
/// client side of a connection went away.
const TRANSIENT_CLIENT_ERRORS: [u16; 4] = [408, 425, 429, 499];

/// Classifies a response status: 5xx, 408, 425, 429 and 499 are transient except 501, 505
/// and 511; everything else is permanent.
pub fn classify_status(status: StatusCode) -> Class {
    let code = status.as_u16();
    if TRANSIENT_CLIENT_ERRORS.contains(&code)
        || (status.is_server_error() && !PERMANENT_SERVER_ERRORS.contains(&code))
    {
        Class::Transient
    } else {
        Class::Permanent
    }
}

/// Classifies an error: connection failures and stalls are transient (except a TLS
/// certificate the client does not trust, which stays untrusted), statuses follow
/// [`classify_status`], and everything else — bad content, bad headers, configuration —
/// is permanent.
pub fn classify(error: &Error) -> Class {
    match error {
        Error::Connection { source, .. } if is_tls_rejection(source.as_ref()) => Class::Permanent,
        Error::Connection { .. } | Error::Stalled { .. } => Class::Transient,
        Error::Proxy(e) if e.is_transient() => Class::Transient,
        Error::Status(e) => classify_status(e.status),
        _ => Class::Permanent,
    }
}

/// Whether a TLS library error sits in the chain: certificate and handshake failures do not
/// heal on a retry.
fn is_tls_rejection(error: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(feature = "rustls")]
    if find_in_chain::<rustls::Error>(error).is_some() {
        return true;
    }
    let _ = error;
    false
}

/// The first error of type `T` in `error`'s source chain (`error` included).
#[cfg_attr(not(feature = "rustls"), allow(dead_code))]
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        // An io::Error's `source()` skips the error it wraps; step into it instead.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedactedUrl;

    #[test]
    fn status_table() {
        use Class::*;
        let table: &[(u16, Class)] = &[
            (200, Permanent), // not a failure at all; never retried
            (301, Permanent),
            (400, Permanent),
            (401, Permanent),
            (403, Permanent),
            (404, Permanent),
            (405, Permanent),
            (407, Permanent),
            (408, Transient),
            (409, Permanent),
            (416, Permanent),
            (424, Permanent),
            (425, Transient),
            (426, Permanent),
            (429, Transient),
            (431, Permanent),
            (451, Permanent),
            (498, Permanent),
            (499, Transient),
            (500, Transient),
            (501, Permanent),
            (502, Transient),
            (503, Transient),
            (504, Transient),
            (505, Permanent),
            (506, Transient),
            (507, Transient),
            (508, Transient),
            (510, Transient),
            (511, Permanent),
            (520, Transient),
            (599, Transient),
        ];
        for &(code, want) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify_status(status), want, "{code}");
        }
    }

    fn url() -> RedactedUrl {
        RedactedUrl::new("https://r.example/v2/a/blobs/x")
    }

    #[test]
    fn error_table() {
        let connection = Error::Connection {
            method: http::Method::GET,
            url: url(),
            source: "connection reset by peer".into(),
        };
        assert_eq!(classify(&connection), Class::Transient);
        let stalled = Error::Stalled {
            method: http::Method::GET,
            url: url(),
            timeout: std::time::Duration::from_secs(60),
        };
        assert_eq!(classify(&stalled), Class::Transient);
        let status = |code| {
            Error::from(crate::HttpError {
                method: http::Method::GET,
                url: url(),
                status: StatusCode::from_u16(code).unwrap(),
                error_body: None,
                body: Default::default(),
                retry_after: None,
            })
        };
        assert_eq!(classify(&status(503)), Class::Transient);
        assert_eq!(classify(&status(404)), Class::Permanent);
        let digest = Error::DigestMismatch {
            url: url(),
            subject: crate::DigestSubject::Blob,
            mismatch: ocipull_spec::DigestMismatch {
                expected: ocipull_spec::Digest::sha256(b"a"),
                actual: ocipull_spec::Digest::sha256(b"b"),
            },
        };
        assert_eq!(classify(&digest), Class::Permanent);
        let too_large = Error::TooLarge {
            url: url(),
            what: "manifest",
            limit: 1,
        };
        assert_eq!(classify(&too_large), Class::Permanent);
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn untrusted_certificates_are_permanent() {
        // As hyper-util reports it: io::Error(Other, io::Error(InvalidData, rustls::Error)).
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let wrapped: crate::BoxError = Box::new(std::io::Error::other(io));
        let err = Error::Connection {
            method: http::Method::GET,
            url: url(),
            source: wrapped,
        };
        assert_eq!(classify(&err), Class::Permanent);
    }
}
