//! When to refetch an issuer's key set, as a sans-IO policy: a token whose `kid` is not in the cached
//! [`KeySet`](crate::KeySet) may be signed by a key the issuer rotated in since the keys were fetched, so the
//! verifier refreshes the key set once and retries. Every caller (the server, the CLI, a service's middleware)
//! asks [`KeyRefresh`] instead of writing the rule again; the caller does the fetching.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::time::UnixTime;
use crate::token::VerifiedToken;

/// What to do after an attempt to verify a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStep {
    /// The attempt's result is final: return it.
    Done,
    /// Refetch the key set, then verify again with the new keys (at the same `now`) and ask again.
    RefreshAndRetry,
}

/// The rule "on an unknown `kid`, refresh the key set once, then retry", with an optional cooldown between
/// refreshes.
///
/// A refresh is allowed when an attempt failed with [`Error::UnknownKid`] and no refresh was allowed at the same
/// `now`: as one verification passes one `now` to its attempts, a verification refreshes at most once. Made
/// [`with_cooldown`](Self::with_cooldown) and kept across verifications (one per key source, behind a lock if
/// shared), it also allows at most one refresh per cooldown, so a flood of tokens with made-up kids does not
/// become a flood of fetches.
///
/// ```
/// use auth4agent_protocol::{Error, KeyRefresh, KeySet, RefreshStep, UnixTime, VerifiedToken, Verifier};
///
/// fn verify(
///     verifier: &Verifier,
///     token: &str,
///     keys: &mut KeySet,
///     refresh: &mut KeyRefresh,
///     now: UnixTime,
///     fetch_keys: impl Fn() -> Option<KeySet>,
/// ) -> Result<VerifiedToken, Error> {
///     loop {
///         let result = verifier.verify(token, keys, now);
///         match refresh.after(&result, now) {
///             RefreshStep::Done => return result,
///             RefreshStep::RefreshAndRetry => match fetch_keys() {
///                 Some(fresh) => *keys = fresh,
///                 None => return result,
///             },
///         }
///     }
/// }
/// # let mut refresh = KeyRefresh::new();
/// # let verifier = Verifier::new("https://auth.example.com", "https://api.example.com");
/// # let err = verify(&verifier, "x", &mut KeySet::default(), &mut refresh, UnixTime::from_secs(1), || None);
/// # assert_eq!(err.unwrap_err().code(), "malformed_token");
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyRefresh {
    cooldown: Duration,
    last_refresh: Option<UnixTime>,
}

impl KeyRefresh {
    /// One refresh per verification, no cooldown. Make one per verification, or keep one to allow at most one
    /// refresh per second.
    pub const fn new() -> KeyRefresh {
        KeyRefresh {
            cooldown: Duration::ZERO,
            last_refresh: None,
        }
    }

    /// One refresh per verification, and at most one per `cooldown` (whole seconds) across the verifications that
    /// share this value.
    pub const fn with_cooldown(cooldown: Duration) -> KeyRefresh {
        KeyRefresh {
            cooldown,
            last_refresh: None,
        }
    }

    /// When this policy last answered [`RefreshStep::RefreshAndRetry`].
    pub fn last_refresh(&self) -> Option<UnixTime> {
        self.last_refresh
    }

    /// Decides after an attempt at `now` (the `now` the attempt verified at). Answers
    /// [`RefreshStep::RefreshAndRetry`] only for [`Error::UnknownKid`], and only when no refresh was allowed at
    /// this `now` or within the cooldown before it; it then records `now` as the last refresh. A clock that went
    /// back before the last refresh does not block refreshes.
    pub fn after(&mut self, attempt: &Result<VerifiedToken>, now: UnixTime) -> RefreshStep {
        if !matches!(attempt, Err(Error::UnknownKid(_))) {
            return RefreshStep::Done;
        }
        let too_soon = self
            .last_refresh
            .and_then(|last| now.duration_since(last))
            .is_some_and(|since| since.is_zero() || since.as_secs() < self.cooldown.as_secs());
        if too_soon {
            return RefreshStep::Done;
        }
        self.last_refresh = Some(now);
        RefreshStep::RefreshAndRetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown() -> Result<VerifiedToken> {
        Err(Error::UnknownKid("rotated".into()))
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn refreshes_once_per_verification_and_only_for_an_unknown_kid() {
        let mut refresh = KeyRefresh::new();
        assert_eq!(
            refresh.after(&Err(Error::BadSignature), at(100)),
            RefreshStep::Done
        );
        assert_eq!(
            refresh.after(&Err(Error::Expired), at(100)),
            RefreshStep::Done
        );
        assert_eq!(refresh.last_refresh(), None);
        assert_eq!(
            refresh.after(&unknown(), at(100)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.last_refresh(), Some(at(100)));
        // The retry of the same verification (same `now`) is final, even if the kid is still unknown.
        assert_eq!(refresh.after(&unknown(), at(100)), RefreshStep::Done);
        assert_eq!(refresh.after(&unknown(), at(100)), RefreshStep::Done);
        // Without a cooldown, the next verification (a later `now`) may refresh again.
        assert_eq!(
            refresh.after(&unknown(), at(101)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.after(&unknown(), at(101)), RefreshStep::Done);
    }

    #[test]
    fn a_cooldown_spaces_refreshes_across_verifications() {
        let mut refresh = KeyRefresh::with_cooldown(Duration::from_secs(30));
        assert_eq!(
            refresh.after(&unknown(), at(1_000)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.after(&unknown(), at(1_000)), RefreshStep::Done);
        // A flood of made-up kids within the cooldown causes no fetch.
        for t in 1_001..1_030 {
            assert_eq!(refresh.after(&unknown(), at(t)), RefreshStep::Done, "{t}");
        }
        assert_eq!(refresh.last_refresh(), Some(at(1_000)));
        // Once the cooldown has passed, one more.
        assert_eq!(
            refresh.after(&unknown(), at(1_030)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.after(&unknown(), at(1_030)), RefreshStep::Done);
        assert_eq!(refresh.after(&unknown(), at(1_059)), RefreshStep::Done);
        assert_eq!(refresh.last_refresh(), Some(at(1_030)));
        // A clock stepped back does not lock refreshes out until it catches up.
        assert_eq!(
            refresh.after(&unknown(), at(500)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.after(&unknown(), at(500)), RefreshStep::Done);
        assert_eq!(refresh.last_refresh(), Some(at(500)));
    }

    #[test]
    fn sub_second_cooldowns_act_as_none() {
        let mut refresh = KeyRefresh::with_cooldown(Duration::from_millis(900));
        assert_eq!(
            refresh.after(&unknown(), at(7)),
            RefreshStep::RefreshAndRetry
        );
        assert_eq!(refresh.after(&unknown(), at(7)), RefreshStep::Done);
        assert_eq!(
            refresh.after(&unknown(), at(8)),
            RefreshStep::RefreshAndRetry
        );
    }
}
