//! The OAuth client credentials grant (RFC 6749 §4.4) with `private_key_jwt` client authentication (RFC 7523):
//! one round trip from a signed client assertion to an access token. The assertion is checked here; the
//! issuance rules, the audit row and the single-use `jti` are [`issuance::grant`]'s, shared with the
//! challenge path.

use auth4agent_api::ErrorCode;
use auth4agent_api::TokenForm;
use auth4agent_api::routes;
use auth4agent_protocol::{
    AssertionRules, ScopeSet, UnverifiedClientAssertion, VerifiedClientAssertion, check_resource,
};

use super::agents::load_with_operator;
use super::dpop::{self, DpopHeader};
use super::issuance::{self, Grant, IssuedToken, Redemption};
use super::{ServiceError, ServiceResult};
use crate::state::AppState;
use std::time::Duration;

use auth4agent_protocol::UnixTime;

/// Maps a refused assertion to its wire code; the message keeps the protocol's specific reason.
fn assertion_error(e: auth4agent_protocol::Error) -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidClientAssertion,
        format!("{}: {e}", e.code()),
    )
}

/// Exchanges a token form for an access token: the assertion verified with the agent's registered key,
/// `client_id` (when sent) equal to the agent, `resource` as the audience, then [`issuance::grant`].
/// The token is DPoP-bound when `dpop` holds a proof of the agent's key for `POST` [`routes::OAUTH_TOKEN`].
pub async fn issue(
    state: &AppState,
    form: TokenForm,
    dpop: &DpopHeader,
    now: u64,
) -> ServiceResult<IssuedToken> {
    let assertion =
        UnverifiedClientAssertion::decode(&form.client_assertion).map_err(assertion_error)?;
    if form
        .client_id
        .as_deref()
        .is_some_and(|id| id != assertion.did().as_str())
    {
        return Err(ServiceError::refused(
            ErrorCode::InvalidClientAssertion,
            "client_id is not the assertion's sub",
        ));
    }
    check_resource(&form.resource)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidTarget, e.to_string()))?;
    let scope = form
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidScope, e.to_string()))?;

    let (agent, operator) = load_with_operator(state, assertion.did())
        .await
        .map_err(|e| {
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
    let rules = AssertionRules {
        audiences: &[&state.config.issuer, &token_endpoint],
        now: UnixTime::from_secs(now),
        leeway: Duration::from_secs(state.config.leeway),
    };
    let verified: VerifiedClientAssertion = assertion
        .verify(&agent.public_key, &rules)
        .map_err(assertion_error)?;
    let dpop_bound = dpop::bind(state, dpop, routes::OAUTH_TOKEN, &agent.thumbprint, now).await?;
    let request = Grant {
        agent: &agent,
        operator: &operator,
        scope,
        audience: form.resource,
        ttl: None,
        dpop_bound,
    };
    let redemption = Redemption::ClientAssertion {
        signer: &agent.thumbprint,
        jti: verified.jti(),
        expires_at: verified
            .expires_at()
            .saturating_add(Duration::from_secs(state.config.leeway))
            .as_secs(),
    };
    issuance::grant(state, request, redemption, now).await
}
