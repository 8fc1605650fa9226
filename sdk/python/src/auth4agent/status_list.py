"""Token Status Lists (spec §13.3, draft-ietf-oauth-status-list): the status list token's claims checks and the
`{bits, lst}` decoding (ZLIB, at most 16 MiB inflated, entry i at bits i*bits of the byte array, LSB first). Pure."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from ._encoding import b64url_decode, is_uint, numeric_date
from .errors import ProtocolError, VerificationError

MAX_INFLATED = 16 * 1024 * 1024
LEEWAY = 60

VALID = 0
INVALID = 1
SUSPENDED = 2


@dataclass(frozen=True)
class StatusList:
    """A decoded status list: `bits` per entry over `data`."""

    bits: int
    data: bytes

    def __len__(self) -> int:
        return len(self.data) * 8 // self.bits

    def get(self, idx: int) -> int:
        """The value of entry `idx`, else `status_index_out_of_range`."""
        if idx < 0 or idx >= len(self):
            raise ProtocolError("status_index_out_of_range", f"entry {idx} is past the list's {len(self)}")
        bit = idx * self.bits
        return (self.data[bit // 8] >> (bit % 8)) & ((1 << self.bits) - 1)


def decode(status_list: Any, *, bits: tuple[int, ...] = (1, 2, 4, 8)) -> StatusList:
    """The `status_list` claim `{bits, lst}`; `bits` restricts the sizes accepted. Else `invalid_status_list`."""
    if not isinstance(status_list, dict):
        raise ProtocolError("invalid_status_list", "status_list is not an object")
    size, lst = status_list.get("bits"), status_list.get("lst")
    if not is_uint(size) or size not in bits:
        raise ProtocolError("invalid_status_list", f"bits {size!r} is not one of {list(bits)}")
    if not isinstance(lst, str):
        raise ProtocolError("invalid_status_list", "lst is not a string")
    try:
        compressed = b64url_decode(lst)
        inflater = zlib.decompressobj()
        data = inflater.decompress(compressed, MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise ProtocolError("invalid_status_list", "lst inflates to more than 16 MiB")
        data += inflater.flush()
        if not inflater.eof or inflater.unused_data:
            raise ProtocolError("invalid_status_list", "lst is not one whole ZLIB stream")
    except ProtocolError as e:
        raise ProtocolError("invalid_status_list", e.message) from None
    except zlib.error as e:
        raise ProtocolError("invalid_status_list", f"lst does not inflate: {e}") from None
    if len(data) > MAX_INFLATED:
        raise ProtocolError("invalid_status_list", "lst inflates to more than 16 MiB")
    return StatusList(bits=size, data=data)


@dataclass(frozen=True)
class StatusListToken:
    """A verified status list token's content."""

    uri: str
    iat: int
    exp: int
    ttl: int
    entries: StatusList


def check_claims(claims: dict[str, Any], *, uri: str, now: int) -> StatusListToken:
    """§13.3 verifier step 2 after the signature: sub, iat, exp, ttl, status_list (bits 2)."""
    if claims.get("sub") != uri:
        raise ProtocolError("status_list_uri_mismatch", f"the list's sub is not {uri!r}")
    iat = numeric_date(claims, "iat", required=True)
    exp = numeric_date(claims, "exp", required=True)
    assert iat is not None and exp is not None
    if exp <= iat:
        raise ProtocolError("invalid_claim", "exp is not after iat")
    if iat > now + LEEWAY:
        raise ProtocolError("issued_in_future", "the list's iat is in the future")
    if exp <= now - LEEWAY:
        raise ProtocolError("expired", "the list expired")
    if "ttl" not in claims:
        raise ProtocolError("missing_claim", "no 'ttl' claim")
    ttl = claims["ttl"]
    if not is_uint(ttl) or ttl == 0:
        raise ProtocolError("invalid_claim", "ttl is not a positive integer")
    if "status_list" not in claims or not isinstance(claims["status_list"], dict):
        raise ProtocolError("invalid_claim", "status_list is not an object")
    entries = decode(claims["status_list"], bits=(2,))
    return StatusListToken(uri=uri, iat=iat, exp=exp, ttl=ttl, entries=entries)


def judge(value: int) -> None:
    """§13.3 step 4: only 0 passes; 1 is `token_revoked`, 2 `agent_suspended`, any other `token_revoked`."""
    if value == VALID:
        return
    if value == SUSPENDED:
        raise VerificationError("agent_suspended", "the agent is suspended, or its operator's proof lapsed")
    raise VerificationError("token_revoked", "the agent is revoked")
