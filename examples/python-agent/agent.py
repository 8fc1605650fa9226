#!/usr/bin/env python3
"""An agent calling a protected service with the auth4agent Python SDK (`python3 -m pip install ./sdk/python`):

    python3 examples/python-agent/agent.py https://files.example.com/vault --audience https://files.example.com \
        --scope files:read --dpop

The identity is the CLI's (AUTH4AGENT_HOME and AUTH4AGENT_PROFILE as the CLI reads them). Prints the status and body.
"""

import argparse

import httpx

from auth4agent import Agent

p = argparse.ArgumentParser(description="GET a URL as this machine's auth4agent agent.")
p.add_argument("url")
p.add_argument("--audience", required=True, help="the service's URL, the token's audience")
p.add_argument("--scope", default="files:read")
p.add_argument("--dpop", action="store_true", help="a DPoP-bound token, a fresh proof per request")
args = p.parse_args()

agent = Agent.from_home()
with httpx.Client(auth=agent.auth(args.scope, audience=args.audience, dpop=args.dpop)) as client:
    response = client.get(args.url)
print(response.status_code, response.text)
raise SystemExit(0 if response.is_success else 1)
