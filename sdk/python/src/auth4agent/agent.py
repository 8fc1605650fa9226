"""For agent code: `Agent` gets access tokens with its own key, from the OAuth client credentials grant with a
`private_key_jwt` assertion (spec §8.4), optionally DPoP-bound (§8.6), or through the device authorization grant
for approval scopes (§8.5, RFC 8628); caches them until a minute before expiry; and `agent.auth(...)` is an
`httpx.Auth` attaching them (with a fresh DPoP proof per request when DPoP-bound, §7.3), sync and async."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Awaitable, Callable, Generator, Union

import httpx

from . import dpop as dpop_mod
from . import home as home_mod
from . import jws
from ._encoding import b64url_encode, is_uint
from .claims import parse_scope
from .errors import (
    ApprovalRequired,
    AuthorizationPending,
    ExpiredToken,
    FetchError,
    IssuerMismatch,
    OAuthError,
    SlowDown,
    oauth_error,
)
from .keys import SigningKey
from .verifier import CONFIGURATION_PATH, normalize_issuer

OAUTH_TOKEN = "/oauth/token"
OAUTH_DEVICE_AUTHORIZATION = "/oauth/device_authorization"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# An assertion lives 60 s (the server allows at most 300 s, §8.4).
ASSERTION_LIFETIME = 60
# A cached token is used until this long before it expires.
REFRESH_MARGIN = 60


@dataclass(frozen=True)
class Token:
    """An access token as the token endpoint issued it."""

    access_token: str
    token_type: str  # "Bearer" or "DPoP"
    scope: str
    audience: str
    expires_at: float

    @property
    def dpop_bound(self) -> bool:
        return self.token_type.lower() == "dpop"

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - REFRESH_MARGIN


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the approver needs (RFC 8628 §3.2): the code, where to enter it, and for how long."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int
    device_code: str


ApprovalCallback = Callable[[DeviceAuthorization], Union[None, Awaitable[None]]]


def _token_answer(body: Any, audience: str, now: float) -> Token:
    if not isinstance(body, dict):
        raise OAuthError("server_error", "the token answer is not a JSON object", status=200)
    token, token_type = body.get("access_token"), body.get("token_type")
    expires_in: Any = body.get("expires_in")
    if not isinstance(token, str) or not isinstance(token_type, str) or not is_uint(expires_in):
        raise OAuthError("server_error", "the token answer lacks access_token, token_type or expires_in", status=200)
    scope = body.get("scope")
    return Token(token, token_type, scope if isinstance(scope, str) else "", audience, now + expires_in)


def _device_answer(body: Any) -> DeviceAuthorization:
    if not isinstance(body, dict):
        raise OAuthError("server_error", "the device authorization answer is not a JSON object", status=200)
    try:
        return DeviceAuthorization(
            user_code=str(body["user_code"]),
            verification_uri=str(body["verification_uri"]),
            verification_uri_complete=body.get("verification_uri_complete"),
            expires_in=int(body["expires_in"]),
            interval=max(int(body.get("interval", 5)), 1),
            device_code=str(body["device_code"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise OAuthError("server_error", f"the device authorization answer lacks {e}", status=200) from None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Agent:
    """An agent identity (DID and key) and the server it gets tokens from."""

    def __init__(
        self,
        did: str,
        key: SigningKey,
        server: str,
        *,
        issuer: str | None = None,
        on_approval: ApprovalCallback | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.did = did
        self.key = key
        self.server = server.rstrip("/")
        # §15.1: the expected issuer is the server URL unless the configuration pins another for it.
        self.issuer = (issuer or self.server).rstrip("/")
        self.on_approval = on_approval
        self.timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._clock = clock
        self._issuer_checked = False
        self._tokens: dict[tuple[str, str, bool], Token] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_home(cls, profile: str | None = None, home: str | os.PathLike[str] | None = None, **options: Any) -> Agent:
        """The agent of the CLI's home (see [`auth4agent.home`]): its DID, key, server and pinned issuer."""
        identity, key = home_mod.load_agent(home_mod.resolve(home, profile))
        options.setdefault("issuer", identity.issuer)
        return cls(identity.did, key, identity.server, **options)

    # --- the wire, pure parts -----------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def client_assertion(self) -> str:
        """A fresh `private_key_jwt` assertion (§8.4): iss = sub = the DID, aud = the issuer, 60 s, random jti."""
        now = self._now()
        claims = {
            "iss": self.did,
            "sub": self.did,
            "aud": self.issuer,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": b64url_encode(secrets.token_bytes(16)),
        }
        header = {"alg": "EdDSA", "kid": self.key.thumbprint(), "typ": jws.TYP_CLIENT_ASSERTION}
        return jws.sign(self.key, header, claims)

    def _client_auth(self) -> dict[str, str]:
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": self.client_assertion()}

    def _token_headers(self, dpop: bool) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if dpop:
            headers["dpop"] = dpop_mod.make_proof(self.key, "POST", self.issuer + OAUTH_TOKEN, now=self._now())
        return headers

    def _credentials_form(self, scope: str | None, audience: str) -> dict[str, str]:
        form = {"grant_type": GRANT_CLIENT_CREDENTIALS, **self._client_auth(), "resource": audience}
        if scope:
            form["scope"] = scope
        return form

    def _device_form(self, scope: str | None, audience: str, binding_message: str | None) -> dict[str, str]:
        form = {**self._client_auth(), "resource": audience}
        if scope:
            form["scope"] = scope
        if binding_message is not None:
            form["binding_message"] = binding_message
        return form

    def _poll_form(self, device_code: str) -> dict[str, str]:
        return {"grant_type": GRANT_DEVICE_CODE, **self._client_auth(), "device_code": device_code}

    def _check_discovery(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise FetchError(f"GET {self.server}{CONFIGURATION_PATH}: HTTP {response.status_code}")
        doc = _json(response)
        found = doc.get("issuer") if isinstance(doc, dict) else None
        if not isinstance(found, str) or normalize_issuer(found) != normalize_issuer(self.issuer):
            raise IssuerMismatch(self.issuer, found)
        self._issuer_checked = True

    @staticmethod
    def _key(scope: str | None, audience: str, dpop: bool) -> tuple[str, str, bool]:
        return (" ".join(parse_scope(scope or "")), audience, dpop)

    def forget(self, token: Token) -> None:
        """Drops `token` from the cache (a service refused it)."""
        with self._lock:
            for key, cached in list(self._tokens.items()):
                if cached.access_token == token.access_token:
                    del self._tokens[key]

    def _cached(self, key: tuple[str, str, bool]) -> Token | None:
        with self._lock:
            cached = self._tokens.get(key)
            return cached if cached is not None and cached.fresh(self._clock()) else None

    def _store(self, key: tuple[str, str, bool], token: Token) -> Token:
        with self._lock:
            self._tokens[key] = token
        return token

    # --- sync ---------------------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout, transport=self._transport, follow_redirects=False)

    def _post(self, client: httpx.Client, path: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        if not self._issuer_checked:
            self._check_discovery(client.get(self.server + CONFIGURATION_PATH))
        response = client.post(self.server + path, data=form, headers=headers)
        body = _json(response)
        if response.status_code != 200:
            raise oauth_error(response.status_code, body)
        return body

    def token(
        self,
        scope: str | None = None,
        *,
        audience: str,
        dpop: bool = False,
        on_approval: ApprovalCallback | None = None,
        binding_message: str | None = None,
    ) -> Token:
        """A token for `audience` (the service's URL, RFC 8707 `resource`) with `scope` (space-separated; None:
        every allowed scope), from the cache while it has a minute left. An approval scope goes through the device
        grant when `on_approval` (or the agent's) is set; else [`ApprovalRequired`]."""
        key = self._key(scope, audience, dpop)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._client() as client:
            try:
                body = self._post(
                    client, OAUTH_TOKEN, self._credentials_form(scope, audience), self._token_headers(dpop)
                )
                return self._store(key, _token_answer(body, audience, self._clock()))
            except ApprovalRequired:
                callback = on_approval or self.on_approval
                if callback is None:
                    raise
        token = self.device_token(
            scope, audience=audience, on_approval=callback, dpop=dpop, binding_message=binding_message
        )
        return self._store(key, token)

    def device_token(
        self,
        scope: str | None = None,
        *,
        audience: str,
        on_approval: ApprovalCallback,
        dpop: bool = False,
        binding_message: str | None = None,
    ) -> Token:
        """The device authorization grant (§8.5): asks, calls `on_approval` with the user code and URL, then polls
        (RFC 8628 §3.5: `slow_down` adds 5 s) until approved ([`AccessDenied`], [`ExpiredToken`] otherwise)."""
        with self._client() as client:
            started = _device_answer(
                self._post(client, OAUTH_DEVICE_AUTHORIZATION, self._device_form(scope, audience, binding_message), {})
            )
            result = on_approval(started)
            if asyncio.iscoroutine(result):
                result.close()
                raise TypeError("device_token needs a sync callback; use adevice_token for an async one")
            deadline = time.monotonic() + started.expires_in
            interval = started.interval
            while True:
                try:
                    body = self._post(
                        client, OAUTH_TOKEN, self._poll_form(started.device_code), self._token_headers(dpop)
                    )
                    return _token_answer(body, audience, self._clock())
                except AuthorizationPending:
                    pass
                except SlowDown:
                    interval += 5
                if time.monotonic() + interval > deadline:
                    raise ExpiredToken("expired_token", f"no decision on {started.user_code} before it expired")
                time.sleep(interval)

    # --- async --------------------------------------------------------------------------------------------

    def _async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, transport=self._async_transport, follow_redirects=False)

    async def _apost(self, client: httpx.AsyncClient, path: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        if not self._issuer_checked:
            self._check_discovery(await client.get(self.server + CONFIGURATION_PATH))
        response = await client.post(self.server + path, data=form, headers=headers)
        body = _json(response)
        if response.status_code != 200:
            raise oauth_error(response.status_code, body)
        return body

    async def atoken(
        self,
        scope: str | None = None,
        *,
        audience: str,
        dpop: bool = False,
        on_approval: ApprovalCallback | None = None,
        binding_message: str | None = None,
    ) -> Token:
        """[`Agent.token`] for async code."""
        key = self._key(scope, audience, dpop)
        cached = self._cached(key)
        if cached is not None:
            return cached
        async with self._async_client() as client:
            try:
                body = await self._apost(
                    client, OAUTH_TOKEN, self._credentials_form(scope, audience), self._token_headers(dpop)
                )
                return self._store(key, _token_answer(body, audience, self._clock()))
            except ApprovalRequired:
                callback = on_approval or self.on_approval
                if callback is None:
                    raise
        token = await self.adevice_token(
            scope, audience=audience, on_approval=callback, dpop=dpop, binding_message=binding_message
        )
        return self._store(key, token)

    async def adevice_token(
        self,
        scope: str | None = None,
        *,
        audience: str,
        on_approval: ApprovalCallback,
        dpop: bool = False,
        binding_message: str | None = None,
    ) -> Token:
        """[`Agent.device_token`] for async code; `on_approval` may be sync or async."""
        async with self._async_client() as client:
            started = _device_answer(
                await self._apost(
                    client, OAUTH_DEVICE_AUTHORIZATION, self._device_form(scope, audience, binding_message), {}
                )
            )
            result = on_approval(started)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                await result
            deadline = time.monotonic() + started.expires_in
            interval = started.interval
            while True:
                try:
                    body = await self._apost(
                        client, OAUTH_TOKEN, self._poll_form(started.device_code), self._token_headers(dpop)
                    )
                    return _token_answer(body, audience, self._clock())
                except AuthorizationPending:
                    pass
                except SlowDown:
                    interval += 5
                if time.monotonic() + interval > deadline:
                    raise ExpiredToken("expired_token", f"no decision on {started.user_code} before it expired")
                await asyncio.sleep(interval)

    # --- httpx --------------------------------------------------------------------------------------------

    def auth(
        self,
        scope: str | None = None,
        *,
        audience: str,
        dpop: bool = False,
        on_approval: ApprovalCallback | None = None,
    ) -> AgentAuth:
        """An `httpx.Auth` for calls to the service at `audience`."""
        return AgentAuth(self, scope, audience, dpop, on_approval)


def _refused_token(response: httpx.Response) -> bool:
    """A 401 whose challenge says the token is no good (expired, revoked key, …): worth one fresh token."""
    if response.status_code != 401:
        return False
    challenge = response.headers.get("www-authenticate", "")
    return 'error="invalid_token"' in challenge


class AgentAuth(httpx.Auth):
    """Attaches `Authorization: Bearer|DPoP <token>` (and a fresh `DPoP` proof with `ath` when the token is
    DPoP-bound) to each request; a 401 `invalid_token` gets one retry with a new token."""

    requires_request_body = True

    def __init__(
        self, agent: Agent, scope: str | None, audience: str, dpop: bool, on_approval: ApprovalCallback | None
    ):
        self.agent = agent
        self.scope = scope
        self.audience = audience
        self.dpop = dpop
        self.on_approval = on_approval

    def _apply(self, request: httpx.Request, token: Token) -> None:
        if token.dpop_bound:
            url = str(request.url.copy_with(query=None, fragment=None))
            request.headers["Authorization"] = f"DPoP {token.access_token}"
            request.headers["DPoP"] = dpop_mod.make_proof(
                self.agent.key, request.method, url, access_token=token.access_token, now=self.agent._now()
            )
        else:
            request.headers["Authorization"] = f"Bearer {token.access_token}"

    def _token(self) -> Token:
        return self.agent.token(self.scope, audience=self.audience, dpop=self.dpop, on_approval=self.on_approval)

    async def _atoken(self) -> Token:
        return await self.agent.atoken(self.scope, audience=self.audience, dpop=self.dpop, on_approval=self.on_approval)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token()
        self._apply(request, token)
        response = yield request
        if _refused_token(response):
            self.agent.forget(token)
            self._apply(request, self._token())
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._atoken()
        self._apply(request, token)
        response = yield request
        if _refused_token(response):
            self.agent.forget(token)
            self._apply(request, await self._atoken())
            yield request
