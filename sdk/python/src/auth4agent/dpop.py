"""DPoP (RFC 9449, spec §7.3 and §8.6): making a proof with the agent key, and a service's checks of one (steps 3–8)
with a bounded in-memory replay cache."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from urllib.parse import urlsplit, urlunsplit

from . import jws
from ._encoding import b64url_encode, numeric_date
from .errors import ProtocolError, VerificationError
from .keys import PublicKey, SigningKey

# How old a proof may be, and how far ahead of the service's clock (the reference service: 60 s, 5 s).
MAX_AGE = 60
FUTURE_LEEWAY = 5


def access_token_hash(token: str) -> str:
    """`ath`: base64url(SHA-256(ASCII token))."""
    return b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """A URL as `htu` compares it (§7.3 step 5): no query or fragment, scheme and host lowercased, default port gone."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and not ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def make_proof(key: SigningKey, method: str, url: str, *, access_token: str | None = None, now: int) -> str:
    """A fresh proof for `method url`: `htu` without query and fragment, `ath` when a token is sent."""
    parts = urlsplit(url)
    htu = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    claims: dict[str, object] = {
        "jti": b64url_encode(secrets.token_bytes(16)),
        "htm": method.upper(),
        "htu": htu,
        "iat": now,
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    header = {"alg": "EdDSA", "typ": jws.TYP_DPOP, "jwk": key.public.jwk()}
    return jws.sign(key, header, claims)


class ReplayCache:
    """`(jkt, jti)` pairs seen within the proof window, in memory, at most `capacity` (oldest dropped first)."""

    def __init__(self, capacity: int = 100_000, window: int = MAX_AGE + FUTURE_LEEWAY):
        self._capacity = capacity
        self._window = window
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, jkt: str, jti: str, now: int) -> bool:
        """Records the pair; false if it was already seen within the window."""
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until > now and len(self._seen) < self._capacity:
                    break
                del self._seen[oldest]
            key = (jkt, jti)
            if key in self._seen:
                return False
            self._seen[key] = now + self._window
            return True


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str,
    jkt: str,
    now: int,
    replay: ReplayCache,
) -> None:
    """§7.3 steps 3–8 for a proof accompanying `access_token` (bound to `jkt`) on `method url`. Raises
    [`VerificationError`] with `dpop=True` and the protocol code."""
    try:
        unverified = jws.parse(proof, jws.TYP_DPOP, dpop=True)
        key = PublicKey.from_jwk(unverified.header["jwk"])
        claims = unverified.verify(key)
        if key.thumbprint() != jkt:
            raise ProtocolError("dpop_key_mismatch", "the proof's key is not the token's cnf.jkt")
        htm = claims.get("htm")
        if "htm" not in claims:
            raise ProtocolError("missing_claim", "no 'htm' claim")
        if htm != method.upper():
            raise ProtocolError("htm_mismatch", f"htm {htm!r} is not {method.upper()!r}")
        htu = claims.get("htu")
        if not isinstance(htu, str):
            raise ProtocolError("missing_claim" if htu is None else "invalid_claim", "no string 'htu' claim")
        if normalize_htu(htu) != normalize_htu(url):
            raise ProtocolError("htu_mismatch", f"htu {htu!r} is not this request's URL")
        iat = numeric_date(claims, "iat", required=True)
        assert iat is not None
        if iat > now + FUTURE_LEEWAY:
            raise ProtocolError("issued_in_future", "the proof's iat is in the future")
        if iat < now - MAX_AGE:
            raise ProtocolError("expired", "the proof is too old")
        if "ath" not in claims:
            raise ProtocolError("missing_claim", "no 'ath' claim")
        if claims["ath"] != access_token_hash(access_token):
            raise ProtocolError("ath_mismatch", "ath is not the hash of this token")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
            raise ProtocolError("missing_claim" if jti is None else "invalid_claim", "no valid 'jti' claim")
        if not replay.first_use(jkt, jti, now):
            raise ProtocolError("replayed", "this proof (jti) was already used")
    except VerificationError:
        raise
    except ProtocolError as e:
        raise VerificationError(e.code, f"DPoP proof: {e.message}", dpop=True) from None
