//! Errors on the wire: the body `{"error": "<code>", "message": "..."}` ([`ErrorBody`]) and the one table of
//! every code the server sends with its HTTP status ([`ErrorCode`], spec/protocol.md §16).

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// A stable snake_case code; clients branch on it (and the status), never on `message`.
    pub error: String,
    /// For people. The server always sends it; a client tolerates its absence.
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// The code, if it is one of the table's.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.error)
    }
}

/// Declares [`ErrorCode`] from one list of `Variant = "code" => status` rows, so that the enum, its strings and
/// its statuses cannot drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal => $status:literal,)+) => {
        /// Every error code the server sends.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of spec/protocol.md §16 (by status).
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as sent in `error`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status the code is sent with.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// The code named `code`, if it is one of the table's.
            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// Body is not syntactically valid JSON, or names a member twice.
    InvalidJson = "invalid_json" => 400,
    /// JSON of the wrong shape: not an object, a required member missing or mistyped.
    InvalidRequest = "invalid_request" => 400,
    InvalidDid = "invalid_did" => 400,
    InvalidDomain = "invalid_domain" => 400,
    PublicSuffixDomain = "public_suffix_domain" => 400,
    InvalidKey = "invalid_key" => 400,
    InvalidScope = "invalid_scope" => 400,
    InvalidTtl = "invalid_ttl" => 400,
    InvalidAudience = "invalid_audience" => 400,
    /// `POST /oauth/token`: a `grant_type` other than `client_credentials`.
    UnsupportedGrantType = "unsupported_grant_type" => 400,
    /// `POST /oauth/token`: `resource` missing, repeated, or not an absolute URI (RFC 8707).
    InvalidTarget = "invalid_target" => 400,
    /// `/oauth/authorize`: this server has no authorization grant; every request is refused (RFC 6749 §4.1.2.1).
    UnsupportedResponseType = "unsupported_response_type" => 400,
    /// A token request's `DPoP` header is not a valid proof (RFC 9449 §4.3) of the agent's key for this
    /// endpoint, or there is more than one.
    InvalidDpopProof = "invalid_dpop_proof" => 400,
    /// A token request's DPoP proof (`jti`) was already used.
    DpopProofReplayed = "dpop_proof_replayed" => 400,
    /// A device code that is unknown, already used, or another agent's (RFC 6749 §5.2).
    InvalidGrant = "invalid_grant" => 400,
    /// The device authorization is not decided yet: poll again after the interval (RFC 8628 §3.5).
    AuthorizationPending = "authorization_pending" => 400,
    /// Polled before the interval elapsed: the interval grows by 5 s (RFC 8628 §3.5).
    SlowDown = "slow_down" => 400,
    /// The approver denied the device authorization (RFC 8628 §3.5).
    AccessDenied = "access_denied" => 400,
    /// The device code expired before it was approved (RFC 8628 §3.5).
    ExpiredToken = "expired_token" => 400,
    /// A passkey's WebAuthn answer (registration or assertion) that does not verify, or lacks user verification.
    InvalidPasskey = "invalid_passkey" => 400,
    /// A WebAuthn challenge that is unknown, already answered, expired, or for another ceremony.
    InvalidWebauthnChallenge = "invalid_webauthn_challenge" => 400,
    /// A user code that is not eight characters of BCDFGHJKLMNPQRSTVWXZ.
    InvalidUserCode = "invalid_user_code" => 400,
    /// A binding message that is empty, longer than 64 characters or not printable.
    InvalidBindingMessage = "invalid_binding_message" => 400,
    MissingSignature = "missing_signature" => 401,
    InvalidSignature = "invalid_signature" => 401,
    RequestExpired = "request_expired" => 401,
    HtmMismatch = "htm_mismatch" => 401,
    HtuMismatch = "htu_mismatch" => 401,
    BodyHashMismatch = "body_hash_mismatch" => 401,
    InvalidProof = "invalid_proof" => 401,
    /// `POST /oauth/token`: the client assertion is missing, malformed, or fails a check (RFC 7523 §3).
    InvalidClientAssertion = "invalid_client_assertion" => 401,
    /// The token given to `/v1/revoke` is not a token of this server.
    InvalidToken = "invalid_token" => 401,
    /// A console page or form was asked for without a live console session (none, idle too long, or past its
    /// maximum age).
    ConsoleSessionRequired = "console_session_required" => 401,
    Forbidden = "forbidden" => 403,
    OperatorNotVerified = "operator_not_verified" => 403,
    AgentNotActive = "agent_not_active" => 403,
    ScopeNotAllowed = "scope_not_allowed" => 403,
    /// A scope the agent may only get after an operator's approval: use the device authorization grant.
    ApprovalRequired = "approval_required" => 403,
    /// A browser approval without a fresh passkey assertion, once the operator has a passkey.
    PasskeyRequired = "passkey_required" => 403,
    /// A console form posted without the session's CSRF token, or with another one.
    InvalidCsrfToken = "invalid_csrf_token" => 403,
    /// No such route.
    NotFound = "not_found" => 404,
    OperatorNotFound = "operator_not_found" => 404,
    AgentNotFound = "agent_not_found" => 404,
    ChallengeNotFound = "challenge_not_found" => 404,
    /// No pending device authorization of this operator has that user code.
    ApprovalNotFound = "approval_not_found" => 404,
    /// No remembered grant of this operator has that id.
    GrantNotFound = "grant_not_found" => 404,
    /// Passkey login for an operator that has registered no passkey.
    PasskeyNotRegistered = "passkey_not_registered" => 404,
    /// No console login link has this token.
    LoginLinkNotFound = "login_link_not_found" => 404,
    /// `GET /status-lists/{list}`: no list of that number.
    StatusListNotFound = "status_list_not_found" => 404,
    MethodNotAllowed = "method_not_allowed" => 405,
    RequestTimeout = "request_timeout" => 408,
    OperatorExists = "operator_exists" => 409,
    AgentExists = "agent_exists" => 409,
    ChallengeUsed = "challenge_used" => 409,
    RequestReplayed = "request_replayed" => 409,
    /// `POST /oauth/token`: this client assertion (`jti`) was already used.
    ClientAssertionReplayed = "client_assertion_replayed" => 409,
    AgentRevoked = "agent_revoked" => 409,
    /// The device authorization was already approved or denied.
    ApprovalDecided = "approval_decided" => 409,
    /// The console login link was already used: a link opens one session, once.
    LoginLinkUsed = "login_link_used" => 409,
    ChallengeExpired = "challenge_expired" => 410,
    /// The device authorization expired before it was decided.
    ApprovalExpired = "approval_expired" => 410,
    /// The console login link is older than its 60 s.
    LoginLinkExpired = "login_link_expired" => 410,
    PayloadTooLarge = "payload_too_large" => 413,
    UnsupportedMediaType = "unsupported_media_type" => 415,
    DnsRecordNotFound = "dns_record_not_found" => 422,
    DnsRecordMismatch = "dns_record_mismatch" => 422,
    /// Sent with a `Retry-After` header.
    RateLimited = "rate_limited" => 429,
    /// `POST /v1/challenge`: the DID has as many open challenges as the server allows.
    TooManyChallenges = "too_many_challenges" => 429,
    /// `POST /v1/agents`: the operator has as many pending registrations as the server allows.
    TooManyPendingAgents = "too_many_pending_agents" => 429,
    InternalError = "internal_error" => 500,
    DnsLookupFailed = "dns_lookup_failed" => 502,
    StorageUnavailable = "storage_unavailable" => 503,
    /// The connection caps are reached (sent by the accept loop, with `Retry-After`, and the connection closed).
    TooManyConnections = "too_many_connections" => 503,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP status of `code`, if it is one of the table's.
pub fn status_of(code: &str) -> Option<u16> {
    ErrorCode::parse(code).map(ErrorCode::status)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn codes_parse_back_and_are_snake_case() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
        assert_eq!(status_of("agent_revoked"), Some(409));
        assert_eq!(status_of("challenge_expired"), Some(410));
        assert_eq!(status_of("no_such_code"), None);
    }

    #[test]
    fn codes_are_sorted_by_status() {
        assert!(
            ErrorCode::ALL
                .windows(2)
                .all(|w| w[0].status() <= w[1].status())
        );
    }

    #[test]
    fn body_round_trips() {
        let text = r#"{"error":"rate_limited","message":"too many requests; retry later"}"#;
        let body: ErrorBody = serde_json::from_str(text).unwrap();
        assert_eq!(
            body,
            ErrorBody::new(ErrorCode::RateLimited, "too many requests; retry later")
        );
        assert_eq!(body.code(), Some(ErrorCode::RateLimited));
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
        let bare: ErrorBody = serde_json::from_value(json!({"error": "x_y"})).unwrap();
        assert_eq!(bare.message, "");
        assert_eq!(bare.code(), None);
    }
}
