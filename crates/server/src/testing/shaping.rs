//! Traffic shaping: latency per request, and bandwidth per connection and in total, as rules
//! that match requests the way fault rules do — to emulate a registry 100 ms away, or a CDN
//! that caps each connection.
//!
//! Bandwidth is a token bucket per connection (and one shared by every connection for a
//! total cap): a body's bytes go out in chunks of at most a twentieth of the rate (and
//! 64 KiB), each waiting until the bucket has its bytes. So the bytes delivered by any time
//! `t` after the body starts are within one chunk plus the credit (20 ms of bytes, or one
//! chunk, after an idle spell or late chunks) of `rate × t`: within 10% over a second, and
//! the rate is kept when chunks' timers fire late, as they do on a busy machine. Waiting is on tokio's clock, so paused-clock tests see the rate
//! without waiting for it.
//!
//! "Per connection" means per TCP (or TLS) connection when the server is served over the
//! network by [`Server::serve`](crate::Server::serve) or a [`TestServer`](crate::TestServer):
//! every request of a connection (several on HTTP/1.1 keep-alive, concurrent streams on h2)
//! shares the connection's bucket. A [`Server`](crate::Server) mounted in another hyper
//! stack does not know connections, and the cap then applies per request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::matcher::{Counts, Matcher, matching_setters, next_rule_id};
use crate::body::{Body, BoxError};

/// The largest chunk a shaped body sends at once.
const MAX_CHUNK: u64 = 64 * 1024;
/// Chunks are at most this fraction of a second's worth of bytes (1/20: within 5%).
const CHUNKS_PER_SECOND: u64 = 20;
/// How far in the past a reservation may start (or one chunk's time, if longer): the
/// lateness of timers and writes that later chunks may make up. Timers fire on a 1 ms
/// grid, later on a busy machine; a 64 KiB chunk at 50 MB/s is due every 1.3 ms, so
/// without this margin eight such connections got about 32 MB/s each. It is also the most
/// credit an idle connection has: 20 ms, 2% of a second.
const CATCH_UP: Duration = Duration::from_millis(20);

/// A shaping rule: which requests (matched as [`FaultRule`](crate::FaultRule)s are) get
/// which latency and bandwidth.
///
/// ```
/// use std::time::Duration;
/// use ocipull_server::{Server, ShapingRule};
/// // A registry 100 ms away whose blobs come at 1 MiB/s per connection, 4 MiB/s in all.
/// let server = Server::builder()
///     .shaping(ShapingRule::new().latency(Duration::from_millis(100)))
///     .shaping(ShapingRule::path("/blobs/").connection_rate(1 << 20).total_rate(4 << 20))
///     .build();
/// ```
///
/// In JSON (see [`Rules`](crate::Rules)): the matching fields of fault rules plus
/// `latency_ms`, `connection_rate` and `total_rate` (bytes per second).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "crate::testing::rules::ShapingRuleDoc")]
#[serde(into = "crate::testing::rules::ShapingRuleDoc")]
pub struct ShapingRule {
    pub(crate) matcher: Matcher,
    pub(crate) latency: Option<Duration>,
    pub(crate) connection_rate: Option<u64>,
    pub(crate) total_rate: Option<u64>,
}

impl ShapingRule {
    /// A rule matching every request, shaping nothing yet.
    pub fn new() -> ShapingRule {
        ShapingRule::default()
    }

    matching_setters!(ShapingRule);

    /// Waits this long before answering each request the rule fires on (latencies of
    /// several rules add up). Default is none.
    pub fn latency(mut self, latency: Duration) -> ShapingRule {
        self.latency = Some(latency);
        self
    }

    /// Caps the response bytes of each connection to `bytes_per_second` (at least 1), over
    /// the requests this rule fires on. Default is no cap.
    pub fn connection_rate(mut self, bytes_per_second: u64) -> ShapingRule {
        self.connection_rate = Some(bytes_per_second.max(1));
        self
    }

    /// Caps the response bytes of all the requests this rule fires on, on every connection
    /// together, to `bytes_per_second` (at least 1). Default is no cap.
    pub fn total_rate(mut self, bytes_per_second: u64) -> ShapingRule {
        self.total_rate = Some(bytes_per_second.max(1));
        self
    }
}

/// A shaping rule installed on a server: its id and how often it matched and fired.
#[derive(Debug, Clone)]
pub struct ShapingHandle(Arc<Active>);

#[derive(Debug)]
struct Active {
    id: u64,
    rule: ShapingRule,
    counts: Counts,
    total: Option<Arc<Bucket>>,
}

