//! A bounded in-process cache of agent and operator rows for the SQLite store, so the token,
//! challenge and introspection paths do not re-read them from the file on every request (under
//! WAL a reader's page cache is dropped at every commit, so each lookup is several `pread`s).
//!
//! Only sound when this process makes every change to those rows: the store enables it only
//! while it holds the database's exclusive serving lock. Invalidation: every write that touches
//! an agent or an operator clears the cache and bumps a generation after its commit and before
//! it is acknowledged; a read fills the cache only if no such write committed since the read
//! began. So once a change (a suspension, a revocation) is acknowledged, no request can see the
//! row as it was before.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Agent, Operator};

/// Most rows of each kind held; when full the cache starts over.
const CAPACITY: usize = 16_384;

#[derive(Debug, Default)]
pub(crate) struct IdentityCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    agents: HashMap<String, Agent>,
    operators: HashMap<String, Operator>,
}

/// Where a read started: fill the cache with what it read only if nothing changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl IdentityCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A cached agent, or the ticket to fill it with after reading the database.
    pub(crate) fn agent(&self, did: &str) -> Result<Agent, Ticket> {
        let state = self.lock();
        state
            .agents
            .get(did)
            .cloned()
            .ok_or(Ticket(state.generation))
    }

    /// A cached operator, or the ticket to fill it with after reading the database.
    pub(crate) fn operator(&self, id: &str) -> Result<Operator, Ticket> {
        let state = self.lock();
        state
            .operators
            .get(id)
            .cloned()
            .ok_or(Ticket(state.generation))
    }

    /// Remembers rows read under `ticket`, unless a change committed since.
    pub(crate) fn fill(&self, ticket: Ticket, agent: Option<&Agent>, operator: Option<&Operator>) {
        let mut state = self.lock();
        if state.generation != ticket.0 {
            return;
        }
        if state.agents.len() >= CAPACITY || state.operators.len() >= CAPACITY {
            state.agents.clear();
            state.operators.clear();
        }
        if let Some(agent) = agent {
            state
                .agents
                .insert(agent.did.as_str().to_owned(), agent.clone());
        }
        if let Some(op) = operator {
            state.operators.insert(op.id.clone(), op.clone());
        }
    }

    /// Called after a commit that may have changed agents or operators, before acknowledging it.
    pub(crate) fn invalidate(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.agents.clear();
        state.operators.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AgentStatus;
    use auth4agent_protocol::{Did, SigningKey};

    const DID: &str = "did:agent:example.com:00000000000000000000000000000000";

    fn agent(status: AgentStatus) -> Agent {
        Agent {
            did: Did::parse(DID).unwrap(),
            operator_id: "op_1".into(),
            public_key: SigningKey::from_seed(&[0; 32]).public_key(),
            thumbprint: "t".into(),
            status,
            allowed_scopes: Default::default(),
            approval_scopes: Default::default(),
            created_at: 0,
            updated_at: 0,
            revoked_at: None,
            status_entry: None,
        }
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let cache = IdentityCache::default();
        let Err(ticket) = cache.agent(DID) else {
            panic!("empty cache hit");
        };
        // A suspension commits while the read is in flight; the read saw the row before it.
        cache.invalidate();
        cache.fill(ticket, Some(&agent(AgentStatus::Active)), None);
        assert!(cache.agent(DID).is_err());

        let Err(ticket) = cache.agent(DID) else {
            panic!("stale row cached");
        };
        cache.fill(ticket, Some(&agent(AgentStatus::Suspended)), None);
        assert_eq!(
            cache.agent(DID).map(|a| a.status),
            Ok(AgentStatus::Suspended)
        );
        cache.invalidate();
        assert!(cache.agent(DID).is_err());
    }
}
