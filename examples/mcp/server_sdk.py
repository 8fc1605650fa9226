#!/usr/bin/env python3
"""server.py with the auth4agent Python SDK (sdk/python) as its token verifier: one line instead of PyJWT.

    python3 -m pip install ./sdk/python -r examples/mcp/requirements.txt
    python3 examples/mcp/server_sdk.py --issuer https://auth.example.com --port 8000 [--scope mcp:tools]

Same endpoints, tools and refusals as server.py. `McpTokenVerifier(Verifier(issuer, url))` checks each token
offline as the protocol says (strict EdDSA JWS, typ at+jwt, iss, aud = this server's URL, times, lifetime), with
the issuer's JWKS found through discovery (issuer checked) and cached with the Rust verifier's hygiene, and the
agent's Token Status List entry, so a revoked or suspended agent is refused within the list's ttl.
"""

import argparse
import logging
import sys

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from auth4agent import Verifier
from auth4agent.mcp import McpTokenVerifier


class Whoami(BaseModel):
    agent: str
    client_id: str
    scopes: list[str]


def build_server(issuer: str, url: str, scope: str) -> MCPServer:
    mcp = MCPServer(
        "auth4agent-example",
        token_verifier=McpTokenVerifier(Verifier(issuer, url)),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=url,
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
    p = argparse.ArgumentParser(description="An MCP server protected by auth4agent tokens (auth4agent SDK).")
    p.add_argument("--issuer", required=True, help="the auth4agent server's issuer URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--url", help="this server's public MCP URL (default http://HOST:PORT/mcp): the token audience")
    p.add_argument("--scope", default="mcp:tools", help="the scope a token needs (default mcp:tools)")
    args = p.parse_args()
    url = args.url or f"http://{args.host}:{args.port}/mcp"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_server(args.issuer, url, args.scope).run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
