//! Tokens: the challenge (`POST /v1/challenge`), issuance (`POST /v1/token`), introspection
//! (`POST /v1/introspect`, RFC 7662 shape) and revocation (`POST /v1/revoke`).

use auth4agent_protocol::{AccessTokenClaims, Audience, Confirmation, StatusClaim};
use serde::{Deserialize, Serialize};

use crate::agents::AgentStatus;
use crate::operators::OperatorStatus;

/// `POST /v1/challenge` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChallengeRequest {
    pub did: String,
}

/// `POST /v1/challenge` answer: a single-use nonce bound to the DID.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChallengeResponse {
    pub challenge_id: String,
    pub expires_at: u64,
    pub nonce: String,
}

/// `POST /v1/token` body: the proof JWS answering a challenge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub proof: String,
}

/// `POST /v1/token` answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// The token's audience (the proof's `token_aud`).
    pub aud: String,
    /// The token's `exp`.
    pub expires_at: u64,
    /// Granted scopes, canonical (sorted, space-separated).
    pub scope: String,
    /// The access token, compact JWS.
    pub token: String,
    /// `DPoP` when the request carried a valid DPoP proof of the agent's key (RFC 9449 §5), else `Bearer`.
    pub token_type: String,
}

/// `POST /v1/introspect` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IntrospectRequest {
    pub token: String,
}

/// `POST /v1/introspect` answer: `{"active": false}` and nothing else, or `active: true` with every claim of
/// the token and the standing of its agent and operator ([`ActiveToken`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    /// Present exactly when `active` is true. (A body with `active: true` lacking the token members parses
    /// with `None` here; [`Introspection::is_active`] then says false.)
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Introspection {
        Introspection {
            active: false,
            token: None,
        }
    }

    pub fn active(token: ActiveToken) -> Introspection {
        Introspection {
            active: true,
            token: Some(token),
        }
    }

    /// Whether the server reports the token active (and said what it is).
    pub fn is_active(&self) -> bool {
        self.active && self.token.is_some()
    }
}

/// The members of an active introspection besides `active`: the token's claims (spec/protocol.md §13.1), with
/// `nbf` only if the token has one, plus `token_type`, `agent_status`, `operator_status` and `operator_id`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub agent_status: AgentStatus,
    pub aud: Audience,
    pub client_id: String,
    pub cnf: Confirmation,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub operator_id: String,
    pub operator_status: OperatorStatus,
    pub scope: String,
    /// The token's Token Status List entry (`status.status_list`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClaim>,
    pub sub: String,
    /// `Bearer`.
    pub token_type: String,
}

impl ActiveToken {
    /// The introspection members of a verified token whose agent and operator are in good standing.
    pub fn new(
        claims: &AccessTokenClaims,
        token_type: impl Into<String>,
        agent_status: AgentStatus,
        operator_status: OperatorStatus,
        operator_id: impl Into<String>,
    ) -> ActiveToken {
        ActiveToken {
            agent_status,
            aud: claims.aud.clone(),
            client_id: claims.client_id.clone(),
            cnf: claims.cnf.clone(),
            exp: claims.exp,
            iat: claims.iat,
            iss: claims.iss.clone(),
            jti: claims.jti.clone(),
            nbf: claims.nbf,
            operator_id: operator_id.into(),
            operator_status,
            scope: claims.scope.clone(),
            status: claims.status.clone(),
            sub: claims.sub.clone(),
            token_type: token_type.into(),
        }
    }

    /// The token's claims.
    pub fn claims(&self) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            client_id: self.client_id.clone(),
            aud: self.aud.clone(),
            scope: self.scope.clone(),
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp,
            jti: self.jti.clone(),
            cnf: self.cnf.clone(),
            status: self.status.clone(),
        }
    }
}

/// `POST /v1/revoke` body: the access token to revoke.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokeRequest {
    pub token: String,
}

