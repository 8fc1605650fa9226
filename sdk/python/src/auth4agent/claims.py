"""Access token claims (spec §7.1) and the verifier rules of §7.2: pure, time passed in. Also the `did:agent`
syntax (did-agent.md §3.1) and scope strings (§12.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ._encoding import is_uint, numeric_date
from .errors import ProtocolError

DEFAULT_LEEWAY = 60
DEFAULT_MAX_LIFETIME = 3600

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")


def is_valid_did(did: Any) -> bool:
    """`did:agent:<domain>:<fp>` in normalized form (did-agent.md §3.1). A-labels are checked by syntax only."""
    if not isinstance(did, str) or not did.startswith("did:agent:"):
        return False
    domain, sep, fingerprint = did[len("did:agent:") :].rpartition(":")
    if not sep or not _FINGERPRINT.fullmatch(fingerprint) or len(domain) > 253:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def parse_scope(text: Any) -> tuple[str, ...]:
    """A scope string (§12.1) as its distinct tokens, sorted; else `invalid_scope`."""
    if not isinstance(text, str):
        raise ProtocolError("invalid_scope", "scope is not a string")
    if text == "":
        return ()
    tokens = text.split(" ")
    if not all(_SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise ProtocolError("invalid_scope", "not a valid scope string")
    distinct = sorted(set(tokens))
    if len(distinct) > 64:
        raise ProtocolError("invalid_scope", "more than 64 scope tokens")
    return tuple(distinct)


@dataclass(frozen=True)
class StatusReference:
    """A token's Token Status List entry (`status.status_list`, §13.3)."""

    uri: str
    idx: int


@dataclass(frozen=True)
class AgentToken:
    """A verified access token: who the agent is and what it may do."""

    did: str
    scopes: tuple[str, ...]
    jti: str
    exp: int
    iat: int
    cnf_jkt: str
    audience: tuple[str, ...]
    issuer: str
    status: StatusReference | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    token_type: str = "Bearer"

    @property
    def sub(self) -> str:
        return self.did

    @property
    def client_id(self) -> str:
        return self.did

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _string(claims: dict[str, Any], name: str) -> str:
    if name not in claims:
        raise ProtocolError("missing_claim", f"no {name!r} claim")
    value = claims[name]
    if not isinstance(value, str):
        raise ProtocolError("invalid_claim", f"{name!r} is not a string")
    return value


def _status(claims: dict[str, Any]) -> StatusReference | None:
    if "status" not in claims:
        return None
    status = claims["status"]
    entry = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(entry, dict):
        raise ProtocolError("invalid_claim", "status is not an object with a status_list object")
    idx: Any = entry.get("idx")
    uri: Any = entry.get("uri")
    if not is_uint(idx) or not isinstance(uri, str) or not uri:
        raise ProtocolError("invalid_claim", "status_list needs a non-negative integer idx and a uri")
    return StatusReference(uri=uri, idx=idx)


def check_access_token(
    claims: dict[str, Any],
    *,
    issuer: str,
    audiences: tuple[str, ...] | None,
    now: int,
    leeway: int = DEFAULT_LEEWAY,
    max_lifetime: int = DEFAULT_MAX_LIFETIME,
) -> AgentToken:
    """§7.2 steps 1–8 on signature-verified claims. `audiences=None` skips the audience match (only for an issuer
    checking its own tokens)."""
    iss = _string(claims, "iss")
    sub = _string(claims, "sub")
    client_id = _string(claims, "client_id")
    if "aud" not in claims:
        raise ProtocolError("missing_claim", "no 'aud' claim")
    scope = _string(claims, "scope")
    iat = numeric_date(claims, "iat", required=True)
    exp = numeric_date(claims, "exp", required=True)
    nbf = numeric_date(claims, "nbf", required=False)
    jti = _string(claims, "jti")
    if not jti:
        raise ProtocolError("invalid_claim", "jti is empty")
    if "cnf" not in claims:
        raise ProtocolError("missing_claim", "no 'cnf' claim")
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
        raise ProtocolError("invalid_claim", "cnf is not an object with a string jkt")
    if not is_valid_did(sub):
        raise ProtocolError("wrong_subject", "sub is not a valid did:agent DID")
    if client_id != sub:
        raise ProtocolError("invalid_claim", "client_id is not sub")
    scopes = parse_scope(scope)
    status = _status(claims)

    aud = claims["aud"]
    if isinstance(aud, str):
        if not aud:
            raise ProtocolError("invalid_claim", "aud is empty")
        aud_values: tuple[str, ...] = (aud,)
    elif isinstance(aud, list):
        if not aud:
            raise ProtocolError("empty_audience", "aud is the empty array")
        if not all(isinstance(a, str) and a for a in aud):
            raise ProtocolError("invalid_claim", "aud holds a value that is not a non-empty string")
        aud_values = tuple(aud)
    else:
        raise ProtocolError("invalid_claim", "aud is not a string or an array")

    if iss != issuer:
        raise ProtocolError("wrong_issuer", f"iss {iss!r} is not {issuer!r}")
    if audiences is not None and not any(a in audiences for a in aud_values):
        raise ProtocolError("wrong_audience", f"aud {list(aud_values)!r} is not this service")
    assert iat is not None and exp is not None
    if exp <= iat:
        raise ProtocolError("invalid_claim", "exp is not after iat")
    if exp - iat > max_lifetime:
        raise ProtocolError("lifetime_too_long", f"a lifetime of {exp - iat} s is over {max_lifetime} s")
    if iat > now + leeway:
        raise ProtocolError("issued_in_future", "iat is in the future")
    if exp <= now - leeway:
        raise ProtocolError("expired", "the token expired")
    if nbf is not None and nbf > now + leeway:
        raise ProtocolError("not_yet_valid", "nbf is in the future")
    return AgentToken(
        did=sub,
        scopes=scopes,
        jti=jti,
        exp=exp,
        iat=iat,
        cnf_jkt=cnf["jkt"],
        audience=aud_values,
        issuer=iss,
        status=status,
        claims=claims,
    )
