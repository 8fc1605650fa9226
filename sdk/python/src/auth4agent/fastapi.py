"""FastAPI / Starlette: a dependency requiring a verified auth4agent token with a scope, refusing with RFC 6750
(RFC 9449 on DPoP routes) errors and RFC 9728's `resource_metadata` (install `auth4agent[fastapi]`).

    auth = ServiceAuth(Verifier(ISSUER, AUDIENCE))

    @app.get("/files")
    async def files(token: AgentToken = Depends(auth.require_scope("files:read"))): ...
"""

from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from .claims import AgentToken
from .errors import FetchError, StatusUnavailable, VerificationError
from .verifier import Verifier

PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"


def _quoted(text: str) -> str:
    """An RFC 9110 quoted-string body: printable ASCII, `"` and `\\` escaped, at most 200 characters."""
    out = []
    for c in [c for c in text if " " <= c <= "~"][:200]:
        out.append("\\" + c if c in '"\\' else c)
    return "".join(out)


class ServiceAuth:
    """The RFC 6750 refusals of one service: which verifier, its protected resource metadata URL, and its public
    origin (for DPoP's `htu` behind a proxy)."""

    def __init__(self, verifier: Verifier, *, resource_metadata: str | None = None, public_origin: str | None = None):
        self.verifier = verifier
        audience = verifier.audiences[0]
        parts = urlsplit(audience)
        self.resource_metadata = resource_metadata or f"{parts.scheme}://{parts.netloc}{PROTECTED_RESOURCE_PATH}"
        self.public_origin = public_origin.rstrip("/") if public_origin else None

    def refusal(
        self, status: int, error: str, description: str, code: str, *, dpop: bool, scope: str | None = None
    ) -> HTTPException:
        challenge = f'{"DPoP" if dpop else "Bearer"} error="{error}", error_description="{_quoted(description)}"'
        if scope is not None:
            challenge += f', scope="{_quoted(scope)}"'
        if dpop:
            challenge += ', algs="EdDSA"'
        challenge += f', resource_metadata="{_quoted(self.resource_metadata)}"'
        detail = {"error": error, "error_description": description, "auth4agent_error": code}
        return HTTPException(status_code=status, detail=detail, headers={"WWW-Authenticate": challenge})

    def _url(self, request: Request) -> str:
        url = request.url
        if self.public_origin:
            return self.public_origin + url.path
        return f"{url.scheme}://{url.netloc}{url.path}"

    async def authenticate(self, request: Request, *, dpop: bool = False) -> AgentToken:
        """The request's verified token, else the HTTPException to raise."""
        authorization = request.headers.get("authorization")
        proofs = request.headers.getlist("dpop")
        try:
            return await self.verifier.verify_request(
                authorization, proofs, method=request.method, url=self._url(request), require_dpop=dpop
            )
        except StatusUnavailable as e:
            raise self.refusal(503, "temporarily_unavailable", e.message, e.code, dpop=dpop) from None
        except VerificationError as e:
            if e.code == "missing_token":
                # RFC 6750 §3.1: no error code when the request had no credentials.
                metadata = f'resource_metadata="{_quoted(self.resource_metadata)}"'
                challenge = f'DPoP algs="EdDSA", {metadata}' if dpop else f"Bearer {metadata}"
                detail = {"error": "invalid_token", "error_description": e.message, "auth4agent_error": e.code}
                raise HTTPException(401, detail=detail, headers={"WWW-Authenticate": challenge}) from None
            if e.dpop:
                raise self.refusal(401, "invalid_dpop_proof", e.message, e.code, dpop=True) from None
            raise self.refusal(401, "invalid_token", e.message, e.code, dpop=dpop) from None
        except FetchError as e:
            raise self.refusal(503, "temporarily_unavailable", e.message, e.code, dpop=dpop) from None

    def require_scope(self, scope: str, *, dpop: bool = False) -> Callable[[Request], Awaitable[AgentToken]]:
        """A dependency: the verified token if it grants `scope` (403 insufficient_scope otherwise); with `dpop`,
        only a DPoP-bound token with a valid proof."""

        async def dependency(request: Request) -> AgentToken:
            token = await self.authenticate(request, dpop=dpop)
            if not token.has_scope(scope):
                raise self.refusal(
                    403,
                    "insufficient_scope",
                    f"the token does not grant the scope {scope!r}",
                    "scope_not_allowed",
                    dpop=dpop,
                    scope=scope,
                )
            return token

        return dependency


def require_scope(verifier: Verifier, scope: str, *, dpop: bool = False) -> Callable[[Request], Awaitable[AgentToken]]:
    """`ServiceAuth(verifier).require_scope(scope)` in one call."""
    return ServiceAuth(verifier).require_scope(scope, dpop=dpop)
