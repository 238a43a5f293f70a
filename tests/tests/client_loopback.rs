//! The default scheme against a plain-HTTP registry on a loopback host: HTTPS is tried,
//! the plain-HTTP answer is recognised, and the client speaks HTTP from then on — once
//! per client, not once per request.

mod client_support;

use std::sync::{Arc, Mutex};

use client_support::*;
use ocipull_client::{Client, Error, RequestBody, Scheme};
use ocipull_server::Server;
use ocipull_spec::Tag;
use ocipull_spec::fixtures::Image;

/// A layer recording the scheme of every request the transport sends.
fn schemes(
    seen: Arc<Mutex<Vec<String>>>,
) -> tower::util::MapRequestLayer<
    impl Fn(http::Request<RequestBody>) -> http::Request<RequestBody> + Clone,
> {
    tower::util::MapRequestLayer::new(move |request: http::Request<RequestBody>| {
        let scheme = request.uri().scheme_str().unwrap_or("").to_owned();
        seen.lock().unwrap().push(scheme);
        request
    })
}

#[tokio::test]
async fn the_default_scheme_reaches_a_plain_loopback_registry_falling_back_once() {
    let img = Image::builder(61).layers_raw([1000]).build();
    let running = logged_server(&img);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(running.host(), repo())
        .layer(schemes(seen.clone()))
        .backoff_builder(fast_retries(2))
        .build()
        .unwrap();
    assert_eq!(client.scheme(), Scheme::Auto);
    let tag: Tag = "v1".parse().unwrap();
    let manifest = client.read(&tag).await.unwrap();
    assert_eq!(manifest.digest(), img.manifest().digest());
    // A clone shares the decision: no second HTTPS attempt.
    let clone = client.clone();
    clone.read(img.manifest().digest()).await.unwrap();
    clone.head(&tag).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "https", "{seen:?}");
    assert!(seen[1..].iter().all(|s| s == "http"), "{seen:?}");
    assert_eq!(seen.iter().filter(|s| *s == "https").count(), 1, "{seen:?}");
    // The server answered every plain-HTTP request, and only those.
    let log = running.server().request_log().unwrap().records();
    assert_eq!(log.len(), seen.len() - 1, "{log:?}");
    assert!(log.iter().all(|r| r.status.is_success()), "{log:?}");
}

#[tokio::test]
async fn explicit_https_never_falls_back() {
    let server = Server::builder().request_log(true).build();
    let running = spawn(server);
    let client = Client::builder(running.host(), repo())
        .scheme(Scheme::Https)
        .no_retries()
        .build()
        .unwrap();
    let tag: Tag = "v1".parse().unwrap();
    let err = client.read(&tag).await.unwrap_err();
    // The error says the registry speaks plain HTTP and which setting to use.
    assert!(matches!(err, Error::PlainHttpServer { .. }), "{err:?}");
    assert!(err.to_string().contains("Scheme::Http"), "{err}");
    assert!(running.server().request_log().unwrap().is_empty());
}

#[tokio::test]
async fn the_default_scheme_speaks_https_to_a_tls_loopback_registry() {
    let img = Image::builder(62).layers_raw([1000]).build();
    let tls = ocipull_server::Tls::generate(Vec::<String>::new()).unwrap();
    let ca = tls.ca_pem().expect("a generated pair has a CA").to_owned();
    let server = Server::builder().request_log(true).tls(tls).build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(running.host(), repo())
        .ca_certificate_pem(ca)
        .layer(schemes(seen.clone()))
        .backoff_builder(fast_retries(2))
        .build()
        .unwrap();
    let tag: Tag = "v1".parse().unwrap();
    let manifest = client.read(&tag).await.unwrap();
    assert_eq!(manifest.digest(), img.manifest().digest());
    // A TLS answer is never mistaken for plain HTTP: every request stays HTTPS.
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "https"),
        "{seen:?}"
    );
    assert_eq!(running.server().request_log().unwrap().len(), seen.len());
}

#[tokio::test]
async fn an_untrusted_tls_loopback_registry_is_an_error_not_a_fallback() {
    let img = Image::builder(63).layers_raw([1000]).build();
    let server = Server::builder()
        .request_log(true)
        .tls(ocipull_server::Tls::generate(Vec::<String>::new()).unwrap())
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(running.host(), repo())
        .layer(schemes(seen.clone()))
        .no_retries()
        .build()
        .unwrap();
    let tag: Tag = "v1".parse().unwrap();
    let err = client.read(&tag).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    // The certificate is refused: the client does not retry the request in plain HTTP.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s == "https"), "{seen:?}");
    assert!(running.server().request_log().unwrap().is_empty());
}
