"""The MCP Python SDK's `TokenVerifier` protocol (`mcp.server.auth.provider`) for auth4agent tokens: an MCP server
trusts them in one line (install `auth4agent[mcp]`).

    MCPServer(..., token_verifier=McpTokenVerifier(Verifier(ISSUER, MCP_URL)), auth=AuthSettings(...))
"""

from __future__ import annotations

import logging

from mcp.server.auth.provider import AccessToken

from .errors import Auth4AgentError
from .verifier import Verifier

log = logging.getLogger("auth4agent.mcp")


class McpTokenVerifier:
    """`verify_token` answers an `AccessToken` for a token that passes [`Verifier.verify`] (signature, §7.2 claims,
    audience, status list), else None (the SDK then answers 401). Scopes are checked by the SDK's
    `AuthSettings.required_scopes`."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            agent = await self.verifier.verify(token)
        except Auth4AgentError as e:
            log.info("refused a bearer token: %s", e)
            return None
        resource = next((a for a in agent.audience if a in self.verifier.audiences), None)
        return AccessToken(
            token=token,
            client_id=agent.client_id,
            scopes=list(agent.scopes),
            expires_at=agent.exp,
            resource=resource,
            subject=agent.did,
            claims={"iss": agent.issuer, "jti": agent.jti, "cnf": {"jkt": agent.cnf_jkt}},
        )
