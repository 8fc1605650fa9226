#!/usr/bin/env python3
"""Verify an auth4agent access token in a Python service, offline, with PyJWT.

    python3 -m pip install -r requirements.txt          # pyjwt[crypto]
    python3 verify_token.py --issuer https://auth.example.com --audience https://api.example.com \
        --token "$TOKEN"                                # or a file holding it, or - for stdin

The server's public keys come from --jwks-url (default: <issuer>/.well-known/jwks.json), fetched once
and cached; an unknown kid triggers one refresh (key rotation). Checked: EdDSA signature, typ
"at+jwt", iss, aud, exp/nbf/iat (60 s leeway), and the presence of the RFC 9068 claims.

Every flag has an environment equivalent: AUTH4AGENT_JWKS_URL, AUTH4AGENT_TOKEN, AUTH4AGENT_ISSUER,
AUTH4AGENT_AUDIENCE.

Prints the claims as JSON on stdout. Exit codes: 0 valid, 1 invalid token, 2 usage error,
3 the JWKS could not be fetched.
"""

import argparse
import json
import os
import sys

import jwt  # PyJWT

EXPECTED_TYP = "at+jwt"
# Only EdDSA: never let the token's header choose the algorithm (RFC 8725 §2.1).
ALGORITHMS = ["EdDSA"]
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "sub", "client_id", "aud", "iat", "exp", "jti"]


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description="Verify an auth4agent access token (offline, PyJWT).")
    p.add_argument("--token", default=env("AUTH4AGENT_TOKEN"),
                   help="the token, a file holding it, or - for stdin [env AUTH4AGENT_TOKEN]")
    p.add_argument("--issuer", default=env("AUTH4AGENT_ISSUER"),
                   help="expected iss: the server's --issuer URL [env AUTH4AGENT_ISSUER]")
    p.add_argument("--audience", default=env("AUTH4AGENT_AUDIENCE"),
                   help="expected aud: this service's identifier [env AUTH4AGENT_AUDIENCE]")
    p.add_argument("--jwks-url", default=env("AUTH4AGENT_JWKS_URL"),
                   help="JWKS URL [env AUTH4AGENT_JWKS_URL; default <issuer>/.well-known/jwks.json]")
    args = p.parse_args()
    missing = [f"--{name}" for name in ("token", "issuer", "audience") if not getattr(args, name)]
    if missing:
        p.error("missing " + ", ".join(missing) + " (or their AUTH4AGENT_* environment variables)")
    if not args.jwks_url:
        args.jwks_url = args.issuer.rstrip("/") + "/.well-known/jwks.json"
    return args


def read_token(value):
    if value == "-":
        return sys.stdin.read().strip()
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            return f.read().strip()
    return value.strip()


def verify(token, jwks_client, issuer, audience):
    """Returns the verified claims, or raises jwt.InvalidTokenError / jwt.PyJWKClientError."""
    signing_key = jwks_client.get_signing_key_from_jwt(token)  # picks the key by kid
    decoded = jwt.decode_complete(
        token,
        key=signing_key.key,
        algorithms=ALGORITHMS,
        issuer=issuer,
        audience=audience,
        leeway=LEEWAY_SECONDS,
        options={"require": REQUIRED_CLAIMS},
    )
    # The header is covered by the signature, so it is checked after verification. typ is a media
    # type: case-insensitive, "application/" optional (RFC 9068 §4).
    typ = decoded["header"].get("typ")
    normalized = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
    if normalized != EXPECTED_TYP:
        raise jwt.InvalidTokenError(f"typ is {typ!r}, expected {EXPECTED_TYP!r}")
    return decoded["payload"]


def main():
    args = parse_args()
    token = read_token(args.token)
    jwks_client = jwt.PyJWKClient(args.jwks_url, cache_keys=True, lifespan=300, timeout=10)
    try:
        claims = verify(token, jwks_client, args.issuer, args.audience)
    except jwt.PyJWKClientConnectionError as e:
        print(f"error: cannot fetch the JWKS from {args.jwks_url}: {e}", file=sys.stderr)
        return 3
    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as e:
        print(f"invalid token: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
