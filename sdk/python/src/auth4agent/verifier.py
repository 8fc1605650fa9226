"""For services: `Verifier(issuer, audience)` verifies auth4agent access tokens offline (spec §7.2) with the issuer's
JWKS (§14: max-age, one refetch per cooldown on an unknown kid, stale-if-error within a bound), its Token Status
Lists (§13.3: refreshed at iat + ttl, fail closed by default), discovery with the issuer check (§15.1), and DPoP
(§7.3) with a bounded in-memory replay cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import httpx

from . import dpop as dpop_mod
from . import jws
from . import status_list as tsl
from ._encoding import strict_json
from ._fetch import MAX_DOCUMENT_BYTES, Fetched, check_url, fetch
from .claims import DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, AgentToken, check_access_token
from .errors import FetchError, IssuerMismatch, ProtocolError, StatusUnavailable, VerificationError
from .keys import PublicKey

CONFIGURATION_PATH = "/.well-known/auth4agent-configuration"


def normalize_issuer(url: str) -> str:
    """Spec §15.1's comparison form: scheme and host lowercased, a trailing `/` removed."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def parse_jwks(body: bytes) -> dict[str, PublicKey]:
    """A JWK Set (§14): usable keys by kid. Two keys with one kid are `duplicate_kid`; a malformed Ed25519 key makes
    the set invalid (`invalid_key`); keys that are not OKP/Ed25519, have no kid, a `use` other than `sig`, or a
    kid that is not their thumbprint, are ignored."""
    doc = strict_json(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ProtocolError("invalid_json", "a JWKS is an object with a keys array")
    keys: dict[str, PublicKey] = {}
    seen: set[str] = set()
    for jwk in doc["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
            continue
        if kid in seen:
            raise ProtocolError("duplicate_kid", f"two keys have the kid {kid!r}")
        seen.add(kid)
        key = PublicKey.from_jwk(jwk)
        if key.thumbprint() == kid:
            keys[kid] = key
    return keys


@dataclass
class VerifierConfig:
    """Tuning; the defaults are the Rust verifier crate's, with the spec's 60 s unknown-kid cooldown."""

    leeway: int = DEFAULT_LEEWAY
    max_lifetime: int = DEFAULT_MAX_LIFETIME
    refresh_cooldown: int = 60
    stale_if_error: int = 24 * 3600
    default_max_age: int = 300
    min_max_age: int = 30
    max_max_age: int = 24 * 3600
    connect_timeout: float = 5.0
    timeout: float = 10.0
    check_status: bool = True
    # Seconds past a status list's refresh time that its last good copy may decide when no new one can be had
    # (never past its exp); 0: fail closed (`status_unavailable`).
    status_stale_if_error: int = 0
    min_status_ttl: int = 1
    max_status_ttl: int = 3600
    replay_capacity: int = 100_000
    clock: Callable[[], float] = time.time
    transport: httpx.AsyncBaseTransport | None = None


@dataclass
class _KeySet:
    keys: dict[str, PublicKey] = field(default_factory=dict)
    etag: str | None = None
    fresh_until: float = 0.0
    stale_until: float = 0.0
    last_fetch: float | None = None
    fetches: int = 0


@dataclass
class _CachedList:
    token: tsl.StatusListToken
    refresh_at: float


class Verifier:
    """Verifies access tokens for one issuer and one audience (or several). Async: share one per process."""

    def __init__(
        self,
        issuer: str,
        audience: str | list[str] | tuple[str, ...],
        *,
        config: VerifierConfig | None = None,
        jwks_uri: str | None = None,
    ):
        self.issuer = issuer.rstrip("/")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("a Verifier needs the audience its tokens must name (this service's URL)")
        self.audiences = audiences
        self.config = config or VerifierConfig()
        self._jwks_uri = jwks_uri
        self._keys = _KeySet()
        self._lists: dict[str, _CachedList] = {}
        self.replay = dpop_mod.ReplayCache(self.config.replay_capacity)

    def _now(self) -> float:
        return self.config.clock()

    async def _get(self, url: str, accept: str, etag: str | None = None, limit: int = MAX_DOCUMENT_BYTES) -> Fetched:
        return await fetch(
            url,
            accept=accept,
            etag=etag,
            limit=limit,
            connect_timeout=self.config.connect_timeout,
            timeout=self.config.timeout,
            transport=self.config.transport,
        )

    async def discover(self) -> str:
        """The `jwks_uri` of the issuer's discovery document (§15.1), after the issuer check."""
        if self._jwks_uri is not None:
            return self._jwks_uri
        fetched = await self._get(self.issuer + CONFIGURATION_PATH, "application/json")
        assert fetched.body is not None
        try:
            doc = strict_json(fetched.body)
        except ProtocolError as e:
            raise FetchError(f"the discovery document is not JSON: {e.message}") from None
        found = doc.get("issuer") if isinstance(doc, dict) else None
        if not isinstance(found, str) or normalize_issuer(found) != normalize_issuer(self.issuer):
            raise IssuerMismatch(self.issuer, found)
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError("the discovery document has no jwks_uri")
        self._jwks_uri = check_url(jwks_uri)
        return self._jwks_uri

    # --- keys -------------------------------------------------------------------------------------------------

    @property
    def key_fetches(self) -> int:
        return self._keys.fetches

    async def _refresh_keys(self, now: float) -> None:
        cache = self._keys
        cache.last_fetch = now  # before the await: concurrent misses share this attempt's cooldown
        uri = await self.discover()
        cache.fetches += 1
        fetched = await self._get(uri, "application/json", cache.etag)
        if fetched.body is not None:
            cache.keys = parse_jwks(fetched.body)
            cache.etag = fetched.etag
        cfg = self.config
        age = fetched.max_age if fetched.max_age is not None else cfg.default_max_age
        age = min(max(age, cfg.min_max_age), cfg.max_max_age)
        cache.fresh_until = now + age
        cache.stale_until = cache.fresh_until + cfg.stale_if_error

    async def key(self, kid: str) -> PublicKey:
        """The issuer's key named `kid`: from the cache while fresh; else a refetch (stale-if-error within the
        bound); an unknown kid refetches at most once per cooldown, then `unknown_kid`."""
        now = self._now()
        cache = self._keys
        if now >= cache.fresh_until:
            try:
                await self._refresh_keys(now)
            except (FetchError, ProtocolError):
                if not cache.keys or now >= cache.stale_until:
                    raise
        elif kid not in cache.keys and (
            cache.last_fetch is None or now - cache.last_fetch >= self.config.refresh_cooldown
        ):
            try:
                await self._refresh_keys(now)
            except (FetchError, ProtocolError):
                pass  # the cached set stands; the kid is unknown
        found = cache.keys.get(kid)
        if found is None:
            raise VerificationError("unknown_kid", f"no key of the issuer has the kid {kid[:64]!r}")
        return found

    # --- status lists -----------------------------------------------------------------------------------------

    async def _fetch_list(self, uri: str, now: float) -> _CachedList:
        fetched = await self._get(uri, "application/statuslist+jwt", limit=jws.MAX_STATUS_LIST_BYTES)
        assert fetched.body is not None
        try:
            compact = fetched.body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ProtocolError("malformed_token", "the status list is not a compact JWS") from None
        unverified = jws.parse(compact, jws.TYP_STATUS_LIST, max_bytes=jws.MAX_STATUS_LIST_BYTES)
        claims = unverified.verify(await self.key(unverified.kid))
        token = tsl.check_claims(claims, uri=uri, now=int(now))
        ttl = min(max(token.ttl, self.config.min_status_ttl), self.config.max_status_ttl)
        refresh_at = min(token.iat + ttl, now + ttl, token.exp)
        return _CachedList(token, max(refresh_at, now + 1))

    async def _status_list(self, uri: str) -> tsl.StatusListToken:
        if not uri.startswith(self.issuer + "/"):
            raise StatusUnavailable(f"the status list {uri[:200]!r} is not the issuer's")
        now = self._now()
        cached = self._lists.get(uri)
        if cached is not None and now < cached.refresh_at:
            return cached.token
        try:
            fresh = await self._fetch_list(uri, now)
        except (FetchError, ProtocolError) as e:
            bound = self.config.status_stale_if_error
            if cached is not None and bound > 0 and now < cached.refresh_at + bound and now < cached.token.exp:
                return cached.token
            raise StatusUnavailable(f"the status list {uri[:200]} cannot be used: {e}") from None
        self._lists[uri] = fresh
        return fresh.token

    # --- tokens -----------------------------------------------------------------------------------------------

    async def verify(self, token: str) -> AgentToken:
        """§5.2 with typ at+jwt, §7.2, then the status list (§13.3). Raises [`VerificationError`] with the spec's
        code, [`StatusUnavailable`], or [`FetchError`] when the issuer's keys cannot be had."""
        try:
            unverified = jws.parse(token, jws.TYP_ACCESS_TOKEN)
            claims = unverified.verify(await self.key(unverified.kid))
            agent = check_access_token(
                claims,
                issuer=self.issuer,
                audiences=self.audiences,
                now=int(self._now()),
                leeway=self.config.leeway,
                max_lifetime=self.config.max_lifetime,
            )
        except VerificationError:
            raise
        except ProtocolError as e:
            raise VerificationError(e.code, e.message) from None
        if self.config.check_status and agent.status is not None:
            entries = await self._status_list(agent.status.uri)
            try:
                value = entries.entries.get(agent.status.idx)
            except ProtocolError as e:
                raise VerificationError(e.code, e.message) from None
            tsl.judge(value)
        return agent

    async def verify_request(
        self,
        authorization: str | None,
        dpop_proofs: list[str],
        *,
        method: str,
        url: str,
        require_dpop: bool = False,
    ) -> AgentToken:
        """The `Authorization` header (Bearer or DPoP) and the `DPoP` headers of a request (§7.3): a DPoP route
        refuses Bearer; a proof sent is held to in full either way."""
        if authorization is None:
            raise VerificationError("missing_token", "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop") or not token:
            raise VerificationError("missing_token", "the Authorization header is not Bearer or DPoP")
        if scheme == "bearer":
            if require_dpop:
                raise VerificationError("dpop_required", "this route needs a DPoP-bound token (Authorization: DPoP)")
            if dpop_proofs:
                raise VerificationError("invalid_request", "a DPoP proof came with a Bearer token", dpop=True)
            return await self.verify(token)
        if len(dpop_proofs) != 1:
            raise VerificationError("invalid_dpop_proof", "exactly one DPoP header is needed", dpop=True)
        agent = await self.verify(token)
        dpop_mod.verify_proof(
            dpop_proofs[0],
            method=method,
            url=url,
            access_token=token,
            jkt=agent.cnf_jkt,
            now=int(self._now()),
            replay=self.replay,
        )
        return replace(agent, token_type="DPoP")