impl ShapingHandle {
    /// How many requests matched the rule (fired or not).
    pub fn matched(&self) -> u64 {
        self.0.counts.matched()
    }

    /// How many times the rule fired.
    pub fn fired(&self) -> u64 {
        self.0.counts.fired()
    }

    /// The rule's id on its server, for
    /// [`Server::remove_shaping`](crate::Server::remove_shaping).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The rule as installed.
    pub fn rule(&self) -> &ShapingRule {
        &self.0.rule
    }
}

/// A token bucket of `rate` bytes per second: a reservation of `n` bytes starts when the
/// previous ones are paid for (or [`CATCH_UP`] or one chunk's time ago, if that is later).
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: u64,
    /// When the bytes reserved so far are paid for.
    paid_until: Mutex<Option<Instant>>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate: rate.max(1),
            paid_until: Mutex::new(None),
        }
    }

    fn chunk(&self) -> u64 {
        (self.rate / CHUNKS_PER_SECOND).clamp(1, MAX_CHUNK)
    }

    /// How long `n` bytes take at the bucket's rate.
    fn cost(&self, n: u64) -> Duration {
        let nanos = u128::from(n) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Reserves `n` bytes; they may be sent from the instant returned.
    ///
    /// A reservation may start up to [`CATCH_UP`] (or one chunk's time) in the past: when
    /// a chunk went out late (its timer fired late, or writing it took a while), the next
    /// ones catch up instead of the lateness being lost on every chunk — which kept a
    /// 50 MB/s connection at 45 MB/s alone and at 32 MB/s among eight. After an idle spell
    /// that is the credit, no more.
    fn reserve(&self, n: u64) -> Instant {
        let now = Instant::now();
        let mut paid = self.paid_until.lock().unwrap_or_else(|p| p.into_inner());
        let margin = self.cost(self.chunk()).max(CATCH_UP);
        let floor = now.checked_sub(margin).unwrap_or(now);
        let start = paid.map_or(now, |p| p.max(floor));
        let cost = self.cost(n);
        *paid = Some(start.checked_add(cost).unwrap_or(start));
        start
    }
}

/// What a served connection knows of itself, put in each of its requests' extensions by
/// `net.rs`: the per-connection buckets of the shaping rules, dropped with the connection.
#[derive(Debug, Default)]
pub(crate) struct ConnectionInfo {
    /// Whether the connection is TLS (for URLs the server hands out, such as token realms).
    pub(crate) tls: bool,
    pub(crate) buckets: Mutex<HashMap<u64, Arc<Bucket>>>,
}

impl ConnectionInfo {
    fn bucket(&self, rule: u64, rate: u64) -> Arc<Bucket> {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        b.entry(rule)
            .or_insert_with(|| Arc::new(Bucket::new(rate)))
            .clone()
    }
}

/// The shaping rules of one server, shared by its registry and CDN stacks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shaping {
    rules: Arc<Mutex<Vec<Arc<Active>>>>,
}

impl Shaping {
    pub(crate) fn add(&self, rule: ShapingRule) -> ShapingHandle {
        let active = Arc::new(Active {
            id: next_rule_id(),
            total: rule.total_rate.map(|r| Arc::new(Bucket::new(r))),
            rule,
            counts: Counts::default(),
        });
        self.lock().push(active.clone());
        ShapingHandle(active)
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|a| a.id != id);
        rules.len() != before
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn list(&self) -> Vec<ShapingHandle> {
        self.lock().iter().cloned().map(ShapingHandle).collect()
    }

    /// The latency and buckets for a request, counting matches and firings.
    fn pick(&self, request: &Request<()>) -> (Duration, Vec<Arc<Bucket>>) {
        let target = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path(), |p| p.as_str());
        let connection = request.extensions().get::<Arc<ConnectionInfo>>();
        let mut latency = Duration::ZERO;
        let mut buckets = Vec::new();
        for a in self.lock().iter() {
            if !a.rule.matcher.fire(&a.counts, request.method(), target) {
                continue;
            }
            latency = latency.saturating_add(a.rule.latency.unwrap_or_default());
            if let Some(rate) = a.rule.connection_rate {
                buckets.push(match connection {
                    Some(c) => c.bucket(a.id, rate),
                    None => Arc::new(Bucket::new(rate)),
                });
            }
            buckets.extend(a.total.clone());
        }
        (latency, buckets)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Active>>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The shaping rules as a layer, between the request log and the faults. In the stack only
/// when shaping is configured.
#[derive(Clone)]
pub(crate) struct ShapingLayer(pub(crate) Shaping);

impl<S> tower::Layer<S> for ShapingLayer {
    type Service = ShapingService<S>;
    fn layer(&self, inner: S) -> ShapingService<S> {
        ShapingService {
            inner,
            shaping: self.0.clone(),
        }
    }
}

/// Delays answers and paces their bodies.
#[derive(Clone)]
pub(crate) struct ShapingService<S> {
    inner: S,
    shaping: Shaping,
}

impl<S> tower::Service<Request<()>> for ShapingService<S>
where
    S: tower::Service<Request<()>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let (latency, buckets) = self.shaping.pick(&request);
        let inner = self.inner.clone();
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let response = inner.oneshot(request).await?;
            if buckets.is_empty() {
                return Ok(response);
            }
            Ok(response.map(|body| Body::new(Paced::new(body, buckets))))
        })
    }
}

