"""End to end: a FastAPI service on the SDK's verifier (uvicorn on a loopback port) with tokens from the real
server: it accepts a good token and refuses a wrong scope (403), a wrong audience (401), an agent revoked with the
real CLI once the status list turns over, and a replayed or stolen DPoP proof. The MCP adapter on the same
verifier."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import httpx
import pytest
from conftest import Served, cli, env, free_port
from fastapi import Depends, FastAPI

from auth4agent import Agent, AgentToken, SigningKey, Verifier
from auth4agent.dpop import make_proof
from auth4agent.fastapi import ServiceAuth
from auth4agent.mcp import McpTokenVerifier


def build_app(verifier: Verifier) -> FastAPI:
    auth = ServiceAuth(verifier)
    app = FastAPI()

    @app.get("/files")
    async def files(token: AgentToken = Depends(auth.require_scope("files:read"))) -> dict:
        return {"agent": token.did, "scopes": list(token.scopes), "jti": token.jti}

    @app.delete("/files")
    async def delete(token: AgentToken = Depends(auth.require_scope("files:delete"))) -> dict:
        return {"deleted": True}

    @app.get("/vault")
    async def vault(token: AgentToken = Depends(auth.require_scope("files:read", dpop=True))) -> dict:
        return {"agent": token.did, "token_type": token.token_type}

    return app


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = Served(build_app(Verifier(env("AUTH4AGENT_E2E_ISSUER"), url)), port)
    yield served.url
    served.stop()


@pytest.fixture(scope="module")
def agent() -> Agent:
    return Agent.from_home(home=env("AUTH4AGENT_E2E_AGENT_HOME"))


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_good_token_passes_and_no_token_is_challenged(agent: Agent, service: str):
    token = agent.token("files:read", audience=service).access_token
    ok = httpx.get(service + "/files", headers=bearer(token))
    assert ok.status_code == 200, ok.text
    assert ok.json()["agent"] == agent.did
    bare = httpx.get(service + "/files")
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{service}/.well-known/oauth-protected-resource"'
    )


def test_a_wrong_scope_is_403_insufficient_scope(agent: Agent, service: str):
    token = agent.token("files:read", audience=service).access_token
    refused = httpx.delete(service + "/files", headers=bearer(token))
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"'), challenge
    assert 'scope="files:delete"' in challenge
    assert f'resource_metadata="{service}/.well-known/oauth-protected-resource"' in challenge
    assert refused.json()["detail"]["auth4agent_error"] == "scope_not_allowed"


def test_a_wrong_audience_is_401_invalid_token(agent: Agent, service: str):
    token = agent.token("files:read", audience="https://other.example").access_token
    refused = httpx.get(service + "/files", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token", error_description=')
    assert refused.json()["detail"]["auth4agent_error"] == "wrong_audience"
    garbage = httpx.get(service + "/files", headers=bearer("not.a.jwt"))
    assert garbage.status_code == 401
    assert garbage.json()["detail"]["auth4agent_error"] == "invalid_base64"


def test_a_revoked_agent_is_refused_after_the_status_list_turns_over(service: str):
    doomed = Agent.from_home(home=env("AUTH4AGENT_E2E_DOOMED_HOME"))
    token = doomed.token("files:read", audience=service).access_token
    assert httpx.get(service + "/files", headers=bearer(token)).status_code == 200
    revoked = cli(env("AUTH4AGENT_E2E_OPERATOR_HOME"), "revoke", "agent", "--did", doomed.did)
    assert revoked["status"] == "revoked", revoked
    ttl = int(env("AUTH4AGENT_E2E_STATUS_TTL"))
    deadline = time.monotonic() + 3 * ttl + 5
    while True:
        response = httpx.get(service + "/files", headers=bearer(token))
        if response.status_code != 200:
            break
        assert time.monotonic() < deadline, "the revoked agent's token was still accepted"
        time.sleep(0.5)
    assert response.status_code == 401, response.text
    assert response.json()["detail"]["auth4agent_error"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_dpop_replayed_stolen_and_bearer_are_refused(agent: Agent, service: str):
    token = agent.token("files:read", audience=service, dpop=True)
    assert token.token_type == "DPoP"
    url = service + "/vault"
    proof = make_proof(agent.key, "GET", url, access_token=token.access_token, now=int(time.time()))
    headers = {"authorization": f"DPoP {token.access_token}", "dpop": proof}
    first = httpx.get(url, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"agent": agent.did, "token_type": "DPoP"}
    replayed = httpx.get(url, headers=headers)
    assert replayed.status_code == 401
    assert replayed.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="EdDSA"' in replayed.headers["www-authenticate"]
    assert replayed.json()["detail"]["auth4agent_error"] == "replayed"
    # The token without the agent key: a thief's proof does not match cnf.jkt.
    thief = SigningKey.generate()
    stolen = make_proof(thief, "GET", url, access_token=token.access_token, now=int(time.time()))
    refused = httpx.get(url, headers={"authorization": f"DPoP {token.access_token}", "dpop": stolen})
    assert refused.status_code == 401
    assert refused.json()["detail"]["auth4agent_error"] == "dpop_key_mismatch"
    # As a Bearer token on the DPoP route.
    as_bearer = httpx.get(url, headers=bearer(token.access_token))
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    # No credentials at all: the DPoP challenge, without an error code (RFC 6750 §3.1).
    bare = httpx.get(url)
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"] == (
        f'DPoP algs="EdDSA", resource_metadata="{service}/.well-known/oauth-protected-resource"'
    )
    # Through agent.auth the same route works, every request with its own proof.
    with httpx.Client(auth=agent.auth("files:read", audience=service, dpop=True)) as client:
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]


def test_the_mcp_adapter_answers_access_tokens(agent: Agent, service: str):
    verifier = McpTokenVerifier(Verifier(env("AUTH4AGENT_E2E_ISSUER"), service))
    token = agent.token("files:read files:write", audience=service).access_token
    access = asyncio.run(verifier.verify_token(token))
    assert access is not None
    assert access.subject == access.client_id == agent.did
    assert access.scopes == ["files:read", "files:write"]
    assert access.resource == service
    other = agent.token("files:read", audience="https://other.example").access_token
    assert asyncio.run(verifier.verify_token(other)) is None
