//! Lingering close, as nginx does it: when a connection that answered ends, its write side is shut
//! first and what the client is still sending is read and discarded for a bounded time and size
//! before the socket closes.
//!
//! Closing a socket with unread data makes the kernel send a reset, and a client still sending a
//! body the server refused (a 413 over the body limit) then sees "connection reset" or "broken
//! pipe" instead of the answer already on its way. Connections the server drops on purpose (idle,
//! evicted at the connection cap) skip this and close at once.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Longest time a closing connection is drained.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// Longest wait for the next bytes while draining.
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// Most bytes discarded while draining.
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A socket that lingers when dropped, unless [`LingerSwitch::skip`] was called.
pub struct LingeringStream {
    stream: Option<TcpStream>,
    skip: Arc<AtomicBool>,
}

/// Turns lingering off for one connection (it is being dropped on purpose).
#[derive(Clone)]
pub struct LingerSwitch(Arc<AtomicBool>);

impl LingerSwitch {
    pub fn skip(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl LingeringStream {
    pub fn new(stream: TcpStream) -> (LingeringStream, LingerSwitch) {
        let skip = Arc::new(AtomicBool::new(false));
        let switch = LingerSwitch(Arc::clone(&skip));
        (
            LingeringStream {
                stream: Some(stream),
                skip,
            },
            switch,
        )
    }

    fn stream(&mut self) -> &mut TcpStream {
        self.stream.as_mut().expect("present until dropped")
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if self.skip.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(drain(stream));
    }
}

/// Shuts the write side (the answer is flushed and the client sees end of stream), then discards what
/// the client still sends until it closes or a bound is reached.
async fn drain(stream: TcpStream) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    // hyper may have shut the write side already.
    let _ = std_stream.shutdown(Shutdown::Write);
    let Ok(mut stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let linger = async {
        let mut sink = vec![0u8; 16 * 1024];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match tokio::time::timeout(LINGER_TIMEOUT, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, linger).await;
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }
}
