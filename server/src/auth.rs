//! The HTTP extractors of request bodies: [`JsonBody`] for the unsigned endpoints, and for signed
//! ones [`SelfSigned`] (a registration, signed by the key it registers), [`OperatorSigned`] (the
//! operator named in the path, or the operator of the agent named in the path) and [`AgentSigned`]
//! (an agent's own key or its operator's). Each verifies the signature through
//! [`crate::service::signatures`] before the handler runs, so a handler that needs a signature
//! cannot be written without one. [`SignedBody`] carries a request whose signer the service picks
//! (token revocation: the token's agent or its operator). [`TokenFormBody`] is the OAuth token
//! endpoint's form, [`DeviceFormBody`] the device authorization endpoint's.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use auth4agent_api::{DeviceAuthorizationForm, FormRefusal, TokenForm};
use auth4agent_protocol::{DPOP_HEADER, Jwk, PublicKey, SIGNATURE_HEADER};
use axum::RequestExt as _;
use axum::extract::Path;

use crate::errors::{AppError, AppResult};
use crate::service::ServiceError;
use crate::service::dpop::DpopHeader;
use crate::service::signatures::{self, KidMismatch, SignatureHeader, SignedRequest};
use crate::service::{agents, operators};
use crate::state::AppState;
use crate::store::{Agent, Operator};

/// The `DPoP` header(s) of a token request, as received (the service verifies the proof).
pub fn dpop_header(headers: &axum::http::HeaderMap) -> DpopHeader {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => DpopHeader::Missing,
        (Some(_), Some(_)) => DpopHeader::Many,
        (Some(value), None) => match value.to_str() {
            Ok(value) => DpopHeader::One(value.to_owned()),
            Err(_) => DpopHeader::NotAscii,
        },
    }
}

/// A signed request as received, not yet verified: the service that knows its signer verifies it.
#[derive(Debug)]
pub struct SignedBody(pub SignedRequest);

impl FromRequest<AppState> for SignedBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let mut headers = req.headers().get_all(SIGNATURE_HEADER).iter();
        let signature = match (headers.next(), headers.next()) {
            (None, _) => SignatureHeader::Missing,
            (Some(_), Some(_)) => SignatureHeader::Many,
            (Some(one), None) => match one.to_str() {
                Ok(value) => SignatureHeader::One(value.to_owned()),
                Err(_) => SignatureHeader::NotAscii,
            },
        };
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let body = read_body(req, state).await?;
        if !body.is_empty() && !content_type.as_deref().is_some_and(is_json_content_type) {
            return Err(AppError::unsupported_media_type());
        }
        Ok(SignedBody(SignedRequest {
            method,
            path,
            signature,
            body: body.to_vec(),
        }))
    }
}

/// Reads the whole body within the configured limit.
async fn read_body(req: Request, state: &AppState) -> AppResult<Bytes> {
    let limit = state.config.max_body_bytes;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::payload_too_large(limit)
        } else {
            AppError::invalid_request(format!(
                "could not read the request body: {}",
                rejection.body_text()
            ))
        }
    })
}

/// The media type of a `Content-Type` value, lowercase, without parameters.
fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn media_type_is(value: &str, expected: &str) -> bool {
    essence(value) == expected
}

/// `application/json` or any `+json` media type, parameters allowed.
fn is_json_content_type(value: &str) -> bool {
    let essence = essence(value);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl SignedBody {
    /// Parses the body as JSON (see [`parse_json`]).
    pub fn json<T: DeserializeOwned>(&self) -> AppResult<T> {
        parse_json(&self.0.body)
    }
}

/// A JSON body of an unsigned endpoint (same content-type and size rules as a signed one).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedBody(raw) = SignedBody::from_request(req, state).await?;
        Ok(JsonBody(parse_json(&raw.body)?))
    }
}

/// The form of `POST /oauth/token`: `application/x-www-form-urlencoded`, parsed strictly (RFC 6749 §3.2).
#[derive(Debug)]
pub struct TokenFormBody(pub TokenForm);

impl FromRequest<AppState> for TokenFormBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_form(req, state, TokenForm::parse)
            .await
            .map(TokenFormBody)
    }
}

/// The form of `POST /oauth/device_authorization` (RFC 8628 §3.1), read as the token form is.
#[derive(Debug)]
pub struct DeviceFormBody(pub DeviceAuthorizationForm);

impl FromRequest<AppState> for DeviceFormBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_form(req, state, DeviceAuthorizationForm::parse)
            .await
            .map(DeviceFormBody)
    }
}

/// Reads an `application/x-www-form-urlencoded` body and parses it strictly (RFC 6749 §3.2) with `parse`.
async fn read_form<T>(
    req: Request,
    state: &AppState,
    parse: fn(&[u8]) -> Result<T, FormRefusal>,
) -> AppResult<T> {
    let form_content = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| media_type_is(v, "application/x-www-form-urlencoded"));
    // The body is read (within the size limit and the request timeout) before the media type is
    // judged, as for the JSON endpoints.
    let body = read_body(req, state).await?;
    if !form_content {
        return Err(AppError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request must be sent as application/x-www-form-urlencoded",
        ));
    }
    parse(&body).map_err(|refusal| ServiceError::refused(refusal.code, refusal.message).into())
}