/// A body whose chunks wait for their bytes in every bucket.
struct Paced {
    inner: Body,
    buckets: Vec<Arc<Bucket>>,
    chunk: u64,
    /// Bytes read but not yet sent.
    held: Option<Bytes>,
    /// The chunk waiting for its start, and the wait.
    ready: Option<(Bytes, Pin<Box<Sleep>>)>,
}

impl Paced {
    fn new(inner: Body, buckets: Vec<Arc<Bucket>>) -> Paced {
        let chunk = buckets.iter().map(|b| b.chunk()).min().unwrap_or(MAX_CHUNK);
        Paced {
            inner,
            buckets,
            chunk,
            held: None,
            ready: None,
        }
    }
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some((_, sleep)) = &mut this.ready {
                ready!(sleep.as_mut().poll(cx));
                if let Some((chunk, _)) = this.ready.take() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
            }
            let mut data = match this.held.take() {
                Some(d) => d,
                None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                    None => return Poll::Ready(None),
                    Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(d) => d,
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    },
                },
            };
            if data.is_empty() {
                continue;
            }
            let room = usize::try_from(this.chunk).unwrap_or(usize::MAX);
            if data.len() > room {
                this.held = Some(data.split_off(room));
            }
            let n = data.len() as u64;
            let start = this
                .buckets
                .iter()
                .map(|b| b.reserve(n))
                .max()
                .unwrap_or_else(Instant::now);
            this.ready = Some((data, Box::pin(tokio::time::sleep_until(start))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_none() && self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Server;
    use http_body_util::BodyExt;
    use ocipull_spec::{Descriptor, Digest, Manifest, media_type};

    const BLOB: usize = 400_000;

    /// A server with one image whose layer is `BLOB` bytes; the layer's path.
    fn server(rules: &[ShapingRule]) -> (Server, String) {
        let mut builder = Server::builder().runtime_shaping(true);
        for r in rules {
            builder = builder.shaping(r.clone());
        }
        let server = builder.build();
        let config = Bytes::from_static(b"{}");
        let layer = Bytes::from(vec![7u8; BLOB]);
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_IMAGE_MANIFEST,
            "config": Descriptor::new(media_type::OCI_IMAGE_CONFIG, Digest::sha256(&config), 2),
            "layers": [Descriptor::new(media_type::OCI_LAYER_TAR, Digest::sha256(&layer), BLOB as u64)],
        });
        let manifest =
            Manifest::from_bytes(serde_json::to_vec(&json).unwrap(), None, None).unwrap();
        let path = format!("/v2/s/app/blobs/{}", Digest::sha256(&layer));
        server
            .add(&"s/app".parse().unwrap(), None, manifest, [config, layer])
            .unwrap();
        (server, path)
    }

    /// Reads a body, noting (elapsed since `t0`, bytes so far) after every frame.
    async fn timeline(body: Body, t0: Instant) -> Vec<(Duration, u64)> {
        let mut body = body;
        let mut total = 0;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame.unwrap().into_data() {
                total += d.len() as u64;
                out.push((t0.elapsed(), total));
            }
        }
        out
    }

    /// Bytes delivered by `t`.
    fn by(timeline: &[(Duration, u64)], t: Duration) -> u64 {
        timeline
            .iter()
            .filter(|(at, _)| *at <= t)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }

    fn within_10_percent(got: u64, want: u64) -> bool {
        got.abs_diff(want) * 10 <= want
    }

    fn get(path: &str, connection: Option<&Arc<ConnectionInfo>>) -> Request<()> {
        let mut r = Request::get(path).body(()).unwrap();
        if let Some(c) = connection {
            r.extensions_mut().insert(c.clone());
        }
        r
    }

    #[tokio::test(start_paused = true)]
    async fn connection_rate_is_kept_within_ten_percent() {
        let rate = 100_000;
        let (server, path) = server(&[ShapingRule::path("/blobs/").connection_rate(rate)]);
        let t0 = Instant::now();
        let response = server.clone().oneshot(get(&path, None)).await.unwrap();
        assert_eq!(response.status(), 200);
        let line = timeline(response.into_body(), t0).await;
        for secs in 1..=3 {
            let got = by(&line, Duration::from_secs(secs));
            assert!(within_10_percent(got, rate * secs), "{got} by {secs}s");
        }
        assert_eq!(line.last().unwrap().1, BLOB as u64);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_of_one_connection_share_its_rate_and_others_do_not() {
        let rate = 50_000;
        let (server, path) = server(&[ShapingRule::path("/blobs/").connection_rate(rate)]);
        let one = Arc::new(ConnectionInfo::default());
        let other = Arc::new(ConnectionInfo::default());
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for c in [&one, &one, &other] {
            let r = server.clone().oneshot(get(&path, Some(c))).await.unwrap();
            lines.push(tokio::spawn(timeline(r.into_body(), t0)));
        }
        let mut got = Vec::new();
        for l in lines {
            got.push(by(&l.await.unwrap(), Duration::from_secs(2)));
        }
        assert!(within_10_percent(got[0] + got[1], 2 * rate), "{got:?}");
        assert!(within_10_percent(got[2], 2 * rate), "{got:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_total_cap_is_shared_by_connections() {
        let rate = 80_000;
        let (server, path) = server(&[ShapingRule::path("/blobs/").total_rate(rate)]);
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for _ in 0..3 {
            let c = Arc::new(ConnectionInfo::default());
            let r = server.clone().oneshot(get(&path, Some(&c))).await.unwrap();
            lines.push(tokio::spawn(timeline(r.into_body(), t0)));
        }
        let mut sum = 0;
        for l in lines {
            let line = l.await.unwrap();
            let mine = by(&line, Duration::from_secs(2));
            assert!(mine > 0, "every connection gets a share");
            sum += mine;
        }
        assert!(within_10_percent(sum, 2 * rate), "{sum}");
    }

    /// A reader that is late now and then (after every fourth chunk it waits 4 ms, three
    /// chunks' time at this rate) still gets the rate: the chunks after a late one are due
    /// already and go at once, instead of each starting a chunk's time after the last.
    #[tokio::test(start_paused = true)]
    async fn late_chunks_are_made_up() {
        let rate = 50_000_000;
        let (server, path) = server(&[ShapingRule::path("/blobs/").connection_rate(rate)]);
        let t0 = Instant::now();
        let response = server.clone().oneshot(get(&path, None)).await.unwrap();
        let mut body = response.into_body();
        let (mut total, mut frames, mut woke) = (0u64, 0u64, Duration::ZERO);
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame.unwrap().into_data() {
                total += d.len() as u64;
                frames += 1;
                if frames % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(4)).await;
                    woke = t0.elapsed();
                }
            }
        }
        assert_eq!(total, BLOB as u64);
        let took = t0.elapsed();
        let nominal = Duration::from_nanos(BLOB as u64 * 1_000_000_000 / rate);
        // Shaped still: not faster than the rate allows (less the first chunk, sent at once).
        assert!(
            took >= nominal * 8 / 10,
            "{took:?} for {nominal:?} of bytes"
        );
        // What came after the last late wake-up was due already: no chunk waited for it.
        assert!(
            took <= nominal.max(woke) + Duration::from_micros(100),
            "{took:?}: woke at {woke:?}, {nominal:?} of bytes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_answers_and_counts_like_fault_rules() {
        let (server, path) = server(&[]);
        let h = server
            .add_shaping(
                ShapingRule::path("/manifests/")
                    .latency(Duration::from_millis(100))
                    .nth(2),
            )
            .unwrap();
        let manifest = "/v2/s/app/manifests/sha256:00";
        for (p, want) in [
            (manifest, 0),
            (manifest, 100),
            (manifest, 0),
            (&path[..], 0),
        ] {
            let t0 = Instant::now();
            let _ = server.clone().oneshot(get(p, None)).await.unwrap();
            assert_eq!(t0.elapsed(), Duration::from_millis(want), "{p}");
        }
        assert_eq!((h.matched(), h.fired()), (3, 1));
        assert!(server.remove_shaping(h.id()));
        assert!(!server.remove_shaping(h.id()));
    }

    #[test]
    fn shaping_needs_to_be_configured() {
        let server = Server::new();
        let e = server.add_shaping(ShapingRule::new()).unwrap_err();
        assert!(e.to_string().contains("runtime_shaping"), "{e}");
    }
}