/// `POST /v1/revoke` answer (the same when the token was already revoked).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokeResponse {
    pub jti: String,
    /// Always true.
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn example(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn challenge_matches_the_example() {
        let ex = example(include_str!("../../spec/examples/challenge.json"));
        let request: ChallengeRequest = serde_json::from_value(ex["request"].clone()).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), ex["request"]);
        let response: ChallengeResponse = serde_json::from_value(ex["response"].clone()).unwrap();
        assert_eq!(response.challenge_id, "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(serde_json::to_value(&response).unwrap(), ex["response"]);
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            serde_json::to_string(&ex["response"]).unwrap()
        );
    }

    #[test]
    fn token_request_and_response_match_the_examples() {
        let proof = example(include_str!("../../spec/examples/proof.json"));
        let request: TokenRequest = serde_json::from_value(proof["request_body"].clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            proof["request_body"]
        );

        let ex = example(include_str!("../../spec/examples/access_token.json"));
        let response: TokenResponse = serde_json::from_value(ex["response"].clone()).unwrap();
        assert_eq!(response.token_type, "Bearer");
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            serde_json::to_string(&ex["response"]).unwrap()
        );
    }

    #[test]
    fn inactive_is_active_false_alone() {
        assert_eq!(
            serde_json::to_string(&Introspection::inactive()).unwrap(),
            r#"{"active":false}"#
        );
        let parsed: Introspection = serde_json::from_str(r#"{"active":false}"#).unwrap();
        assert_eq!(parsed, Introspection::inactive());
        assert!(!parsed.is_active());
    }

    /// The server builds the active answer as the claims' `Value` plus five members: the same bytes.
    #[test]
    fn active_is_the_claims_plus_standing() {
        let ex = example(include_str!("../../spec/examples/access_token.json"));
        let claims: AccessTokenClaims =
            serde_json::from_value(ex["jws"]["payload"].clone()).unwrap();
        let mut expected = ex["jws"]["payload"].clone();
        let map = expected.as_object_mut().unwrap();
        map.insert("active".into(), json!(true));
        map.insert("token_type".into(), json!("Bearer"));
        map.insert("agent_status".into(), json!("active"));
        map.insert("operator_status".into(), json!("verified"));
        map.insert("operator_id".into(), json!("op_aaaaaaaaaaaaaaaaaaaaaaaaaa"));

        let answer = Introspection::active(ActiveToken::new(
            &claims,
            "Bearer",
            AgentStatus::Active,
            OperatorStatus::Verified,
            "op_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        ));
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let parsed: Introspection = serde_json::from_value(expected).unwrap();
        assert!(parsed.is_active());
        assert_eq!(parsed.token.as_ref().unwrap().claims(), claims);
        assert_eq!(parsed, answer);
    }

    #[test]
    fn active_keeps_nbf_and_audience_lists() {
        let ex = example(include_str!("../../spec/examples/access_token.json"));
        let mut claims: AccessTokenClaims =
            serde_json::from_value(ex["jws"]["payload"].clone()).unwrap();
        claims.nbf = Some(claims.iat);
        claims.aud = Audience::Many(vec!["a".into(), "b".into()]);
        let token = ActiveToken::new(
            &claims,
            "Bearer",
            AgentStatus::Active,
            OperatorStatus::Verified,
            "op_x",
        );
        let value = serde_json::to_value(Introspection::active(token)).unwrap();
        assert_eq!(value["nbf"], json!(claims.iat));
        assert_eq!(value["aud"], json!(["a", "b"]));
    }

    #[test]
    fn revoke_bodies() {
        let request = RevokeRequest {
            token: "a.b.c".into(),
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"token":"a.b.c"}"#
        );
        let introspect = IntrospectRequest {
            token: "a.b.c".into(),
        };
        assert_eq!(
            serde_json::to_string(&introspect).unwrap(),
            r#"{"token":"a.b.c"}"#
        );
        let response = RevokeResponse {
            jti: "tQ2kGd3iX0b1S7yKp9cWmA".into(),
            revoked: true,
        };
        let text = r#"{"jti":"tQ2kGd3iX0b1S7yKp9cWmA","revoked":true}"#;
        assert_eq!(serde_json::to_string(&response).unwrap(), text);
        assert_eq!(
            serde_json::from_str::<RevokeResponse>(text).unwrap(),
            response
        );
    }
}
