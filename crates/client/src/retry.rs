//! The retry loop: a backoff per operation, `Retry-After`, the caller's deadline.
//!
//! Retrying is per operation, not per HTTP request: one backoff sequence covers every
//! attempt of a `read` or a `blob`, including the resumes of a blob stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::{Backoff, BackoffBuilder, ExponentialBuilder};
use futures_util::future::BoxFuture;
use http::HeaderMap;
use tokio::time::Instant;

use crate::{Class, Error, classify};

/// Makes a fresh backoff sequence for each operation.
pub type BackoffFactory = Arc<dyn Fn() -> Box<dyn Backoff> + Send + Sync>;

/// Called before each retry with the error and the delay about to be slept.
pub type RetryNotify = Arc<dyn Fn(&Error, Duration) + Send + Sync>;

/// First delay of the default backoff: long enough for a restarted registry process or a
/// dropped connection to recover, short enough not to be noticed.
pub const DEFAULT_MIN_DELAY: Duration = Duration::from_millis(200);

/// Longest delay of the default backoff, before jitter.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);

/// Retries of the default backoff (so at most six attempts): with the delays above, a
/// failing registry is given about half a minute.
pub const DEFAULT_MAX_RETRIES: usize = 5;

/// The longest `Retry-After` the client waits for. A registry asking for more (Docker Hub's
/// rate limit says hours) gets the error returned to the caller instead of a hung process.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// The default backoff: exponential from [`DEFAULT_MIN_DELAY`] to [`DEFAULT_MAX_DELAY`] with
/// jitter (so many clients failing together do not retry together), [`DEFAULT_MAX_RETRIES`]
/// times.
pub fn default_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(DEFAULT_MIN_DELAY)
        .with_max_delay(DEFAULT_MAX_DELAY)
        .with_max_times(DEFAULT_MAX_RETRIES)
        .with_jitter()
}

