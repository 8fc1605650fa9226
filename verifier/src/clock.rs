//! The one place this crate reads the wall clock; everything else asks a [`Clock`], which tests replace.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auth4agent_protocol::UnixTime;

/// A source of the current time (whole seconds, as the protocol crate counts).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the production clock: the one wall-clock read of this crate"
    )]
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        UnixTime::from_secs(secs)
    }
}

/// A clock that moves only when told to; for tests. Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(now: UnixTime) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now.as_secs())))
    }

    pub fn set(&self, now: UnixTime) {
        self.0.store(now.as_secs(), Ordering::SeqCst);
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.0.load(Ordering::SeqCst))
    }
}
