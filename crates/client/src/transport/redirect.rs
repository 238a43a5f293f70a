//! Following redirects: blob downloads are commonly a 307 to a CDN.
//!
//! tower-http's `FollowRedirect` does the following; the policy here limits the hops and
//! removes `Authorization` (and cookies) whenever a hop changes origin, so a registry token
//! never reaches a CDN or any other host (distribution-spec "Pulling blobs": a registry may
//! redirect to another location; RFC 9110 §15.4 on redirection).

use http::Response;
use tower_http::follow_redirect::policy::{
    Action, And, Attempt, FilterCredentials, Limited, Policy, PolicyExt as _,
};
use tower_http::follow_redirect::{FollowRedirect, RequestUri};

use crate::RedactedUrl;

/// Redirects followed for one request: browsers follow about twenty; a registry needs one
/// or two (registry → CDN, perhaps CDN → region), so ten leaves room without looping long.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Follows only redirects to `http` and `https` URLs: a registry has no business sending
/// the client to `file:`, `ftp:` or any other scheme (the distribution-spec is HTTP only),
/// and a custom transport should never be handed such a URL. Other redirects are not
/// followed, so the client reports them as [`crate::Error::Redirect`], a permanent error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpSchemesOnly;

impl<B, E> Policy<B, E> for HttpSchemesOnly {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Result<Action, E> {
        let scheme = attempt.location().scheme_str();
        Ok(if matches!(scheme, Some("http" | "https")) {
            Action::Follow
        } else {
            Action::Stop
        })
    }
}

/// The redirect policy: at most [`MAX_REDIRECTS`] hops, http(s) only, credentials dropped
/// across origins.
type RedirectPolicy = And<And<Limited, HttpSchemesOnly>, FilterCredentials>;

/// Wraps `inner` in the redirect layer.
pub(crate) fn follow_redirects<S>(inner: S) -> FollowRedirect<S, RedirectPolicy> {
    FollowRedirect::with_policy(
        inner,
        Limited::new(MAX_REDIRECTS)
            .and::<_, super::RequestBody, crate::Error>(HttpSchemesOnly)
            .and::<_, super::RequestBody, crate::Error>(FilterCredentials::new()),
    )
}

/// The URL that finally answered (after redirects), redacted; `fallback` when unknown.
pub(crate) fn final_url<B>(response: &Response<B>, fallback: &http::Uri) -> RedactedUrl {
    let uri = response
        .extensions()
        .get::<RequestUri>()
        .map_or(fallback, |u| &u.0);
    RedactedUrl::from(uri)
}
