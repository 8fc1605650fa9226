"""End to end: an agent (the CLI's home) calls the verifier crate's example axum-service through `agent.auth`, with
Bearer and DPoP-bound tokens, from sync and async httpx clients; the server's refusals arrive as typed errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import env

from auth4agent import Agent, IssuerMismatch, OAuthError, Verifier


@pytest.fixture(scope="module")
def agent() -> Agent:
    return Agent.from_home(home=env("AUTH4AGENT_E2E_AGENT_HOME"))


@pytest.fixture(scope="module")
def service() -> str:
    return env("AUTH4AGENT_E2E_SERVICE")


def test_from_home_reads_the_cli_identity(agent: Agent):
    assert agent.did == env("AUTH4AGENT_E2E_AGENT_DID")
    assert agent.issuer == env("AUTH4AGENT_E2E_ISSUER")


def test_bearer_calls_through_agent_auth_reuse_the_cached_token(agent: Agent, service: str):
    with httpx.Client(auth=agent.auth("files:read", audience=service), timeout=10) as client:
        first = client.get(service + "/files")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["agent"] == agent.did
        assert body["scopes"] == ["files:read"]
        assert body["jkt"] == agent.key.thumbprint()
        second = client.get(service + "/files")
        assert second.status_code == 200, second.text
        assert second.json()["jti"] == body["jti"], "the cached token is reused"
        assert first.request.headers["authorization"].startswith("Bearer ")
        assert "dpop" not in first.request.headers
        # A scope the token lacks: the service's 403.
        refused = client.post(service + "/files")
        assert refused.status_code == 403
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        # The DPoP route refuses a Bearer token.
        vault = client.get(service + "/vault")
        assert vault.status_code == 401
        assert vault.headers["www-authenticate"].startswith("DPoP ")


def test_dpop_bound_calls_send_a_fresh_proof_each_time(agent: Agent, service: str):
    token = agent.token("files:read", audience=service, dpop=True)
    assert token.token_type == "DPoP"
    with httpx.Client(auth=agent.auth("files:read", audience=service, dpop=True), timeout=10) as client:
        proofs = []
        for _ in range(2):
            response = client.get(service + "/vault?page=1")
            assert response.status_code == 200, response.text
            assert response.json()["agent"] == agent.did
            assert response.request.headers["authorization"] == f"DPoP {token.access_token}"
            proofs.append(response.request.headers["dpop"])
        assert proofs[0] != proofs[1], "a proof is made afresh for every request"
        # A non-DPoP route accepts the DPoP-bound token with its proof too.
        assert client.get(service + "/files").status_code == 200


def test_async_clients_use_the_same_auth(agent: Agent, service: str):
    async def run() -> list[int]:
        auth = agent.auth("files:read files:write", audience=service, dpop=True)
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            vault = await client.get(service + "/vault")
            upload = await client.post(service + "/files")
            return [vault.status_code, upload.status_code]

    assert asyncio.run(run()) == [200, 200]


def test_the_tokens_verify_with_the_sdk_verifier(agent: Agent, service: str):
    token = agent.token("files:read files:write", audience=service)
    verified = asyncio.run(Verifier(agent.issuer, service).verify(token.access_token))
    assert verified.did == agent.did
    assert verified.scopes == ("files:read", "files:write")
    assert verified.cnf_jkt == agent.key.thumbprint()
    assert verified.status is not None and verified.status.uri.startswith(agent.issuer + "/status-lists/")


def test_token_endpoint_refusals_are_typed(agent: Agent, service: str):
    with pytest.raises(OAuthError) as raised:
        agent.token("admin", audience=service)
    assert raised.value.error == "invalid_scope"
    assert raised.value.code == "scope_not_allowed"
    # An issuer other than the server's document names: refused before any assertion is made.
    other = Agent(agent.did, agent.key, agent.server, issuer="http://127.0.0.1:1")
    with pytest.raises(IssuerMismatch):
        other.token("files:read", audience=service)
