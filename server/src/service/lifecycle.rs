//! The agent lifecycle as one pure function (spec §11.3): [`Lifecycle::apply`] on
//! [`AgentStatus`] (the wire enum of auth4agent-api, which the store also keeps). The store only
//! compare-and-sets the status this function chose ([`crate::store::Store::update_agent`]).

use crate::store::AgentStatus;

/// What an operator does to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEvent {
    /// New allowed scopes: approves a pending agent, keeps any other status.
    SetScopes,
    Suspend,
    Reactivate,
    /// Permanent; revoking again changes nothing.
    Revoke,
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A revoked agent changes no more.
    Revoked,
    /// A pending agent is only approved (scopes) or revoked.
    Pending,
}

/// The transition rule, as a method of [`AgentStatus`] (defined in auth4agent-api).
pub trait Lifecycle {
    /// The status after `event`, or why the event is refused.
    fn apply(self, event: AgentEvent) -> Result<AgentStatus, Refusal>;
}

impl Lifecycle for AgentStatus {
    fn apply(self, event: AgentEvent) -> Result<AgentStatus, Refusal> {
        use AgentEvent as E;
        use AgentStatus as S;
        match (self, event) {
            (_, E::Revoke) => Ok(S::Revoked),
            (S::Revoked, _) => Err(Refusal::Revoked),
            (S::Pending, E::SetScopes) => Ok(S::Active),
            (S::Pending, _) => Err(Refusal::Pending),
            (status, E::SetScopes) => Ok(status),
            (_, E::Suspend) => Ok(S::Suspended),
            (_, E::Reactivate) => Ok(S::Active),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentEvent as E;
    use AgentStatus as S;

    #[test]
    fn every_transition() {
        let table = [
            (S::Pending, E::SetScopes, Ok(S::Active)),
            (S::Pending, E::Suspend, Err(Refusal::Pending)),
            (S::Pending, E::Reactivate, Err(Refusal::Pending)),
            (S::Pending, E::Revoke, Ok(S::Revoked)),
            (S::Active, E::SetScopes, Ok(S::Active)),
            (S::Active, E::Suspend, Ok(S::Suspended)),
            (S::Active, E::Reactivate, Ok(S::Active)),
            (S::Active, E::Revoke, Ok(S::Revoked)),
            (S::Suspended, E::SetScopes, Ok(S::Suspended)),
            (S::Suspended, E::Suspend, Ok(S::Suspended)),
            (S::Suspended, E::Reactivate, Ok(S::Active)),
            (S::Suspended, E::Revoke, Ok(S::Revoked)),
            (S::Revoked, E::SetScopes, Err(Refusal::Revoked)),
            (S::Revoked, E::Suspend, Err(Refusal::Revoked)),
            (S::Revoked, E::Reactivate, Err(Refusal::Revoked)),
            (S::Revoked, E::Revoke, Ok(S::Revoked)),
        ];
        for (from, event, expected) in table {
            assert_eq!(from.apply(event), expected, "{from} + {event:?}");
        }
    }
}
