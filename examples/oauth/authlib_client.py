#!/usr/bin/env python3
"""Get an auth4agent access token with Authlib, a stock OAuth 2.0 client: no auth4agent code.

    python3 -m pip install -r examples/oauth/requirements.txt
    python3 examples/oauth/authlib_client.py --issuer https://auth.example.com \
        --client-id did:agent:example.com:… --key ~/.auth4agent/keys/agent.key \
        --resource https://api.example.com [--scope "files:read"]

The agent's key file is used exactly as `auth4agent init` wrote it (a PKCS#8 PEM). The token
endpoint is discovered from the server's RFC 8414 metadata (<issuer>/.well-known/oauth-authorization-server),
whose `issuer` must be the one asked for (RFC 8414 §3.3). The request is the client credentials
grant (RFC 6749 §4.4) with `private_key_jwt` client authentication (RFC 7523 §2.2), signed EdDSA,
with `client_id` = the agent's DID and `resource` (RFC 8707) = the audience of the token.

On success prints the token response as JSON on stdout ({access_token, token_type, expires_in,
scope}) and exits 0. A refusal by the server is raised by Authlib as an OAuthError: printed as
JSON {error, error_description} on stdout, exit 1. Exit 2 on usage errors, 3 when discovery fails.
"""

import argparse
import json
import sys
import warnings

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc.jwk import OKPKey

# auth4agent refuses client assertions that live longer than 300 s (spec §8.4), as Auth0 does.
# Authlib's PrivateKeyJWT signs them for 3600 s and has no option to change that (authlib issue
# #857), so this subclass passes the lifetime through Authlib's own signing function.
ASSERTION_LIFETIME = 60

# joserfc warns that RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519". auth4agent
# accepts both, and its metadata advertises "EdDSA", so that is what is signed.
warnings.filterwarnings("ignore", message="EdDSA is deprecated")


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's `private_key_jwt`, with assertions that expire ASSERTION_LIFETIME s after `iat`."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=ASSERTION_LIFETIME,
        )


def parse_args():
    p = argparse.ArgumentParser(description="Client credentials with private_key_jwt, through Authlib.")
    p.add_argument("--issuer", required=True, help="the auth4agent server's issuer URL")
    p.add_argument("--client-id", required=True, help="the agent's DID (did:agent:…)")
    p.add_argument("--key", required=True, help="the agent's private key file (PKCS#8 PEM)")
    p.add_argument("--resource", required=True, help="the service the token is for: its aud (RFC 8707)")
    p.add_argument("--scope", help="space-separated scopes (default: every scope the agent is allowed)")
    p.add_argument("--stock-assertion-lifetime", action="store_true",
                   help="use Authlib's PrivateKeyJWT unchanged (3600 s assertions, refused by auth4agent)")
    return p.parse_args()


def discover(issuer):
    """The RFC 8414 metadata of `issuer`, checked to be for it and to offer private_key_jwt + EdDSA."""
    url = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
    resp = requests.get(url, timeout=10)
    resp.raise_for_status()
    metadata = resp.json()
    if metadata.get("issuer") != issuer:
        raise ValueError(f"metadata issuer {metadata.get('issuer')!r} is not {issuer!r} (RFC 8414 §3.3)")
    if "private_key_jwt" not in metadata.get("token_endpoint_auth_methods_supported", []):
        raise ValueError("the server does not offer private_key_jwt")
    if "EdDSA" not in metadata.get("token_endpoint_auth_signing_alg_values_supported", []):
        raise ValueError("the server does not accept EdDSA client assertions")
    return metadata


def main():
    args = parse_args()
    try:
        metadata = discover(args.issuer)
    except (requests.RequestException, ValueError) as e:
        print(f"error: discovery failed: {e}", file=sys.stderr)
        return 3
    token_endpoint = metadata["token_endpoint"]

    with open(args.key, "rb") as f:
        key = OKPKey.import_key(f.read())  # the PEM as auth4agent wrote it
    auth_class = PrivateKeyJWT if args.stock_assertion_lifetime else ShortLivedPrivateKeyJWT
    # The assertion's aud is the token endpoint URL (Authlib's choice; auth4agent also accepts its issuer).
    session = OAuth2Session(
        client_id=args.client_id,
        client_secret=key,
        token_endpoint_auth_method=auth_class(token_endpoint, alg="EdDSA"),
        scope=args.scope,
    )
    try:
        token = session.fetch_token(
            token_endpoint,
            grant_type="client_credentials",
            client_id=args.client_id,
            resource=args.resource,
        )
    except OAuthError as e:
        print(json.dumps({"error": e.error, "error_description": e.description}))
        return 1
    print(json.dumps({k: token.get(k) for k in ("access_token", "token_type", "expires_in", "scope")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
