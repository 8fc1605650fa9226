//! The console's passkeys (WebAuthn, through webauthn-rs): registration from a console session, login with a
//! passkey alone (the operator's domain, then an assertion), and the fresh assertion with user verification that
//! every browser approval needs once the operator has a passkey. The relying party is the issuer: RP ID = the
//! issuer's host, origin = the issuer's origin, never a request's `Host`. Each ceremony's challenge state is
//! stored ([`crate::store::WebauthnCeremony`], 5 minutes) and taken once, by whichever replica gets the answer.

use auth4agent_api::ErrorCode;
use auth4agent_protocol::{b64url_encode, sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::console::Console;
use super::{ServiceError, ServiceResult, audit};
use crate::ids;
use crate::state::AppState;
use crate::store::{Operator, StoredPasskey, UnixTime, WebauthnCeremony};

/// Seconds a ceremony's challenge stays valid.
const CEREMONY_TTL: u64 = 300;
pub const PURPOSE_REGISTER: &str = "register";
pub const PURPOSE_LOGIN: &str = "login";
pub const PURPOSE_APPROVE: &str = "approve";

/// A ceremony started: its id (a hidden form field) and the options for `navigator.credentials` (JSON).
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub id: String,
    pub options: String,
}

/// The browser's answer to a ceremony: its id and the credential (JSON, as the console's script sends it).
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub ceremony: &'a str,
    pub credential: &'a str,
}

/// The relying party of this issuer.
fn relying_party(state: &AppState) -> ServiceResult<Webauthn> {
    let origin = Url::parse(&state.config.issuer)
        .map_err(|e| ServiceError::internal(format!("the issuer is not a URL: {e}")))?;
    let rp_id = origin
        .host_str()
        .ok_or_else(|| ServiceError::internal("the issuer has no host"))?
        .to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name("auth4agent console").build())
        .map_err(|e| {
            ServiceError::internal(format!(
                "no WebAuthn relying party for the issuer {} (passkeys need a host name, not an address): {e}",
                state.config.issuer
            ))
        })
}

/// The WebAuthn user handle of an operator: 16 bytes of SHA-256 of its id (stable, opaque).
fn user_handle(operator: &Operator) -> Uuid {
    let digest = sha256(operator.id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn corrupt(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::internal(format!("stored passkey state: {e}"))
}

/// The operator's passkeys.
pub async fn passkeys(state: &AppState, operator: &Operator) -> ServiceResult<Vec<StoredPasskey>> {
    Ok(state.store.list_passkeys(&operator.id).await?)
}

async fn credentials(state: &AppState, operator: &Operator) -> ServiceResult<Vec<Passkey>> {
    passkeys(state, operator)
        .await?
        .iter()
        .map(|p| serde_json::from_str(&p.passkey).map_err(corrupt))
        .collect()
}

async fn store_ceremony(
    state: &AppState,
    operator: &Operator,
    purpose: &str,
    ceremony_state: String,
    options: String,
    now: UnixTime,
) -> ServiceResult<Ceremony> {
    let id = ids::console_secret();
    state
        .store
        .insert_webauthn_ceremony(WebauthnCeremony {
            id: id.clone(),
            operator_id: operator.id.clone(),
            purpose: purpose.to_owned(),
            state: ceremony_state,
            expires_at: now.saturating_add(CEREMONY_TTL),
        })
        .await?;
    Ok(Ceremony { id, options })
}

fn invalid_challenge() -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidWebauthnChallenge,
        "this passkey challenge is unknown, already answered, expired or for something else; reload the page",
    )
}

fn invalid_passkey(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidPasskey,
        format!("the passkey's answer does not verify: {e}"),
    )
}

/// Takes the ceremony of `answer` (once) if it is for `purpose` (and for `operator_id`, when given).
async fn take(
    state: &AppState,
    answer: Answer<'_>,
    purpose: &str,
    operator_id: Option<&str>,
    now: UnixTime,
) -> ServiceResult<WebauthnCeremony> {
    let ceremony = state
        .store
        .take_webauthn_ceremony(answer.ceremony, now)
        .await?
        .ok_or_else(invalid_challenge)?;
    if ceremony.purpose != purpose || operator_id.is_some_and(|id| id != ceremony.operator_id) {
        return Err(invalid_challenge());
    }
    Ok(ceremony)
}

