"""Typed errors: protocol refusals with the spec's codes (§5.4, §13.3, §16) and OAuth errors (RFC 6749 §5.2)."""

from __future__ import annotations


class Auth4AgentError(Exception):
    """Every error this package raises. `code` is the spec's error code."""

    code: str

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProtocolError(Auth4AgentError):
    """A message (JWS, key, claim) was refused; `code` is a protocol error code of spec §5.4."""


class VerificationError(ProtocolError):
    """An access token or its DPoP proof was refused by a verifier (spec §7.2, §7.3, §13.3).

    `code` is the protocol code (`wrong_audience`, `expired`, `token_revoked`, `replayed`, …). `dpop` is true when
    the refusal is about the DPoP proof (RFC 9449 `invalid_dpop_proof`) rather than the token (`invalid_token`).
    """

    def __init__(self, code: str, message: str, *, dpop: bool = False):
        super().__init__(code, message)
        self.dpop = dpop


class StatusUnavailable(VerificationError):
    """The token's status list could not be fetched or verified, and the policy refuses (`status_unavailable`)."""

    def __init__(self, message: str):
        super().__init__("status_unavailable", message)


class InsufficientScope(Auth4AgentError):
    """A verified token lacks a scope the operation needs (`scope_not_allowed`; HTTP 403 insufficient_scope)."""

    def __init__(self, scope: str):
        super().__init__("scope_not_allowed", f"the token does not grant the scope {scope!r}")
        self.scope = scope


class FetchError(Auth4AgentError):
    """A document (discovery, JWKS, status list) could not be fetched or used (`fetch_failed`)."""

    def __init__(self, message: str, code: str = "fetch_failed"):
        super().__init__(code, message)


class IssuerMismatch(Auth4AgentError):
    """A discovery document names another issuer than the expected one (spec §15.1, `issuer_mismatch`)."""

    def __init__(self, expected: str, found: object):
        super().__init__("issuer_mismatch", f"the discovery document's issuer is {found!r}, not {expected!r}")
        self.expected = expected
        self.found = found


class HomeError(Auth4AgentError):
    """The CLI home cannot be used: no agent, no key, loose permissions, a key that is not the identity's."""


class OAuthError(Auth4AgentError):
    """The token endpoint refused (RFC 6749 §5.2). `error` is the OAuth code; `code` the auth4agent code
    (`auth4agent_error`, else `error`); `status` the HTTP status."""

    def __init__(self, error: str, description: str, *, code: str | None = None, status: int = 400):
        super().__init__(code or error, description)
        self.error = error
        self.description = description
        self.status = status


class ApprovalRequired(OAuthError):
    """A scope asked for is an approval scope: only the device grant can issue it (spec §8.5)."""


class AccessDenied(OAuthError):
    """The operator denied the device authorization request (RFC 8628 `access_denied`)."""


class ExpiredToken(OAuthError):
    """The device code expired before it was approved and redeemed (RFC 8628 `expired_token`)."""


class AuthorizationPending(OAuthError):
    """Not decided yet (RFC 8628 `authorization_pending`); the device flow polls on."""


class SlowDown(OAuthError):
    """Polled too fast (RFC 8628 `slow_down`); the device flow adds 5 s to its interval."""


_OAUTH_CLASSES: dict[str, type[OAuthError]] = {
    "approval_required": ApprovalRequired,
    "access_denied": AccessDenied,
    "expired_token": ExpiredToken,
    "authorization_pending": AuthorizationPending,
    "slow_down": SlowDown,
}


def oauth_error(status: int, body: object) -> OAuthError:
    """The typed error for an RFC 6749 §5.2 answer."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = body["error"]
        description = body.get("error_description")
        code = body.get("auth4agent_error")
        description = description if isinstance(description, str) else error
        code = code if isinstance(code, str) else error
    else:
        error, description, code = "server_error", f"HTTP {status} without an OAuth error body", "server_error"
    cls = _OAUTH_CLASSES.get(code) or _OAUTH_CLASSES.get(error) or OAuthError
    return cls(error, description, code=code, status=status)
