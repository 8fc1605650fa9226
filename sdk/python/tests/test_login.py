"""End to end: onboarding with one command. `auth4agent login` (the real CLI) registers a new agent asking for
scopes and waits; the operator approves it, narrowed, through the approval queue (`approvals approve`); the SDK then
reads the home `login` wrote and calls the verifier crate's example axum-service with the approved scope, while the
scope the operator left out is refused."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import httpx
import pytest
from conftest import cli, env

from auth4agent import Agent, OAuthError


def test_login_approved_through_the_queue_then_the_sdk_calls_the_service():
    operator_home = env("AUTH4AGENT_E2E_OPERATOR_HOME")
    service = env("AUTH4AGENT_E2E_SERVICE")
    with tempfile.TemporaryDirectory() as root:
        home = os.path.join(root, "agent")
        login = subprocess.Popen(
            [
                env("AUTH4AGENT_E2E_CLI"),
                "--home",
                home,
                "--json",
                "login",
                "--server",
                env("AUTH4AGENT_E2E_SERVER"),
                "--domain",
                env("AUTH4AGENT_E2E_DOMAIN"),
                "--scopes",
                "files:read,files:write",
                "--name",
                "python agent",
                "--wait",
                "60s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            listed = cli(operator_home, "approvals", "list", "--wait", "30s")["approvals"]
            assert len(listed) == 1, listed
            request = listed[0]
            assert (request["kind"], request["name"]) == ("registration", "python agent")
            assert request["scopes"] == ["files:read", "files:write"]
            cli(operator_home, "approvals", "approve", request["user_code"], "--scopes", "files:read")
            out, err = login.communicate(timeout=60)
        finally:
            if login.poll() is None:
                login.kill()
        assert login.returncode == 0, f"login exited {login.returncode}\n{out}\n{err}"
        answer = json.loads(out)
        assert answer["did"] == request["did"]
        assert answer["status"] == "active"
        assert answer["allowed_scopes"] == ["files:read"]

        agent = Agent.from_home(home=home)
        assert agent.did == request["did"]
        with httpx.Client(auth=agent.auth("files:read", audience=service, dpop=True), timeout=10) as client:
            response = client.get(service + "/vault")
        assert response.status_code == 200, response.text
        assert response.json()["agent"] == agent.did
        with pytest.raises(OAuthError) as refused:
            agent.token("files:write", audience=service)
        assert refused.value.error == "invalid_scope", refused.value
