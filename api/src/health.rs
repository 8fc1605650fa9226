//! Operations: liveness (`GET /health`) and readiness (`GET /ready`; when storage is unreachable the answer is
//! the error `storage_unavailable` instead).

use serde::{Deserialize, Serialize};

/// `GET /health`: `{"status": "ok", "timestamp": <now>}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub timestamp: u64,
}

impl Health {
    pub fn ok(timestamp: u64) -> Health {
        Health {
            status: "ok".into(),
            timestamp,
        }
    }
}

/// `GET /ready`: `{"status": "ready"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// `ready`.
    pub status: String,
}

impl Ready {
    /// The answer while storage is reachable.
    pub fn storage_reachable() -> Ready {
        Ready {
            status: "ready".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let text = r#"{"status":"ok","timestamp":1767225600}"#;
        assert_eq!(
            serde_json::to_string(&Health::ok(1767225600)).unwrap(),
            text
        );
        assert_eq!(
            serde_json::from_str::<Health>(text).unwrap(),
            Health::ok(1767225600)
        );
        assert_eq!(
            serde_json::to_string(&Ready::storage_reachable()).unwrap(),
            r#"{"status":"ready"}"#
        );
    }
}
