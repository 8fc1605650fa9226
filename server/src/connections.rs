//! Open connections: the global and per-client caps, and the idle rule.
//!
//! A connection with no request in flight that sends nothing for `idle_timeout` is closed, counted
//! from accept (a socket that never sends a byte) and from its last byte between keep-alive requests.
//! hyper's own header timeout starts only at the first byte, so it cannot see a silent socket.
//!
//! At the global cap the connection idle the longest is closed to admit the new one, so a flood of
//! silent sockets cannot lock out `/health` or real clients. When every connection is busy, or a client
//! already holds its share, the newcomer is answered `503` with `Retry-After` and closed.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client_addr::{ClientAddressing, ClientKey};

/// The limits the accept loop applies.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a connection with no request in flight may send nothing.
    pub idle_timeout: Duration,
    /// Open connections at most (0: no cap).
    pub max_connections: usize,
    /// Open connections per client at most (0: no cap); a client is its address masked to the
    /// configured prefix (IPv6 /64 by default), see [`crate::client_addr`].
    pub max_per_client: usize,
}

/// Why a new connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client already holds `max_per_client` connections.
    ClientCap,
    /// `max_connections` are open and every one has a request in flight.
    Full,
}

/// Every open connection, by id.
pub struct Connections {
    limits: ConnectionLimits,
    clients: ClientAddressing,
    epoch: Instant,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<Activity>>,
    per_client: HashMap<ClientKey, usize>,
}

/// What the idle rule needs to know about one connection.
pub struct Activity {
    id: u64,
    client: ClientKey,
    /// Milliseconds since [`Connections::epoch`] of the last byte read or written (or of accept).
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Signalled when the last request in flight finishes.
    idle: Notify,
    /// Signalled to close the connection now (eviction at the global cap).
    evict: Notify,
}

/// Holds a connection's place in the registry; dropping it frees the place.
pub struct Admitted {
    connections: Arc<Connections>,
    activity: Arc<Activity>,
}

impl Connections {
    pub fn new(limits: ConnectionLimits, clients: ClientAddressing) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            clients,
            epoch: Instant::now(),
            registry: Mutex::new(Registry::default()),
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// Admits a connection from `ip`, closing the longest-idle connection first if the global cap is
    /// reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let client = self.clients.key(ip);
        let mut registry = self.lock();
        let held = registry.per_client.get(&client).copied().unwrap_or(0);
        if self.limits.max_per_client > 0 && held >= self.limits.max_per_client {
            return Err(Refusal::ClientCap);
        }
        if self.limits.max_connections > 0 && registry.open.len() >= self.limits.max_connections {
            let victim = registry
                .open
                .values()
                .filter(|a| a.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|a| a.last_ms.load(Ordering::Relaxed))
                .map(Arc::clone);
            let Some(victim) = victim else {
                return Err(Refusal::Full);
            };
            // Its place is freed now; the connection itself closes as soon as its task sees the signal.
            registry.remove(&victim);
            victim.evict.notify_one();
        }
        registry.next_id += 1;
        let activity = Arc::new(Activity {
            id: registry.next_id,
            client,
            last_ms: AtomicU64::new(self.now_ms()),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            evict: Notify::new(),
        });
        registry.open.insert(activity.id, Arc::clone(&activity));
        *registry.per_client.entry(client).or_insert(0) += 1;
        crate::metrics::record_open_connections(registry.open.len());
        Ok(Admitted {
            connections: Arc::clone(self),
            activity,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Registry {
    /// Frees `activity`'s place, once (eviction and the connection's end may both try).
    fn remove(&mut self, activity: &Activity) {
        if self.open.remove(&activity.id).is_some()
            && let Some(count) = self.per_client.get_mut(&activity.client)
        {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&activity.client);
            }
            crate::metrics::record_open_connections(self.open.len());
        }
    }
}

impl Admitted {
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// Wraps the connection's socket so that every byte read or written counts as activity.
    pub fn watch_io<T>(&self, io: T) -> WatchedIo<T> {
        WatchedIo {
            io,
            connections: Arc::clone(&self.connections),
            activity: Arc::clone(&self.activity),
        }
    }

    /// Resolves when the connection must be closed: idle for the timeout with nothing in flight, or
    /// evicted at the global cap.
    pub async fn closing(&self) {
        let connections = &self.connections;
        let activity = &self.activity;
        let timeout = connections.limits.idle_timeout;
        loop {
            if activity.in_flight.load(Ordering::Acquire) > 0 {
                tokio::select! {
                    () = activity.idle.notified() => continue,
                    () = activity.evict.notified() => return,
                }
            }
            let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
            let deadline = connections.epoch + last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = activity.evict.notified() => return,
            }
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.activity);
    }
}

impl Activity {
    /// Marks a request in flight until the returned guard drops (the response is produced).
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }
}

/// One request in flight on a connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_one();
        }
    }
}

/// A socket whose reads and writes refresh its connection's activity time.
pub struct WatchedIo<T> {
    io: T,
    connections: Arc<Connections>,
    activity: Arc<Activity>,
}

impl<T> WatchedIo<T> {
    fn touch(&self) {
        self.activity
            .last_ms
            .store(self.connections.now_ms(), Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits(max_connections: usize, max_per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            idle_timeout: Duration::from_secs(10),
            max_connections,
            max_per_client,
        }
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[tokio::test]
    async fn a_client_over_its_share_is_refused_and_a_freed_place_is_reused() {
        let connections = Connections::new(limits(0, 2), ClientAddressing::default());
        let first = connections.admit(v4(1)).unwrap();
        let _second = connections.admit(v4(1)).unwrap();
        assert_eq!(connections.admit(v4(1)).err(), Some(Refusal::ClientCap));
        assert!(
            connections.admit(v4(2)).is_ok(),
            "another client has its own share"
        );
        drop(first);
        assert!(connections.admit(v4(1)).is_ok());
    }

    #[tokio::test]
    async fn at_the_global_cap_the_longest_idle_connection_is_evicted_and_busy_ones_never() {
        let connections = Connections::new(limits(2, 0), ClientAddressing::default());
        let busy = connections.admit(v4(1)).unwrap();
        let _request = busy.activity().request();
        let idle = connections.admit(v4(2)).unwrap();
        let newcomer = connections
            .admit(v4(3))
            .expect("the idle connection makes room");
        assert_eq!(connections.open(), 2);
        tokio::time::timeout(Duration::from_secs(1), idle.closing())
            .await
            .expect("the evicted connection is told to close");
        let _newcomer_request = newcomer.activity().request();
        assert_eq!(
            connections.admit(v4(4)).err(),
            Some(Refusal::Full),
            "every open connection is busy"
        );
        drop(idle);
        assert_eq!(connections.open(), 2, "an evicted place is freed once");
    }

    #[tokio::test]
    async fn a_silent_connection_closes_after_the_idle_timeout_but_not_while_a_request_runs() {
        let limits = ConnectionLimits {
            idle_timeout: Duration::from_millis(200),
            ..limits(0, 0)
        };
        let connections = Connections::new(limits, ClientAddressing::default());
        let silent = connections.admit(v4(1)).unwrap();
        let started = Instant::now();
        silent.closing().await;
        assert!(started.elapsed() >= Duration::from_millis(200));

        let working = connections.admit(v4(2)).unwrap();
        let request = working.activity().request();
        let closing = working.closing();
        tokio::pin!(closing);
        assert!(
            tokio::time::timeout(Duration::from_millis(600), &mut closing)
                .await
                .is_err(),
            "a request in flight keeps its connection past the idle timeout"
        );
        drop(request);
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closes once nothing is in flight");
    }
}
