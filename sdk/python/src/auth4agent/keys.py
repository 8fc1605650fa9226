"""Ed25519 keys (spec §3): acceptable public keys (canonical, not of small order), OKP JWKs, RFC 7638 thumbprints,
and strict verification (§5.3: S < L, canonical non-small-order A and R, then the cofactorless check)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._encoding import b64url_decode, b64url_encode
from .errors import ProtocolError

# Curve25519 in twisted Edwards form (RFC 8032 §5.1).
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """The affine point of a canonical encoding (RFC 8032 §5.1.3 with y < p required), or None."""
    if len(encoded) != 32:
        return None
    value = int.from_bytes(encoded, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            return None
    if x == 0 and sign == 1:
        return None  # -0: a second encoding of the same point
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int]) -> tuple[int, int]:
    x, y = point
    xx, yy, xy = x * x % _P, y * y % _P, x * y % _P
    dxxyy = _D * xx * yy % _P
    x3 = 2 * xy * pow(1 + dxxyy, _P - 2, _P) % _P
    y3 = (yy + xx) * pow(1 - dxxyy, _P - 2, _P) % _P
    return x3, y3


def _small_order(point: tuple[int, int]) -> bool:
    """Whether [8]P is the identity (the point's order divides 8)."""
    for _ in range(3):
        point = _double(point)
    return point == (0, 1)


def acceptable_point(encoded: bytes) -> bool:
    """Spec §3.1: a canonical encoding of a curve point that is not of small order."""
    point = _decode_point(encoded)
    return point is not None and not _small_order(point)


@dataclass(frozen=True)
class PublicKey:
    """An acceptable Ed25519 public key."""

    raw: bytes

    @classmethod
    def from_bytes(cls, raw: bytes) -> PublicKey:
        if len(raw) != 32 or not acceptable_point(raw):
            raise ProtocolError("invalid_key", "not an acceptable Ed25519 public key")
        return cls(raw)

    @classmethod
    def from_jwk(cls, jwk: Any) -> PublicKey:
        """An OKP JWK (spec §3.2): kty OKP, crv Ed25519, x 32 bytes, no `d`, `alg` EdDSA or Ed25519 if present."""
        if not isinstance(jwk, dict):
            raise ProtocolError("invalid_key", "a JWK is a JSON object")
        if "d" in jwk:
            raise ProtocolError("invalid_key", "the JWK holds a private key (d)")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ProtocolError("invalid_key", "the JWK is not an OKP Ed25519 key")
        if "alg" in jwk and jwk["alg"] not in ("EdDSA", "Ed25519"):
            raise ProtocolError("invalid_key", "the JWK's alg is not EdDSA")
        x = jwk.get("x")
        if not isinstance(x, str):
            raise ProtocolError("invalid_key", "the JWK has no x")
        try:
            raw = b64url_decode(x)
        except ProtocolError:
            raise ProtocolError("invalid_key", "the JWK's x is not base64url") from None
        return cls.from_bytes(raw)

    def jwk(self) -> dict[str, str]:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.raw)}

    def thumbprint(self) -> str:
        """RFC 7638 (spec §3.3), re-encoded from the key bytes."""
        text = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url_encode(self.raw) + '"}'
        return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())

    def verify_strict(self, message: bytes, signature: bytes) -> None:
        """Spec §5.3, else `bad_signature`."""
        if len(signature) != 64:
            raise ProtocolError("bad_signature", "a signature is 64 bytes")
        r_bytes, s_bytes = signature[:32], signature[32:]
        if int.from_bytes(s_bytes, "little") >= _L:
            raise ProtocolError("bad_signature", "S is not below the group order")
        if not acceptable_point(r_bytes):
            raise ProtocolError("bad_signature", "R is non-canonical or of small order")
        try:
            # OpenSSL compares the encoding of [S]B - [k]A with R byte for byte: the cofactorless check.
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            raise ProtocolError("bad_signature", "the signature does not verify") from None


class SigningKey:
    """An Ed25519 private key (the agent key)."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = PublicKey(
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pkcs8_pem(cls, pem: bytes) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as e:
            raise ProtocolError("invalid_key", f"not a PKCS#8 PEM private key: {e}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ProtocolError("invalid_key", "not an Ed25519 private key")
        return cls(private)

    def to_pkcs8_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def thumbprint(self) -> str:
        return self.public.thumbprint()
