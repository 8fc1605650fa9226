#!/usr/bin/env python3
"""An MCP server (the official Python SDK, `mcp` 2.x) that accepts auth4agent access tokens.

    python3 -m pip install -r examples/mcp/requirements.txt
    python3 examples/mcp/server.py --issuer https://auth.example.com --port 8000 [--scope mcp:tools]

It serves MCP over streamable HTTP at http://HOST:PORT/mcp (or --url, the public URL clients use),
and publishes RFC 9728 protected resource metadata at /.well-known/oauth-protected-resource/mcp
naming the auth4agent server as its authorization server and --scope as the scope it needs. A
request without a valid token is answered 401 with a WWW-Authenticate header pointing there; a
valid token without the scope, 403 insufficient_scope (RFC 6750 §3.1).

Tokens are verified offline with PyJWT against the server's JWKS (its `jwks_uri`, read from the
RFC 8414 metadata once at start): EdDSA only, typ at+jwt, iss = --issuer, aud = this server's URL,
unexpired, RFC 9068 claims present. No call to the auth4agent server per request.

Tools: `whoami` (the calling agent's DID, client_id and scopes) and `add`.
"""

import argparse
import logging
import sys

import anyio.to_thread
import httpx2
import jwt  # PyJWT
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

log = logging.getLogger("auth4agent-mcp-example")

# Only EdDSA: never let the token's header choose the algorithm (RFC 8725 §2.1).
ALGORITHMS = ["EdDSA"]
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "sub", "client_id", "aud", "iat", "exp", "jti"]


class Auth4AgentTokenVerifier:
    """The SDK's `TokenVerifier` protocol, for auth4agent access tokens (RFC 9068 JWTs)."""

    def __init__(self, issuer: str, audience: str, jwks_uri: str):
        self.issuer = issuer
        self.audience = audience
        # Keys are cached; an unknown kid triggers one refresh (key rotation).
        self.jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300, timeout=10)

    def _verify(self, token: str) -> dict:
        signing_key = self.jwks.get_signing_key_from_jwt(token)
        decoded = jwt.decode_complete(
            token,
            key=signing_key.key,
            algorithms=ALGORITHMS,
            issuer=self.issuer,
            audience=self.audience,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
        # typ is covered by the signature; a media type, so case-insensitive and "application/" optional.
        typ = decoded["header"].get("typ")
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != "at+jwt":
            raise jwt.InvalidTokenError(f"typ is {typ!r}, not at+jwt")
        return decoded["payload"]

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            # PyJWKClient fetches the JWKS with blocking I/O (only on a cache miss): off the event loop.
            claims = await anyio.to_thread.run_sync(self._verify, token)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as e:
            log.info("refused a bearer token: %s", e)
            return None
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=claims.get("scope", "").split(),
            expires_at=claims["exp"],
            resource=self.audience,  # aud was checked to be exactly this server
            subject=claims["sub"],
            claims={"iss": claims["iss"]},
        )


def discover_jwks_uri(issuer: str) -> str:
    """`jwks_uri` from the issuer's RFC 8414 metadata, whose `issuer` must be the one asked for."""
    resp = httpx2.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server", timeout=10)
    resp.raise_for_status()
    metadata = resp.json()
    if metadata.get("issuer") != issuer:
        raise ValueError(f"metadata issuer {metadata.get('issuer')!r} is not {issuer!r} (RFC 8414 §3.3)")
    return metadata["jwks_uri"]


class Whoami(BaseModel):
    agent: str
    client_id: str
    scopes: list[str]


def build_server(issuer: str, url: str, scope: str, jwks_uri: str) -> MCPServer:
    mcp = MCPServer(
        "auth4agent-example",
        token_verifier=Auth4AgentTokenVerifier(issuer, audience=url, jwks_uri=jwks_uri),
        auth=AuthSettings(
            issuer_url=issuer,  # the authorization server named in the protected resource metadata
            resource_server_url=url,  # this server: the `resource` clients ask tokens for, their aud
            required_scopes=[scope],
            validate_token_resource=True,
        ),
    )

    @mcp.tool(description="The calling agent: its DID, client_id and granted scopes.")
    def whoami() -> Whoami:
        token = get_access_token()
        assert token is not None  # the SDK refuses unauthenticated requests before any tool runs
        return Whoami(agent=token.subject or "", client_id=token.client_id, scopes=token.scopes)

    @mcp.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    return mcp


def main() -> int:
    p = argparse.ArgumentParser(description="An MCP server protected by auth4agent tokens.")
    p.add_argument("--issuer", required=True, help="the auth4agent server's issuer URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--url", help="this server's public MCP URL (default http://HOST:PORT/mcp): the token audience")
    p.add_argument("--scope", default="mcp:tools", help="the scope a token needs (default mcp:tools)")
    args = p.parse_args()
    url = args.url or f"http://{args.host}:{args.port}/mcp"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        jwks_uri = discover_jwks_uri(args.issuer)
    except (httpx2.HTTPError, ValueError, KeyError) as e:
        print(f"error: cannot read {args.issuer}'s authorization server metadata: {e}", file=sys.stderr)
        return 3
    log.info("MCP endpoint %s, tokens from %s (keys %s), scope %s", url, args.issuer, jwks_uri, args.scope)
    build_server(args.issuer, url, args.scope, jwks_uri).run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
