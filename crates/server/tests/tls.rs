//! HTTPS: a generated CA a client trusts, ALPN h2 and http/1.1, a given certificate pair,
//! and failed handshakes reported to the event sink; per-connection shaping over real
//! connections.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ocipull_server::{Event, Server, Tls};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;

/// A TLS client trusting `ca_pem`, offering `alpn`.
fn connector(ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// GETs `/v2/` over TLS to `name` at `addr`: (negotiated ALPN, status).
async fn get_base(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    name: &str,
) -> std::io::Result<(Option<Vec<u8>>, u16)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let tls = connector.connect(name, tcp).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(tls);
    let request = http::Request::get(format!("https://{addr}/v2/"))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let status = if alpn.as_deref() == Some(b"h2") {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        let r = send.send_request(request).await.unwrap();
        let status = r.status().as_u16();
        r.into_body().collect().await.unwrap();
        status
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let r = send.send_request(request).await.unwrap();
        r.status().as_u16()
    };
    Ok((alpn, status))
}

#[tokio::test]
async fn a_generated_ca_is_trusted_for_every_loopback_name_over_h2_and_http1() {
    let tls = Tls::generate(["registry.test"]).unwrap();
    let ca = tls.ca_pem().unwrap().to_owned();
    let running = Server::builder().tls(tls).build().spawn().unwrap();
    assert!(running.url().starts_with("https://"));
    for (alpn, want) in [(&b"h2"[..], &b"h2"[..]), (b"http/1.1", b"http/1.1")] {
        for name in ["localhost", "127.0.0.1"] {
            let c = connector(&ca, &[alpn]);
            let (got, status) = get_base(&c, running.addr(), name).await.unwrap();
            assert_eq!(got.as_deref(), Some(want), "{name}");
            assert_eq!(status, 200);
        }
    }
}

#[tokio::test]
async fn a_given_pair_is_served_and_failed_handshakes_are_reported() {
    let pair = rcgen::generate_simple_self_signed(["localhost".to_owned()]).unwrap();
    let cert_pem = pair.cert.pem();
    let tls = Tls::from_pem(
        cert_pem.as_bytes(),
        pair.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    assert!(tls.ca_pem().is_none());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let running = Server::builder()
        .tls(tls)
        .on_event(move |e| seen.lock().unwrap().push(e))
        .build()
        .spawn()
        .unwrap();
    let trusting = connector(&cert_pem, &[b"http/1.1"]);
    let (_, status) = get_base(&trusting, running.addr(), "localhost")
        .await
        .unwrap();
    assert_eq!(status, 200);
    // A client trusting another CA fails the handshake, and the server reports it.
    let other = Tls::generate(Vec::<String>::new()).unwrap();
    let c = connector(other.ca_pem().unwrap(), &[b"h2"]);
    assert!(get_base(&c, running.addr(), "localhost").await.is_err());
    // The report comes from the server's task: wait for it, with a generous bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let failed = events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::TlsHandshakeFailed { .. }));
        if failed {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no handshake event");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The successful request was reported too, with its bytes.
    let requests: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].bytes_sent, Some(2), "the `{{}}` body of /v2/");
}
