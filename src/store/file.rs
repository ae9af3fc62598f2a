//! A byte range of an open file as an `AsyncRead` that reads straight into the caller's buffer
//! when the bytes are in the page cache, and goes through the blocking pool only when the disk
//! must be waited for.
//!
//! `tokio::fs::File` sends every read to the blocking pool and copies it twice (into its own
//! buffer, then into the caller's). For 64 concurrent downloads of page-cached originals that
//! hop and copy, not the disk, set the pace; `preadv2(RWF_NOWAIT)` reads cached pages on the
//! async worker and answers `EAGAIN` instead of sleeping on the disk.

use std::fs::File;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustix::io::{Errno, ReadWriteFlags};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::task::JoinHandle;

/// The most one read on the blocking pool fetches: the pages after it are then usually in the
/// page cache (the kernel reads ahead), and the next reads need no thread.
const BLOCKING_READ_MAX: u64 = 256 * 1024;

/// Bytes `start..start + len` of `file`, read as they are asked for. Ends early, without an
/// error, only when the file is shorter than the range (it was truncated while open).
pub struct FileBody {
    file: Arc<File>,
    offset: u64,
    left: u64,
    /// Whether the file system accepts `RWF_NOWAIT`; cleared the first time it refuses.
    nowait: bool,
    state: State,
}

enum State {
    Idle,
    /// A read waiting on the disk, on the blocking pool.
    Waiting(JoinHandle<io::Result<Vec<u8>>>),
    /// What such a read returned and the caller has not taken yet, from `at`.
    Spill {
        bytes: Vec<u8>,
        at: usize,
    },
}

impl FileBody {
    pub fn new(file: File, start: u64, len: u64) -> Self {
        Self { file: Arc::new(file), offset: start, left: len, nowait: true, state: State::Idle }
    }

    /// The bytes not yet read.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    fn consumed(&mut self, n: usize) {
        self.offset += n as u64;
        self.left = self.left.saturating_sub(n as u64);
    }
}

impl AsyncRead for FileBody {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Spill { bytes, at } => {
                    let n = buf.remaining().min(bytes.len() - *at);
                    buf.put_slice(&bytes[*at..*at + n]);
                    *at += n;
                    if *at == bytes.len() {
                        this.state = State::Idle;
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Waiting(handle) => {
                    let read = ready!(Pin::new(handle).poll(cx));
                    this.state = State::Idle;
                    let bytes = read.map_err(io::Error::other)??;
                    if bytes.is_empty() {
                        // Truncated under us: the body ends here and the client sees it short.
                        this.left = 0;
                        return Poll::Ready(Ok(()));
                    }
                    this.consumed(bytes.len());
                    this.state = State::Spill { bytes, at: 0 };
                }
                State::Idle => {
                    let want = usize::try_from(this.left).unwrap_or(usize::MAX).min(buf.remaining());
                    if want == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    if this.nowait {
                        let dst = &mut [IoSliceMut::new(buf.initialize_unfilled_to(want))];
                        let read = rustix::io::preadv2(&*this.file, dst, this.offset, ReadWriteFlags::NOWAIT);
                        match read {
                            Ok(0) => {
                                this.left = 0;
                                return Poll::Ready(Ok(()));
                            }
                            Ok(n) => {
                                buf.advance(n);
                                this.consumed(n);
                                return Poll::Ready(Ok(()));
                            }
                            Err(Errno::AGAIN) => {}
                            Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => this.nowait = false,
                            Err(Errno::INTR) => continue,
                            Err(e) => return Poll::Ready(Err(e.into())),
                        }
                    }
                    let (file, offset) = (this.file.clone(), this.offset);
                    let len = this.left.min(BLOCKING_READ_MAX) as usize;
                    this.state = State::Waiting(tokio::task::spawn_blocking(move || {
                        let mut bytes = vec![0; len];
                        let n = loop {
                            match file.read_at(&mut bytes, offset) {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                read => break read?,
                            }
                        };
                        bytes.truncate(n);
                        Ok(bytes)
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().expect("tmp");
        std::io::Write::write_all(&mut tmp, bytes).expect("write");
        let file = File::open(tmp.path()).expect("open");
        (tmp, file)
    }

    #[tokio::test]
    async fn reads_exactly_the_range_in_small_and_large_pieces() {
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let (_tmp, file) = file_with(&bytes);
        let file = Arc::new(file);
        for (start, len, piece) in [(0, 700_000, 64 * 1024), (1000, 5000, 7), (699_999, 1, 4096), (3, 0, 10)] {
            let mut body = FileBody { file: file.clone(), offset: start, left: len, nowait: true, state: State::Idle };
            let mut got = Vec::new();
            let mut chunk = vec![0; piece];
            loop {
                let n = body.read(&mut chunk).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            assert!(got == bytes[start as usize..(start + len) as usize], "{start}+{len} by {piece}");
            assert_eq!(body.remaining(), 0);
        }
    }

    #[tokio::test]
    async fn the_blocking_pool_serves_what_nowait_cannot() {
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
        let (_tmp, file) = file_with(&bytes);
        // As on a file system without RWF_NOWAIT: every read goes through the pool, in pieces
        // of at most BLOCKING_READ_MAX handed out across several calls.
        let mut body = FileBody { nowait: false, ..FileBody::new(file, 10, 590_000) };
        let mut got = Vec::new();
        body.read_to_end(&mut got).await.expect("read");
        assert!(got == bytes[10..590_010], "the range's bytes, in order");
    }

    #[tokio::test]
    async fn a_range_past_the_end_of_a_truncated_file_ends_short() {
        let (_tmp, file) = file_with(b"0123456789");
        for nowait in [true, false] {
            let file = file.try_clone().expect("clone");
            let mut body = FileBody { nowait, ..FileBody::new(file, 4, 100) };
            let mut got = Vec::new();
            body.read_to_end(&mut got).await.expect("read");
            assert_eq!(got, b"456789");
        }
    }
}
