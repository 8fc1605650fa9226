"""Fixtures of the end-to-end tests: the world the Rust e2e module (tests/tests/e2e/python_sdk.rs) set up, passed
in AUTH4AGENT_E2E_* variables (a real server, real DNS, homes made by the real CLI), the CLI itself, and FastAPI
apps served by uvicorn on a loopback port. Run standalone, the end-to-end tests skip; run by the Rust module
(AUTH4AGENT_E2E=1), a missing variable fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from typing import Any

import pytest


def env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        if os.environ.get("AUTH4AGENT_E2E") == "1":
            pytest.fail(f"{name} is not set")
        pytest.skip("an end-to-end test: run it through `cargo test -p auth4agent-e2e --test e2e -- python_sdk::`")
    return value


def cli(home: str, *args: str) -> Any:
    """`auth4agent --home HOME --json ARGS…`; its JSON answer (the run must succeed)."""
    done = subprocess.run(
        [env("AUTH4AGENT_E2E_CLI"), "--home", home, "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, f"auth4agent {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """An ASGI app served by uvicorn in a thread on 127.0.0.1:port."""

    def __init__(self, app: Any, port: int):
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn exited"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
