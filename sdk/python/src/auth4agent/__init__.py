"""auth4agent for Python, written from the protocol spec (spec/protocol.md): agent code gets tokens with its own key
(`Agent`), service code verifies them offline (`Verifier`). FastAPI and MCP adapters live in `auth4agent.fastapi`
and `auth4agent.mcp` (optional extras)."""

from .agent import Agent, AgentAuth, DeviceAuthorization, Token
from .claims import AgentToken, StatusReference
from .errors import (
    AccessDenied,
    ApprovalRequired,
    Auth4AgentError,
    AuthorizationPending,
    ExpiredToken,
    FetchError,
    HomeError,
    InsufficientScope,
    IssuerMismatch,
    OAuthError,
    ProtocolError,
    SlowDown,
    StatusUnavailable,
    VerificationError,
)
from .keys import PublicKey, SigningKey
from .verifier import Verifier, VerifierConfig

__all__ = [
    "AccessDenied",
    "Agent",
    "AgentAuth",
    "AgentToken",
    "ApprovalRequired",
    "Auth4AgentError",
    "AuthorizationPending",
    "DeviceAuthorization",
    "ExpiredToken",
    "FetchError",
    "HomeError",
    "InsufficientScope",
    "IssuerMismatch",
    "OAuthError",
    "ProtocolError",
    "PublicKey",
    "SigningKey",
    "SlowDown",
    "StatusReference",
    "StatusUnavailable",
    "Token",
    "VerificationError",
    "Verifier",
    "VerifierConfig",
]
__version__ = "0.1.0"
