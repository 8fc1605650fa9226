//! Points in time as a type: [`UnixTime`], whole seconds since the Unix epoch. The crate never reads a clock;
//! callers pass `now` in, and spans of time (leeway, lifetimes) are [`std::time::Duration`]s. On the wire, times
//! stay plain JSON integers (NumericDate, RFC 7519 §2).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: whole seconds since 1970-01-01T00:00:00Z, as in a JWT NumericDate (and serialized as one: a
/// JSON integer).
///
/// ```
/// use std::time::Duration;
/// use auth4agent_protocol::UnixTime;
///
/// let now = UnixTime::from_secs(1_800_000_000);
/// let later = now.saturating_add(Duration::from_secs(60));
/// assert!(later > now);
/// assert_eq!(later.as_secs(), 1_800_000_060);
/// assert_eq!(later.duration_since(now), Some(Duration::from_secs(60)));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// The time `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> UnixTime {
        UnixTime(secs)
    }

    /// Seconds since the epoch (the NumericDate written on the wire).
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// RFC 3339 UTC (`1970-01-01T00:00:00Z`), by the civil-from-days algorithm.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// `self + span` (whole seconds of `span`), or `None` on overflow.
    pub const fn checked_add(self, span: Duration) -> Option<UnixTime> {
        match self.0.checked_add(span.as_secs()) {
            Some(secs) => Some(UnixTime(secs)),
            None => None,
        }
    }

    /// `self + span` (whole seconds of `span`), saturating at the largest representable time.
    pub const fn saturating_add(self, span: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(span.as_secs()))
    }

    /// `self - span` (whole seconds of `span`), or `None` before the epoch.
    pub const fn checked_sub(self, span: Duration) -> Option<UnixTime> {
        match self.0.checked_sub(span.as_secs()) {
            Some(secs) => Some(UnixTime(secs)),
            None => None,
        }
    }

    /// `self - span` (whole seconds of `span`), saturating at the epoch.
    pub const fn saturating_sub(self, span: Duration) -> UnixTime {
        UnixTime(self.0.saturating_sub(span.as_secs()))
    }

    /// How long after `earlier` this is; `None` if `earlier` is later than `self`.
    pub const fn duration_since(self, earlier: UnixTime) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(secs) => Some(Duration::from_secs(secs)),
            None => None,
        }
    }
}

impl From<u64> for UnixTime {
    fn from(secs: u64) -> UnixTime {
        UnixTime(secs)
    }
}

impl From<UnixTime> for u64 {
    fn from(time: UnixTime) -> u64 {
        time.0
    }
}

/// The seconds since the epoch, as on the wire.
impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_or_reports_overflow() {
        let max = UnixTime::from_secs(u64::MAX);
        assert_eq!(max.checked_add(Duration::from_secs(1)), None);
        assert_eq!(max.saturating_add(Duration::from_secs(1)), max);
        assert_eq!(UnixTime::EPOCH.checked_sub(Duration::from_secs(1)), None);
        assert_eq!(
            UnixTime::EPOCH.saturating_sub(Duration::from_secs(1)),
            UnixTime::EPOCH
        );
        let t = UnixTime::from_secs(100);
        // Sub-second parts of a span are dropped: times are whole seconds.
        assert_eq!(
            t.checked_add(Duration::from_millis(1_999)),
            Some(UnixTime::from_secs(101))
        );
        assert_eq!(
            t.checked_sub(Duration::from_secs(40)),
            Some(UnixTime::from_secs(60))
        );
        assert_eq!(UnixTime::from_secs(60).duration_since(t), None);
        assert_eq!(u64::from(t), 100);
        assert_eq!(UnixTime::from(100), t);
        assert_eq!(t.to_string(), "100");
    }
}