/// A factory from a backon builder.
pub(crate) fn factory<B>(builder: B) -> BackoffFactory
where
    B: BackoffBuilder + Clone + 'static,
{
    Arc::new(move || Box::new(builder.clone().build()) as Box<dyn Backoff>)
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, the latter
/// relative to `now`. A date in the past means no delay; anything else is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // An absurdly long number saturates; MAX_RETRY_AFTER then refuses it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// What a retry loop reports to whoever drives the operation (the pull module's events).
pub(crate) trait Observer: Send + Sync {
    /// A retry is about to wait `delay`; `attempt` counts from 1.
    fn retry(&self, attempt: u32, delay: Duration, error: &Error);
    /// A request continues a blob from `offset` with `Range`.
    fn resumed(&self, _offset: u64) {}
    /// A mirror failed (after its retries) and the next endpoint is tried.
    fn endpoint_skipped(&self, _endpoint: &str, _error: &Error) {}
    /// A response arrived (for rate-limit headers).
    fn response(&self, _headers: &HeaderMap) {}
}

/// The retry state of one operation.
pub(crate) struct Retrier {
    backoff: Option<Box<dyn Backoff>>,
    attempt: u32,
    deadline: Option<Instant>,
    notify: Option<RetryNotify>,
    observer: Option<Arc<dyn Observer>>,
}

impl Retrier {
    pub(crate) fn new(
        factory: Option<&BackoffFactory>,
        notify: Option<RetryNotify>,
        deadline: Option<Instant>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Retrier {
        Retrier {
            backoff: factory.map(|f| f()),
            attempt: 0,
            deadline,
            notify,
            observer,
        }
    }

    /// The delay before the next attempt after `error`, or `None` to give up: the error is
    /// permanent, the backoff is exhausted (or absent), `Retry-After` asks for more than
    /// [`MAX_RETRY_AFTER`], or the wait would end after the deadline.
    pub(crate) fn next_delay(&mut self, error: &Error) -> Option<Duration> {
        if classify(error) == Class::Permanent {
            return None;
        }
        let mut delay = self.backoff.as_mut()?.next()?;
        if let Some(after) = error.retry_after() {
            if after > MAX_RETRY_AFTER {
                return None;
            }
            delay = delay.max(after);
        }
        if let Some(deadline) = self.deadline {
            if Instant::now() + delay > deadline {
                return None;
            }
        }
        self.attempt += 1;
        tracing::debug!(attempt = self.attempt, ?delay, %error, "retrying");
        if let Some(notify) = &self.notify {
            notify(error, delay);
        }
        if let Some(observer) = &self.observer {
            observer.retry(self.attempt, delay, error);
        }
        Some(delay)
    }

    /// Sleeps before the next attempt; `false` means give up and return `error`.
    pub(crate) async fn wait(&mut self, error: &Error) -> bool {
        match self.next_delay(error) {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }

    /// Runs `attempt` on `state` until it succeeds or [`Retrier::wait`] gives up: the loop
    /// of [`Retrier::run`] for an attempt that changes state the next attempt continues
    /// from (a blob stream resuming with `Range` where the last attempt stopped).
    pub(crate) async fn run_with<S, T>(
        &mut self,
        state: &mut S,
        mut attempt: impl for<'a> FnMut(&'a mut S) -> BoxFuture<'a, Result<T, Error>>,
    ) -> Result<T, Error> {
        loop {
            match attempt(state).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if !self.wait(&error).await {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// Runs `attempt` until it succeeds or [`Retrier::wait`] gives up.
    pub(crate) async fn run<T, F, Fut>(&mut self, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if !self.wait(&error).await {
                        return Err(error);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpError, RedactedUrl};
    use std::sync::Mutex;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        for junk in ["", "-1", "1.5", "soon", "Tue, 99 Foo 2020"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    fn status(code: u16, retry_after: Option<Duration>) -> Error {
        HttpError {
            method: http::Method::GET,
            url: RedactedUrl::new("https://r.example/v2/"),
            status: http::StatusCode::from_u16(code).unwrap(),
            error_body: None,
            body: Default::default(),
            retry_after,
        }
        .into()
    }

    fn constant(delay: Duration, times: usize) -> BackoffFactory {
        factory(
            backon::ConstantBuilder::default()
                .with_delay(delay)
                .with_max_times(times),
        )
    }

    #[test]
    fn retry_after_raises_the_delay_and_is_capped() {
        let f = constant(Duration::from_millis(10), 10);
        let mut r = Retrier::new(Some(&f), None, None, None);
        assert_eq!(
            r.next_delay(&status(503, None)),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            r.next_delay(&status(429, Some(Duration::from_secs(3)))),
            Some(Duration::from_secs(3))
        );
        // A Retry-After shorter than the backoff does not shorten it.
        assert_eq!(
            r.next_delay(&status(503, Some(Duration::ZERO))),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            r.next_delay(&status(429, Some(MAX_RETRY_AFTER + Duration::from_secs(1)))),
            None
        );
    }

    #[test]
    fn permanent_errors_exhaustion_and_no_factory_give_up() {
        let f = constant(Duration::from_millis(1), 2);
        let mut r = Retrier::new(Some(&f), None, None, None);
        assert_eq!(r.next_delay(&status(404, None)), None);
        assert!(r.next_delay(&status(500, None)).is_some());
        assert!(r.next_delay(&status(500, None)).is_some());
        assert_eq!(r.next_delay(&status(500, None)), None);
        let mut none = Retrier::new(None, None, None, None);
        assert_eq!(none.next_delay(&status(503, None)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn never_sleeps_past_the_deadline() {
        let f = constant(Duration::from_secs(5), 10);
        let deadline = Instant::now() + Duration::from_secs(12);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let notify: RetryNotify = Arc::new(move |e, d| s.lock().unwrap().push((e.status(), d)));
        let mut r = Retrier::new(Some(&f), Some(notify), Some(deadline), None);
        let mut attempts = 0;
        let result: Result<(), Error> = r
            .run(|| {
                attempts += 1;
                async { Err(status(502, None)) }
            })
            .await;
        assert_eq!(result.unwrap_err().status().map(|s| s.as_u16()), Some(502));
        // Two waits of 5 s fit before the 12 s deadline; a third would end at 15 s.
        assert_eq!(attempts, 3);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen.iter()
                .all(|(s, d)| s.map(|s| s.as_u16()) == Some(502) && *d == Duration::from_secs(5))
        );
        assert!(Instant::now() <= deadline);
    }

    #[test]
    fn default_backoff_has_jitter_and_a_limit() {
        let f = factory(default_backoff());
        let delays: Vec<Duration> = f().collect();
        assert_eq!(delays.len(), DEFAULT_MAX_RETRIES);
        for d in &delays {
            assert!(
                *d >= DEFAULT_MIN_DELAY && *d <= DEFAULT_MAX_DELAY * 2,
                "{d:?}"
            );
        }
    }
}
