//! Which endpoint a request path names (distribution-spec "Endpoints", pull category).

/// An endpoint, with the path parts still as text (validated by the handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`.
    Base,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository name.
        name: &'a str,
        /// Tag or digest.
        reference: &'a str,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository name.
        name: &'a str,
        /// Digest.
        digest: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/…` (push only).
    Upload,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// Repository name.
        name: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository name.
        name: &'a str,
        /// Digest of the subject.
        digest: &'a str,
    },
    /// Anything else.
    Unknown,
}

/// Maps a request path to its endpoint. `<name>` may hold slashes, so the endpoint is found
/// from the end of the path.
pub fn route(path: &str) -> Route<'_> {
    if path == "/v2" || path == "/v2/" {
        return Route::Base;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return non_empty(name).map_or(Route::Unknown, |name| Route::Tags { name });
    }
    if rest.contains("/blobs/uploads") {
        return Route::Upload;
    }
    let Some((head, last)) = rest.rsplit_once('/') else {
        return Route::Unknown;
    };
    let Some((name, kind)) = head.rsplit_once('/') else {
        return Route::Unknown;
    };
    let (Some(name), Some(last)) = (non_empty(name), non_empty(last)) else {
        return Route::Unknown;
    };
    match kind {
        "manifests" => Route::Manifest {
            name,
            reference: last,
        },
        "blobs" => Route::Blob { name, digest: last },
        "referrers" => Route::Referrers { name, digest: last },
        _ => Route::Unknown,
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            (
                "/v2/a/manifests/v1",
                Route::Manifest {
                    name: "a",
                    reference: "v1",
                },
            ),
            (
                "/v2/a/b/manifests/manifests/sha256:x",
                Route::Manifest {
                    name: "a/b/manifests",
                    reference: "sha256:x",
                },
            ),
            (
                "/v2/a/blobs/sha256:x",
                Route::Blob {
                    name: "a",
                    digest: "sha256:x",
                },
            ),
            ("/v2/a/tags/list", Route::Tags { name: "a" }),
            (
                "/v2/a/b/referrers/d",
                Route::Referrers {
                    name: "a/b",
                    digest: "d",
                },
            ),
            ("/v2/a/blobs/uploads/", Route::Upload),
            ("/v2/a/blobs/uploads/123", Route::Upload),
            ("/v2/a/manifests/", Route::Unknown),
            ("/v2//manifests/x", Route::Unknown),
            ("/v2/tags/list", Route::Unknown),
            ("/v2/a/other/x", Route::Unknown),
            ("/v2/a", Route::Unknown),
            ("/", Route::Unknown),
            ("/v3/a/manifests/x", Route::Unknown),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }
}
