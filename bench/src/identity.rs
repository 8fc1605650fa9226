//! Deterministic bench identities: agent `i` of a run has the key derived from SHA-256(run salt ‖ i), so
//! registered and seeded agents alike can be driven without storing a million private keys.

use auth4agent_protocol::{Did, Domain, PublicKey, SigningKey, sha256};

/// A run's identity space: its operator domain and the salt that keeps its agents distinct from other runs'.
#[derive(Clone, Debug)]
pub struct Identities {
    salt: [u8; 16],
    domain: Domain,
}

/// One agent: its key, public key and DID.
pub struct AgentIdentity {
    pub key: SigningKey,
    pub public: PublicKey,
    pub did: Did,
}

impl Identities {
    /// A fresh identity space under a random operator domain `loadgen-<hex>.example.com`.
    ///
    /// # Panics
    /// Never: the generated domain is always valid.
    pub fn random() -> Identities {
        let salt: [u8; 16] = rand::random();
        let label: String = salt[..6].iter().map(|b| format!("{b:02x}")).collect();
        let domain = Domain::parse(&format!("loadgen-{label}.example.com")).expect("valid domain");
        Identities { salt, domain }
    }

    /// The operator's domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The operator's root key.
    pub fn operator_key(&self) -> SigningKey {
        SigningKey::from_seed(&self.seed(b"operator", 0))
    }

    /// Agent number `index`.
    pub fn agent(&self, index: u64) -> AgentIdentity {
        let key = SigningKey::from_seed(&self.seed(b"agent", index));
        let public = key.public_key();
        let did = Did::from_key(&self.domain, &public);
        AgentIdentity { key, public, did }
    }

    fn seed(&self, role: &[u8], index: u64) -> [u8; 32] {
        let mut input = b"auth4agent-bench/".to_vec();
        input.extend_from_slice(role);
        input.extend_from_slice(&self.salt);
        input.extend_from_slice(&index.to_be_bytes());
        sha256(&input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_deterministic_and_distinct() {
        let ids = Identities::random();
        assert_eq!(ids.agent(5).did, ids.agent(5).did);
        assert_ne!(ids.agent(5).did, ids.agent(6).did);
        assert_ne!(ids.operator_key().public_key(), ids.agent(0).public);
        assert_eq!(ids.agent(1).did.domain(), ids.domain().as_str());
        assert!(ids.agent(1).did.matches_key(&ids.agent(1).public));
    }
}