/// A body that names the public key its request must be signed with (a registration).
pub trait RegistersKey {
    fn public_key(&self) -> &Jwk;
}

/// A registration: the body, and the key it registers, whose holder signed the request (proof of
/// possession).
#[derive(Debug)]
pub struct SelfSigned<T> {
    pub key: PublicKey,
    pub body: T,
}

impl<T: DeserializeOwned + RegistersKey + Send> FromRequest<AppState> for SelfSigned<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedBody(raw) = SignedBody::from_request(req, state).await?;
        let body: T = parse_json(&raw.body)?;
        let key = operators::body_key(body.public_key())?;
        let now = state.clock.now();
        signatures::verify(state, &raw, &key, KidMismatch::InvalidSignature, now).await?;
        Ok(SelfSigned { key, body })
    }
}

/// The `{id}` or `{did}` of the path.
async fn path_param(req: &mut Request) -> AppResult<String> {
    req.extract_parts::<Path<String>>()
        .await
        .map(|Path(p)| p)
        .map_err(|rejection| AppError::invalid_request(rejection.body_text()))
}

/// A request signed by an operator's root key: the operator named in the path (`{id}`), or the
/// operator of the agent named in the path (`{did}`, then `agent` is that agent).
#[derive(Debug)]
pub struct OperatorSigned {
    pub operator: Operator,
    pub agent: Option<Agent>,
    pub request: SignedBody,
}

impl OperatorSigned {
    /// The agent of an `/v1/agents/{did}/…` route.
    pub fn agent(&self) -> AppResult<Agent> {
        self.agent
            .clone()
            .ok_or_else(|| AppError::internal("operator route has no agent in its path"))
    }
}

impl FromRequest<AppState> for OperatorSigned {
    type Rejection = AppError;

    async fn from_request(mut req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let param = path_param(&mut req).await?;
        let (operator, agent) = if param.starts_with("did:") {
            let did = agents::parse_did(&param)?;
            let (agent, operator) = agents::load_with_operator(state, &did).await?;
            (operator, Some(agent))
        } else {
            (operators::load(state, &param).await?, None)
        };
        let request = SignedBody::from_request(req, state).await?;
        let now = state.clock.now();
        signatures::verify(
            state,
            &request.0,
            &operator.public_key,
            KidMismatch::Forbidden,
            now,
        )
        .await?;
        Ok(OperatorSigned {
            operator,
            agent,
            request,
        })
    }
}

/// A read of the agent named in the path (`{did}`), signed by that agent's own key or by its
/// operator's root key.
#[derive(Debug)]
pub struct AgentSigned {
    pub agent: Agent,
    pub operator: Operator,
}

impl FromRequest<AppState> for AgentSigned {
    type Rejection = AppError;

    async fn from_request(mut req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let did = agents::parse_did(&path_param(&mut req).await?)?;
        let (agent, operator) = agents::load_with_operator(state, &did).await?;
        let SignedBody(raw) = SignedBody::from_request(req, state).await?;
        let unverified = raw.unverified()?;
        let key = if unverified.kid() == agent.thumbprint {
            agent.public_key
        } else {
            operator.public_key
        };
        let now = state.clock.now();
        signatures::verify_decoded(state, &raw, unverified, &key, KidMismatch::Forbidden, now)
            .await?;
        Ok(AgentSigned { agent, operator })
    }
}

/// Parses a JSON body strictly: text that is not JSON, or an object naming a member twice (RFC 8259
/// §4 leaves its meaning undefined) → `invalid_json`; JSON of the wrong shape (not an object, a member
/// missing or mistyped) → `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    use auth4agent_protocol::Error as P;
    let value = auth4agent_protocol::parse_strict_json(bytes).map_err(|e| match e {
        P::DuplicateMember(name) => {
            AppError::invalid_json(format!("member {name:?} is given twice"))
        }
        e => AppError::invalid_json(format!("body is not valid JSON: {e}")),
    })?;
    serde_json::from_value(value).map_err(|e| AppError::invalid_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn json_errors_are_client_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            n: u32,
        }
        assert_eq!(parse_json::<B>(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(parse_json::<B>(b"").unwrap_err().code, "invalid_json");
        assert_eq!(
            parse_json::<B>(b"{\"n\":\"x\"}").unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(parse_json::<B>(b"{}").unwrap_err().code, "invalid_request");
        assert_eq!(
            parse_json::<B>(b"{\"n\":1,\"n\":2}").unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            parse_json::<B>(b"{\"n\":1} x").unwrap_err().code,
            "invalid_json"
        );
        assert!(parse_json::<B>(b"{\"n\":1}").is_ok());
    }
}