/// Starts registering a new passkey of the signed-in operator (its existing ones excluded).
pub async fn start_registration(
    state: &AppState,
    console: &Console,
    now: UnixTime,
) -> ServiceResult<Ceremony> {
    let rp = relying_party(state)?;
    let operator = &console.operator;
    let exclude = credentials(state, operator)
        .await?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let name = operator.domain.to_string();
    let (options, registration) = rp
        .start_passkey_registration(user_handle(operator), &name, &name, Some(exclude))
        .map_err(|e| ServiceError::internal(format!("WebAuthn registration: {e}")))?;
    let ceremony_state = serde_json::to_string(&registration).map_err(corrupt)?;
    let options = serde_json::to_string(&options).map_err(corrupt)?;
    store_ceremony(
        state,
        operator,
        PURPOSE_REGISTER,
        ceremony_state,
        options,
        now,
    )
    .await
}

/// Finishes a registration: the new passkey is stored for the operator.
pub async fn finish_registration(
    state: &AppState,
    console: &Console,
    answer: Answer<'_>,
    now: UnixTime,
) -> ServiceResult<StoredPasskey> {
    let rp = relying_party(state)?;
    let operator = &console.operator;
    let ceremony = take(state, answer, PURPOSE_REGISTER, Some(&operator.id), now).await?;
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(corrupt)?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_str(answer.credential).map_err(invalid_passkey)?;
    let passkey = rp
        .finish_passkey_registration(&credential, &registration)
        .map_err(invalid_passkey)?;
    let stored = StoredPasskey {
        credential_id: b64url_encode(passkey.cred_id().as_ref()),
        operator_id: operator.id.clone(),
        passkey: serde_json::to_string(&passkey).map_err(corrupt)?,
        created_at: now,
    };
    state.store.insert_passkey(stored.clone()).await?;
    audit::record(
        state,
        now,
        &operator.id,
        "passkey.register",
        &operator.id,
        format!("credential={}", stored.credential_id),
    )
    .await;
    Ok(stored)
}

/// Starts an assertion of one of `operator`'s passkeys, with user verification; `None` if it has none.
pub async fn start_assertion(
    state: &AppState,
    operator: &Operator,
    purpose: &str,
    now: UnixTime,
) -> ServiceResult<Option<Ceremony>> {
    let creds = credentials(state, operator).await?;
    if creds.is_empty() {
        return Ok(None);
    }
    let rp = relying_party(state)?;
    let (options, authentication) = rp
        .start_passkey_authentication(&creds)
        .map_err(|e| ServiceError::internal(format!("WebAuthn assertion: {e}")))?;
    let ceremony_state = serde_json::to_string(&authentication).map_err(corrupt)?;
    let options = serde_json::to_string(&options).map_err(corrupt)?;
    store_ceremony(state, operator, purpose, ceremony_state, options, now)
        .await
        .map(Some)
}

/// Checks an assertion answer (its challenge taken once, user verification required); the operator's id.
pub async fn finish_assertion(
    state: &AppState,
    operator_id: Option<&str>,
    purpose: &str,
    answer: Answer<'_>,
    now: UnixTime,
) -> ServiceResult<String> {
    let rp = relying_party(state)?;
    let ceremony = take(state, answer, purpose, operator_id, now).await?;
    let authentication: PasskeyAuthentication =
        serde_json::from_str(&ceremony.state).map_err(corrupt)?;
    let credential: PublicKeyCredential =
        serde_json::from_str(answer.credential).map_err(invalid_passkey)?;
    let result = rp
        .finish_passkey_authentication(&credential, &authentication)
        .map_err(invalid_passkey)?;
    if !result.user_verified() {
        return Err(invalid_passkey("the authenticator did not verify the user"));
    }
    Ok(ceremony.operator_id)
}

/// Starts a passkey login for the operator of `domain`.
pub async fn start_login(state: &AppState, domain: &str, now: UnixTime) -> ServiceResult<Ceremony> {
    let domain = auth4agent_protocol::Domain::parse(domain)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidDomain, e.to_string()))?;
    let operator = state
        .store
        .get_operator_by_domain(&domain)
        .await?
        .ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::OperatorNotFound,
                format!("no operator holds {domain}"),
            )
        })?;
    start_assertion(state, &operator, PURPOSE_LOGIN, now)
        .await?
        .ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::PasskeyNotRegistered,
                "this operator has no passkey: sign in with `auth4agent console`, then register one",
            )
        })
}
