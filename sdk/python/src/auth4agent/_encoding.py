"""Strict encodings of the protocol (spec §2): canonical unpadded base64url, I-JSON, integer NumericDates."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .errors import ProtocolError

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decodes canonical unpadded base64url only (spec §2.1), else `invalid_base64`."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ProtocolError("invalid_base64", "not canonical unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise ProtocolError("invalid_base64", f"not base64url: {e}") from None
    if b64url_encode(data) != text:
        raise ProtocolError("invalid_base64", "non-zero unused bits in the last character")
    return data


class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _Duplicate(name)
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_strings(value: Any) -> None:
    """I-JSON: no lone surrogates in any string (names included)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def strict_json(data: bytes) -> Any:
    """Parses UTF-8 I-JSON (spec §2.2): `invalid_json`, or `duplicate_member` for a repeated name at any depth."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise ProtocolError("invalid_json", "a byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("invalid_json", "not UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        _check_strings(value)
    except _Duplicate as e:
        raise ProtocolError("duplicate_member", f"the member {e.args[0]!r} occurs twice") from None
    except (ValueError, UnicodeEncodeError, RecursionError) as e:
        raise ProtocolError("invalid_json", f"not JSON: {e}") from None
    return value


def compact_json(value: Any) -> bytes:
    """JSON without insignificant whitespace, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


MAX_SAFE_INTEGER = 2**53 - 1
MAX_U64 = 2**64 - 1


def is_uint(value: Any) -> bool:
    """An integer-valued JSON number (spec §2.3): a non-negative int that fits u64; never a bool or a float."""
    return type(value) is int and 0 <= value <= MAX_U64


def numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> int | None:
    """A time claim: absent (`missing_claim` when required), else an integer NumericDate (`invalid_numeric_date`)."""
    if name not in claims:
        if required:
            raise ProtocolError("missing_claim", f"no {name!r} claim")
        return None
    value = claims[name]
    if not is_uint(value):
        raise ProtocolError("invalid_numeric_date", f"{name!r} is not an integer NumericDate")
    return int(value)
