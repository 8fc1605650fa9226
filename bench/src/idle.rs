//! A flood of silent connections for the documented idle-connection run (issue 17 #1): `n` sockets
//! that never send a byte, from loopback source addresses `127.0.1.x` (100 per address), each
//! reconnected as soon as the server closes it, as an attacker would.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::sync::watch;

/// Sockets opened from one source address.
const PER_SOURCE: usize = 100;

/// The running flood; [`IdleFlood::stop`] closes every socket.
pub struct IdleFlood {
    stop: watch::Sender<bool>,
    /// Connections opened, first ones and reconnections.
    pub opened: Arc<AtomicU64>,
    /// Connect attempts that failed (refused or out of descriptors).
    pub failed: Arc<AtomicU64>,
}

impl IdleFlood {
    pub fn start(server: SocketAddr, n: usize) -> IdleFlood {
        let (stop, stopped) = watch::channel(false);
        let opened = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        for i in 0..n {
            let host = u8::try_from(1 + i / PER_SOURCE % 250).unwrap_or(1);
            let source = SocketAddr::from((Ipv4Addr::new(127, 0, 1, host), 0));
            let (mut stopped, opened, failed) = (stopped.clone(), opened.clone(), failed.clone());
            tokio::spawn(async move {
                while !*stopped.borrow() {
                    let connected = async {
                        let socket = TcpSocket::new_v4()?;
                        socket.bind(source)?;
                        socket.connect(server).await
                    };
                    match connected.await {
                        Ok(mut stream) => {
                            opened.fetch_add(1, Ordering::Relaxed);
                            let mut buf = [0u8; 512];
                            // Silent: wait until the server closes it (EOF, reset or an answer).
                            tokio::select! {
                                _ = stream.read(&mut buf) => {}
                                _ = stopped.changed() => return,
                            }
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        IdleFlood {
            stop,
            opened,
            failed,
        }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}
