#!/usr/bin/env python3
"""An MCP client (the official Python SDK, `mcp` 2.x) that authenticates as an auth4agent agent.

    python3 -m pip install -r examples/mcp/requirements.txt
    python3 examples/mcp/client.py --url http://127.0.0.1:8000/mcp --issuer https://auth.example.com \
        --client-id did:agent:example.com:… --key ~/.auth4agent/keys/agent.key

No auth4agent code: the SDK's `PrivateKeyJWTOAuthProvider` does it all on the first 401. It reads
the MCP server's RFC 9728 metadata (from the WWW-Authenticate `resource_metadata`), then the
authorization server's RFC 8414 metadata, and asks its token endpoint for a token with the client
credentials grant, authenticated by a JWT signed with the agent's key file (EdDSA, iss = sub = the
DID, aud = the issuer), for `resource` = the MCP server's URL and the scopes the MCP server names.
`--issuer` pins the authorization server: the flow stops if the MCP server points anywhere else.

Then it lists the tools and calls `whoami` and `add`. Prints one JSON object on stdout: the token
(`access_token`, `scope`), `tools`, `whoami`, `add`. Exit 0 on success; 1 when authorization
failed ({"error": "authorization_failed", "detail": …}, with `oauth_error` when the token
endpoint refused: e.g. invalid_scope); 2 on usage errors.
"""

import argparse
import asyncio
import json
import re
import sys

import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken


class MemoryTokenStorage:
    """The SDK's `TokenStorage` protocol, in memory: a token lives as long as the process."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def oauth_provider(url, issuer, did, key_file, storage):
    with open(key_file, encoding="ascii") as f:
        pem = f.read()  # the agent's key file exactly as auth4agent wrote it (PKCS#8 PEM)
    assertion = SignedJWTParameters(issuer=did, subject=did, signing_key=pem, signing_algorithm="EdDSA")
    return PrivateKeyJWTOAuthProvider(
        server_url=url,
        storage=storage,
        client_id=did,
        assertion_provider=assertion.create_assertion_provider(),
        issuer=issuer,
    )


async def run(args):
    storage = MemoryTokenStorage()
    auth = oauth_provider(args.url, args.issuer, args.client_id, args.key, storage)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(args.url, http_client=http)) as client:
            tools = await client.list_tools()
            whoami = await client.call_tool("whoami", {})
            added = await client.call_tool("add", {"a": 2, "b": 3})
    if whoami.is_error or added.is_error:
        raise RuntimeError(f"a tool failed: {whoami} {added}")
    return {
        "access_token": storage.tokens.access_token,
        "scope": storage.tokens.scope,
        "tools": sorted(t.name for t in tools.tools),
        "whoami": whoami.structured_content,
        "add": added.structured_content,
    }


def oauth_failure(exc):
    """The OAuthFlowError inside `exc` (the transport's task group may wrap it), or None."""
    if isinstance(exc, OAuthFlowError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = oauth_failure(inner)
        if found:
            return found
    return oauth_failure(exc.__cause__) if exc.__cause__ else None


def main():
    p = argparse.ArgumentParser(description="Call an MCP server as an auth4agent agent.")
    p.add_argument("--url", required=True, help="the MCP server's URL (…/mcp)")
    p.add_argument("--issuer", required=True, help="the auth4agent server's issuer URL")
    p.add_argument("--client-id", required=True, help="the agent's DID (did:agent:…)")
    p.add_argument("--key", required=True, help="the agent's private key file (PKCS#8 PEM)")
    args = p.parse_args()
    try:
        result = asyncio.run(run(args))
    except Exception as e:  # noqa: BLE001 - reported below, or re-raised
        failure = oauth_failure(e)
        if failure is None:
            raise
        report = {"error": "authorization_failed", "detail": str(failure)}
        # The SDK puts the token endpoint's RFC 6749 §5.2 body in the message: surface its `error`.
        body = re.search(r"\{.*\}", str(failure))
        if body:
            try:
                report["oauth_error"] = json.loads(body.group(0)).get("error")
            except json.JSONDecodeError:
                pass
        print(json.dumps(report))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
