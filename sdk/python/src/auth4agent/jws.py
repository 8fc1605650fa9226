"""The strict JWS profile (spec §5, RFC 8725): compact EdDSA JWSs, parsed step by step in §5.2's order with one
expected `typ` per message kind, keys never taken from the message (except a DPoP proof's `jwk`, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._encoding import b64url_decode, b64url_encode, compact_json, strict_json
from .errors import ProtocolError
from .keys import PublicKey, SigningKey

MAX_JWS_BYTES = 16_384
MAX_STATUS_LIST_BYTES = 4 * 1024 * 1024

# The `typ` of each message kind (spec §6).
TYP_ACCESS_TOKEN = "at+jwt"
TYP_DPOP = "dpop+jwt"
TYP_STATUS_LIST = "statuslist+jwt"
TYP_CLIENT_ASSERTION = "client-authentication+jwt"

_ALGS = ("EdDSA", "Ed25519")
_EMBEDDED = ("jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256")


def _media_type(typ: str) -> str:
    """RFC 7515 §4.1.9: case-insensitive, an optional `application/` prefix removed."""
    lowered = typ.lower()
    return lowered[len("application/") :] if lowered.startswith("application/") else lowered


@dataclass(frozen=True)
class Unverified:
    """A JWS that parsed strictly; its claims are not to be trusted before [`Unverified.verify`]."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    def verify(self, key: PublicKey) -> dict[str, Any]:
        """§5.2 step 13; returns the claims."""
        key.verify_strict(self.signing_input, self.signature)
        return self.claims


def parse(compact: str, typ: str, *, max_bytes: int = MAX_JWS_BYTES, dpop: bool = False) -> Unverified:
    """§5.2 steps 1–11 with the expected `typ`. A DPoP proof (`dpop=True`, §7.3) must carry `jwk` and needs no
    `kid`; every other kind refuses embedded keys and needs a `kid`."""
    if not isinstance(compact, str):
        raise ProtocolError("malformed_token", "a compact JWS is a string")
    try:
        raw = compact.encode("ascii")
    except UnicodeEncodeError:
        raise ProtocolError("malformed_token", "a compact JWS is ASCII") from None
    if len(raw) > max_bytes:
        raise ProtocolError("token_too_large", f"longer than {max_bytes} bytes")
    parts = compact.split(".")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise ProtocolError("malformed_token", "a compact JWS has three segments")
    header = strict_json(b64url_decode(parts[0]))
    if not isinstance(header, dict):
        raise ProtocolError("invalid_json", "the header is not an object")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _ALGS:
        raise ProtocolError("unsupported_alg", f"alg {alg!r} is not EdDSA")
    embedded = [name for name in _EMBEDDED if name in header and not (dpop and name == "jwk")]
    if embedded:
        raise ProtocolError("embedded_key", f"the header carries {embedded[0]}")
    if "crit" in header:
        if header["crit"] == []:
            raise ProtocolError("empty_crit", "crit is an empty array")
        raise ProtocolError("unknown_crit", "no extension is understood")
    if "typ" not in header:
        raise ProtocolError("missing_typ", "no typ")
    found = header["typ"]
    if not isinstance(found, str):
        raise ProtocolError("wrong_typ", "typ is not a string")
    if dpop:
        if found != typ:  # RFC 9449 §4.2: exactly dpop+jwt
            raise ProtocolError("wrong_typ", f"typ {found!r} is not {typ!r}")
    elif _media_type(found) != _media_type(typ):
        raise ProtocolError("wrong_typ", f"typ {found!r} is not {typ!r}")
    if dpop:
        if "jwk" not in header:
            raise ProtocolError("invalid_key", "a DPoP proof carries its public jwk")
    else:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ProtocolError("missing_kid", "no kid")
    claims = strict_json(b64url_decode(parts[1]))
    if not isinstance(claims, dict):
        raise ProtocolError("payload_not_object", "the payload is not a JSON object")
    signature = b64url_decode(parts[2])
    if len(signature) != 64:
        raise ProtocolError("bad_signature", "a signature is 64 bytes")
    return Unverified(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def sign(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS (§5.1) over `header` and `claims`, serialized compactly."""
    signing_input = b64url_encode(compact_json(header)) + "." + b64url_encode(compact_json(claims))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))
