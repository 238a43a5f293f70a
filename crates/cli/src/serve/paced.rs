//! Writing a log in batches: a writer that, after each flush, lets lines gather for a
//! moment before the next batch.
//!
//! Both logs of `ocipull serve` hand lines to a thread of their own, which writes what is
//! queued and flushes whenever the queue is drained. Under load that thread drained the
//! queue after every line or two, so every request paid for waking it (a futex call on
//! each side) and for a `write` of its own line: case 10 of `cargo xtask bench` measured the
//! default stderr log at 15–20% of the requests/s. Pausing [`PACE`] after each flush lets the
//! next batch gather in the queue meanwhile: senders find the thread busy (no wake-up), and
//! each `write` carries hundreds of lines. A line still reaches the file within about
//! [`PACE`] of being logged; an idle server's thread sleeps until the next line.

use std::io::{self, Write};
use std::time::Duration;

/// How long lines gather after a flush: short enough that a reader tailing the log sees
/// each line within a frame of a second, long enough that a busy server writes a few dozen
/// times a second rather than once per request.
pub(crate) const PACE: Duration = Duration::from_millis(20);

/// The buffer each batch is written through.
const BUFFER: usize = 64 * 1024;

/// A buffered writer whose `flush` writes the batch out and then pauses for `pace`.
#[derive(Debug)]
pub(crate) struct Paced<W: Write> {
    inner: io::BufWriter<W>,
    pace: Duration,
}

impl<W: Write> Paced<W> {
    /// `inner` written in batches, pausing [`PACE`] after each.
    pub(crate) fn new(inner: W) -> Paced<W> {
        Paced::with_pace(inner, PACE)
    }

    /// `inner` written in batches, pausing `pace` after each.
    pub(crate) fn with_pace(inner: W, pace: Duration) -> Paced<W> {
        Paced {
            inner: io::BufWriter::with_capacity(BUFFER, inner),
            pace,
        }
    }
}

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        // Only the writer thread calls this (between batches), never a request.
        std::thread::sleep(self.pace);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each `write` it gets.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_go_out_together_at_the_flush_and_not_before() {
        let writes = Writes::default();
        let mut paced = Paced::with_pace(writes.clone(), Duration::ZERO);
        for n in 0..100 {
            writeln!(paced, "request {n}").unwrap();
        }
        assert!(
            writes.0.lock().unwrap().is_empty(),
            "written before the flush"
        );
        paced.flush().unwrap();
        let got = writes.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "one write for the whole batch");
        let text = String::from_utf8(got.concat()).unwrap();
        assert!(text.starts_with("request 0\n") && text.ends_with("request 99\n"));
    }

    #[test]
    fn a_failing_writer_fails_the_flush() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut paced = Paced::with_pace(Broken, Duration::ZERO);
        paced.write_all(b"line\n").unwrap();
        assert!(paced.flush().is_err());
    }
}
