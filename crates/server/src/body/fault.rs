//! A body wrapper that applies the body faults: cut, truncate, corrupt, stall.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::{Body, BoxError};
use crate::testing::Fault;

/// The error a body cut by [`Fault::CutAfter`](crate::Fault::CutAfter) ends with; hyper
/// aborts the connection when it sees it. A caller of the [`Server`](crate::Server) service
/// in-process can downcast the body's error to it.
#[derive(Debug, thiserror::Error)]
#[error("fault injection: connection cut after {after} body bytes")]
#[non_exhaustive]
pub struct ConnectionCut {
    /// Bytes sent before the cut.
    pub after: u64,
}

/// Wraps `body` when `faults` holds body faults; returns it unchanged otherwise.
///
/// `flush_pause` is how long a cut or truncated body waits, before ending, for hyper to
/// flush what was sent: hyper drops a connection's unflushed output when a body fails, so
/// without the pause a client would see the connection close before the headers and first
/// bytes (see `ServerBuilder::fault_flush_pause`).
pub(crate) fn wrap(body: Body, faults: &[Fault], flush_pause: Duration) -> Body {
    let mut f = FaultBody {
        inner: body,
        flush_pause,
        pos: 0,
        held: None,
        cut: None,
        truncate: None,
        corrupt: Vec::new(),
        stall: None,
        sleep: None,
        flushed: false,
        done: false,
    };
    for fault in faults {
        match fault {
            Fault::CutAfter(n) => f.cut = Some(f.cut.map_or(*n, |c: u64| c.min(*n))),
            Fault::TruncateAfter(n) => {
                f.truncate = Some(f.truncate.map_or(*n, |t: u64| t.min(*n)));
            }
            Fault::Corrupt { offset } => f.corrupt.push(*offset),
            Fault::Stall { after, duration } => f.stall = Some((*after, *duration)),
            _ => {}
        }
    }
    if f.cut.is_none() && f.truncate.is_none() && f.corrupt.is_empty() && f.stall.is_none() {
        return f.inner;
    }
    Body::new(f)
}

struct FaultBody {
    inner: Body,
    /// The pause before a cut or truncation ends the body.
    flush_pause: Duration,
    /// Body bytes passed on so far.
    pos: u64,
    /// Bytes read from `inner` but not yet passed on (split at a fault boundary).
    held: Option<Bytes>,
    cut: Option<u64>,
    truncate: Option<u64>,
    corrupt: Vec<u64>,
    /// Still to come: stall after this many bytes, for this long.
    stall: Option<(u64, Duration)>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether the flush pause before a cut or truncation is over.
    flushed: bool,
    done: bool,
}

impl FaultBody {
    /// The next position where something happens, after `pos`.
    fn next_boundary(&self) -> Option<u64> {
        [self.cut, self.truncate, self.stall.map(|s| s.0)]
            .into_iter()
            .flatten()
            .filter(|b| *b > self.pos)
            .min()
    }

    fn corrupt(&self, chunk: Bytes) -> Bytes {
        let end = self.pos + chunk.len() as u64;
        let hits: Vec<u64> = self
            .corrupt
            .iter()
            .copied()
            .filter(|o| (self.pos..end).contains(o))
            .collect();
        if hits.is_empty() {
            return chunk;
        }
        let mut m = BytesMut::from(&chunk[..]);
        for o in hits {
            m[(o - self.pos) as usize] ^= 0xFF;
        }
        m.freeze()
    }
}

impl http_body::Body for FaultBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let cut = this.cut == Some(this.pos);
        if cut || this.truncate == Some(this.pos) {
            if !this.flushed {
                let pause = this.flush_pause;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                this.flushed = true;
            }
            this.done = true;
            return Poll::Ready(if cut {
                Some(Err(ConnectionCut { after: this.pos }.into()))
            } else {
                None
            });
        }
        if let Some((after, duration)) = this.stall {
            if after == this.pos {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(duration)));
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                this.stall = None;
            }
        }
        let chunk = match this.held.take() {
            Some(c) => c,
            None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            },
        };
        let mut chunk = chunk;
        if let Some(b) = this.next_boundary() {
            let room = b - this.pos;
            if (chunk.len() as u64) > room {
                this.held = Some(chunk.split_off(room as usize));
            }
        }
        let chunk = this.corrupt(chunk);
        this.pos += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    /// The inner body's hint: a truncated body still claims its full length.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
