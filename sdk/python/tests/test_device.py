"""End to end: the device authorization grant for an approval scope, decided by the operator with the real CLI
(`auth4agent approvals approve` / `deny`), sync and async, with the polling of RFC 8628."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import cli, env

from auth4agent import AccessDenied, Agent, ApprovalRequired, DeviceAuthorization, Verifier

AUD = "https://payments.example.com"


@pytest.fixture(scope="module")
def agent() -> Agent:
    return Agent.from_home(home=env("AUTH4AGENT_E2E_AGENT_HOME"))


def decide(decision: str, code: str) -> dict:
    return cli(env("AUTH4AGENT_E2E_OPERATOR_HOME"), "approvals", decision, code)


def test_an_approval_scope_without_a_callback_is_approval_required(agent: Agent):
    with pytest.raises(ApprovalRequired) as raised:
        agent.token("payments:write", audience=AUD)
    assert raised.value.error == "invalid_scope"
    assert raised.value.code == "approval_required"


def test_approved_with_the_cli_while_the_agent_waits(agent: Agent):
    shown: list[DeviceAuthorization] = []

    def on_approval(request: DeviceAuthorization) -> None:
        shown.append(request)
        approved = decide("approve", request.user_code)
        assert approved["status"] == "approved", approved

    token = agent.token("payments:write", audience=AUD, on_approval=on_approval)
    assert token.scope == "payments:write"
    [request] = shown
    assert request.verification_uri == agent.issuer + "/console/approve"
    assert request.verification_uri_complete == f"{request.verification_uri}?user_code={request.user_code}"
    verified = asyncio.run(Verifier(agent.issuer, AUD).verify(token.access_token))
    assert verified.scopes == ("payments:write",) and verified.did == agent.did
    # Cached: no second approval.
    assert agent.token("payments:write", audience=AUD, on_approval=on_approval) == token
    assert len(shown) == 1


def test_async_polling_until_approved_dpop_bound(agent: Agent):
    """The approval comes a second after the request: the first poll is authorization_pending, a later one the
    token."""
    started = time.monotonic()

    def on_approval(request: DeviceAuthorization) -> None:
        threading.Timer(1.0, decide, ("approve", request.user_code)).start()

    async def run():
        return await agent.adevice_token("payments:write", audience=AUD, on_approval=on_approval, dpop=True)

    token = asyncio.run(run())
    assert token.token_type == "DPoP"
    assert token.scope == "payments:write"
    assert time.monotonic() - started >= 1.0


def test_denied_with_the_cli_is_access_denied(agent: Agent):
    def on_approval(request: DeviceAuthorization) -> None:
        assert decide("deny", request.user_code)["status"] == "denied"

    with pytest.raises(AccessDenied) as raised:
        agent.device_token("payments:write", audience=AUD + "/denied", on_approval=on_approval)
    assert raised.value.error == "access_denied"
