//! A minimal blocking HTTP/1.1 client over `std::net`, one request per
//! connection (`Connection: close`): enough to fill a registry and to drive
//! downloads with as little client overhead as possible.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// Largest response head accepted (RFC 9112 sets no limit; servers use 8–64 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// These bytes.
    Bytes(&'a [u8]),
    /// The content of this file, streamed.
    File(&'a Path),
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, read until the server closed the connection.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Sends one request to `addr` (`host:port`) and reads the whole response.
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
) -> crate::Result<Response> {
    let mut stream =
        TcpStream::connect(addr).map_err(|error| format!("connect {addr}: {error}"))?;
    let length = match body {
        Body::Empty => None,
        Body::Bytes(bytes) => Some(bytes.len() as u64),
        Body::File(path) => Some(path.metadata()?.len()),
    };
    let head = request_head(addr, method, target, headers, length);
    stream.write_all(head.as_bytes())?;
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => stream.write_all(bytes)?,
        Body::File(path) => {
            io::copy(&mut File::open(path)?, &mut stream)?;
        }
    }
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    let (status, headers, head_len) =
        parse_head(&buf)?.ok_or_else(|| format!("{method} {target}: incomplete response head"))?;
    Ok(Response {
        status,
        headers,
        body: buf[head_len..].to_vec(),
    })
}

/// GETs `target` and reads the body into `buf` repeatedly, keeping nothing.
/// Returns the body length; fails unless the status is 200 and exactly
/// `Content-Length` bytes arrive.
pub fn get_discard(
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
    buf: &mut [u8],
) -> crate::Result<u64> {
    let mut stream =
        TcpStream::connect(addr).map_err(|error| format!("connect {addr}: {error}"))?;
    stream.write_all(request_head(addr, "GET", target, headers, None).as_bytes())?;
    let mut filled = 0;
    let (status, headers, head_len) = loop {
        let read = stream.read(&mut buf[filled..])?;
        if read == 0 {
            return Err(format!("GET {target}: connection closed in the response head").into());
        }
        filled += read;
        if let Some(head) = parse_head(&buf[..filled])? {
            break head;
        }
        if filled >= MAX_HEAD.min(buf.len()) {
            return Err(format!("GET {target}: response head over {filled} bytes").into());
        }
    };
    if status != 200 {
        return Err(format!("GET {target}: status {status}").into());
    }
    let length: u64 = header(&headers, "content-length")
        .ok_or_else(|| format!("GET {target}: no Content-Length"))?
        .parse()?;
    let mut received = (filled - head_len) as u64;
    while received < length {
        match stream.read(buf)? {
            0 => {
                return Err(
                    format!("GET {target}: closed after {received} of {length} bytes").into(),
                );
            }
            read => received += read as u64,
        }
    }
    if received != length {
        return Err(format!("GET {target}: {received} bytes for Content-Length {length}").into());
    }
    Ok(length)
}

fn request_head(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    length: Option<u64>,
) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    head
}

type Head = (u16, Vec<(String, String)>, usize);

/// Parses a response head from the start of `buf`: `None` until the blank line
/// that ends it has arrived.
fn parse_head(buf: &[u8]) -> crate::Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end])?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_parses_only_once_complete() {
        let response =
            b"HTTP/1.1 202 Accepted\r\nLocation: /up?x=1\r\nContent-Length: 0\r\n\r\nrest";
        assert!(parse_head(&response[..20]).unwrap().is_none());
        let (status, headers, len) = parse_head(response).unwrap().unwrap();
        assert_eq!(status, 202);
        assert_eq!(header(&headers, "location"), Some("/up?x=1"));
        assert_eq!(&response[len..], b"rest");
    }

    #[test]
    fn a_garbled_status_line_is_an_error() {
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
