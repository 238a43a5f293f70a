//! A minimal blocking HTTP/1.0 GET over TCP or TLS, for probing registries
//! (readiness, challenges) without going through the client under test.
//!
//! One request per connection, `Connection: close`; the body is read up to
//! `Content-Length` or to end of stream. Not a general HTTP client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;

/// How long connecting, writing and reading may each take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text, lossily decoded.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET path` to `addr` with the extra `headers`, over TLS when `tls`
/// is given (the server name is the IP address of `addr`).
pub fn raw_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    tls: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<RawResponse> {
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");

    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let raw = match tls {
        None => exchange(tcp, request.as_bytes())?,
        Some(config) => {
            let name = ServerName::IpAddress(addr.ip().into());
            let connection =
                rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
            exchange(
                rustls::StreamOwned::new(connection, tcp),
                request.as_bytes(),
            )?
        }
    };
    parse(&raw)
}

/// Writes the request and reads until the peer closes (or the body announced
/// by `Content-Length` is complete).
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            // A TLS peer that closes without close_notify: what we have is all.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(error) => return Err(error),
        }
        if is_complete(&raw) {
            break;
        }
    }
    Ok(raw)
}

fn is_complete(raw: &[u8]) -> bool {
    let Some(head_end) = find_head_end(raw) else {
        return false;
    };
    let Ok(response) = parse_head(&raw[..head_end]) else {
        return false;
    };
    match content_length(&response) {
        Some(length) => raw.len() - (head_end + 4) >= length,
        None => false,
    }
}

fn find_head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|window| window == b"\r\n\r\n")
}

fn content_length(response: &RawResponse) -> Option<usize> {
    response.header("content-length")?.trim().parse().ok()
}

fn parse(raw: &[u8]) -> io::Result<RawResponse> {
    let head_end = find_head_end(raw).ok_or_else(|| invalid("no end of header"))?;
    let mut response = parse_head(&raw[..head_end])?;
    let mut body = raw[head_end + 4..].to_vec();
    if let Some(length) = content_length(&response) {
        body.truncate(length);
    }
    response.body = body;
    Ok(response)
}

fn parse_head(head: &[u8]) -> io::Result<RawResponse> {
    let head = std::str::from_utf8(head).map_err(|_| invalid("header is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(&format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: Vec::new(),
    })
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("HTTP response: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_and_body_up_to_content_length() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nWww-Authenticate: Bearer realm=\"x\"\r\n\r\nbodyEXTRA";
        let response = parse(raw).unwrap();
        assert_eq!(response.status, 401);
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some("Bearer realm=\"x\"")
        );
        assert_eq!(response.body, b"body");
        assert!(is_complete(raw));
        assert!(!is_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbo"
        ));
    }
}
