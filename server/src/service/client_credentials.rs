//! The OAuth client credentials grant (RFC 6749 §4.4) with `private_key_jwt` client authentication (RFC 7523):
//! one round trip from a signed client assertion to an access token. The assertion is checked here
//! ([`decode`], then [`authenticate`]; the device authorization endpoint and the device_code grant
//! authenticate the same way); the issuance rules, the audit row and the single-use `jti` are
//! [`issuance::grant`]'s, shared with the challenge path.

use auth4agent_api::ErrorCode;
use auth4agent_api::routes;
use auth4agent_protocol::{
    AssertionRules, ScopeSet, UnverifiedClientAssertion, VerifiedClientAssertion, check_resource,
};

use super::agents::{load_for_issuance, load_with_operator};
use super::dpop::{self, DpopHeader};
use super::issuance::{self, Grant, IssuedToken, Redemption};
use super::refusals::assertion_replayed;
use super::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{Agent, IdentityVersion, Operator, StoreError};
use std::time::Duration;

use auth4agent_protocol::UnixTime;

/// Maps a refused assertion to its wire code; the message keeps the protocol's specific reason.
fn assertion_error(e: auth4agent_protocol::Error) -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidClientAssertion,
        format!("{}: {e}", e.code()),
    )
}

/// A client whose assertion verified with its registered key: the agent, its operator, and the
/// assertion's single-use `jti` with the time until which it must be remembered.
pub struct AuthenticatedClient {
    pub agent: Agent,
    pub operator: Operator,
    /// The version the rows were read at ([`Rows::ForIssuance`]), else current.
    pub read_at: IdentityVersion,
    pub jti: String,
    pub jti_expires_at: u64,
}

impl AuthenticatedClient {
    /// Consumes the assertion's `jti` on its own (the paths whose write is not a token's).
    pub async fn consume(&self, state: &AppState) -> ServiceResult<()> {
        match state
            .store
            .consume_request_jti(&self.agent.thumbprint, &self.jti, self.jti_expires_at)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Replayed) => Err(assertion_replayed()),
            Err(e) => Err(e.into()),
        }
    }

    /// The token path's redemption of the assertion.
    pub fn redemption(&self) -> Redemption<'_> {
        Redemption::ClientAssertion {
            signer: &self.agent.thumbprint,
            jti: &self.jti,
            expires_at: self.jti_expires_at,
        }
    }
}

/// Decodes a client assertion (no signature checked yet) and checks `client_id`, when sent, names its `sub`.
pub fn decode(
    client_assertion: &str,
    client_id: Option<&str>,
) -> ServiceResult<UnverifiedClientAssertion> {
    let assertion = UnverifiedClientAssertion::decode(client_assertion).map_err(assertion_error)?;
    if client_id.is_some_and(|id| id != assertion.did().as_str()) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidClientAssertion,
            "client_id is not the assertion's sub",
        ));
    }
    Ok(assertion)
}

/// Verifies a decoded assertion with the agent's registered key. Its audience may be the issuer, the
/// token endpoint or the device authorization endpoint.
pub async fn authenticate(
    state: &AppState,
    assertion: UnverifiedClientAssertion,
    rows: Rows,
    now: u64,
) -> ServiceResult<AuthenticatedClient> {
    let loaded = match rows {
        Rows::Current => load_with_operator(state, assertion.did())
            .await
            .map(|(agent, op)| (agent, op, IdentityVersion::CURRENT)),
        Rows::ForIssuance => load_for_issuance(state, assertion.did()).await,
    };
    let (agent, operator, read_at) = loaded.map_err(|e| {
        // An unknown client is a failed client authentication, not a missing resource.
        match e {
            ServiceError::Refused {
                code: ErrorCode::AgentNotFound,
                message,
            } => ServiceError::refused(ErrorCode::InvalidClientAssertion, message),
            e => e,
        }
    })?;
    let token_endpoint = state.url(routes::OAUTH_TOKEN);
    let device_endpoint = state.url(routes::OAUTH_DEVICE_AUTHORIZATION);
    let rules = AssertionRules {
        audiences: &[&state.config.issuer, &token_endpoint, &device_endpoint],
        now: UnixTime::from_secs(now),
        leeway: Duration::from_secs(state.config.leeway),
    };
    let verified: VerifiedClientAssertion = assertion
        .verify(&agent.public_key, &rules)
        .map_err(assertion_error)?;
    Ok(AuthenticatedClient {
        jti: verified.jti().to_owned(),
        jti_expires_at: verified
            .expires_at()
            .saturating_add(Duration::from_secs(state.config.leeway))
            .as_secs(),
        agent,
        operator,
        read_at,
    })
}

/// How [`authenticate`] reads the client's agent and operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// From the database (or a cache that is never stale).
    Current,
    /// For a token whose redemption checks the rows' version (see `Store::get_agent_for_issuance`).
    ForIssuance,
}

/// Checks a `resource` (RFC 8707) and parses a `scope`, as the token and device endpoints do.
pub fn resource_and_scope(resource: &str, scope: Option<&str>) -> ServiceResult<Option<ScopeSet>> {
    check_resource(resource)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidTarget, e.to_string()))?;
    scope
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidScope, e.to_string()))
}

/// The parameters of a client credentials token request.
pub struct ClientCredentialsRequest<'a> {
    pub client_assertion: &'a str,
    pub client_id: Option<&'a str>,
    pub resource: String,
    pub scope: Option<&'a str>,
}

/// Exchanges a client credentials token form for an access token: the assertion verified with the agent's
/// registered key, `client_id` (when sent) equal to the agent, `resource` as the audience, then
/// [`issuance::grant`]. The token is DPoP-bound when `dpop` holds a proof of the agent's key for `POST`
/// [`routes::OAUTH_TOKEN`].
pub async fn issue(
    state: &AppState,
    request: ClientCredentialsRequest<'_>,
    dpop: &DpopHeader,
    now: u64,
) -> ServiceResult<IssuedToken> {
    let assertion = decode(request.client_assertion, request.client_id)?;
    let scope = resource_and_scope(&request.resource, request.scope)?;
    let client = authenticate(state, assertion, Rows::ForIssuance, now).await?;
    let dpop_bound = dpop::bind(
        state,
        dpop,
        routes::OAUTH_TOKEN,
        &client.agent.thumbprint,
        now,
    )
    .await?;
    let request = Grant {
        agent: &client.agent,
        operator: &client.operator,
        read_at: client.read_at,
        scope,
        audience: request.resource,
        ttl: None,
        dpop_bound,
    };
    issuance::grant(state, request, client.redemption(), now).await
}
