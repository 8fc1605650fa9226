"""DPoP (RFC 9449) interop with implementations that are not auth4agent's.

    dpop_interop.py proof --key agent.key --method GET --url URL --token TOKEN [--alg EdDSA|Ed25519]
        prints a DPoP proof signed by joserfc with the agent's PKCS#8 key file
    dpop_interop.py verify --proof PROOF --method GET --url URL --token TOKEN --jkt THUMBPRINT [--now SECS]
        verifies a proof with the checks of RFC 9449 §4.3, written here on plain `cryptography`; prints
        {"valid": true, "jkt": ..., "jti": ...} or {"valid": false, "error": ...} and exits 0 or 1
"""

import argparse
import base64
import hashlib
import json
import sys
import time
import uuid
import warnings
from urllib.parse import urlsplit, urlunsplit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if "=" in text or any(c in text for c in "+/ \n"):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_proof(args) -> str:
    from joserfc import jws
    from joserfc.jwk import OKPKey

    with open(args.key, "rb") as f:
        key = OKPKey.import_key(f.read())
    public = key.as_dict(private=False)
    header = {
        "typ": "dpop+jwt",
        "alg": args.alg,
        "jwk": {"kty": public["kty"], "crv": public["crv"], "x": public["x"]},
    }
    split = urlsplit(args.url)
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": args.method,
        "htu": urlunsplit((split.scheme, split.netloc, split.path, "", "")),
        "iat": int(time.time()),
        "ath": b64url(hashlib.sha256(args.token.encode("ascii")).digest()),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns that RFC 9864 deprecates the name EdDSA
        return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[args.alg])


def no_duplicates(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise ValueError(f"duplicate member {name!r}")
        obj[name] = value
    return obj


def normalized(url: str) -> str:
    """RFC 9449 §4.3: no query or fragment; scheme and host lowercased; default port removed."""
    split = urlsplit(url)
    scheme = split.scheme.lower()
    host = (split.hostname or "").lower()
    port = split.port
    netloc = host if port is None or (scheme, port) in (("https", 443), ("http", 80)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, split.path or "/", "", ""))


def verify(args) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    parts = args.proof.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(b64url_decode(parts[0]), object_pairs_hook=no_duplicates)
    claims = json.loads(b64url_decode(parts[1]), object_pairs_hook=no_duplicates)
    signature = b64url_decode(parts[2])
    if header.get("typ") != "dpop+jwt":
        raise ValueError("typ is not dpop+jwt")
    if header.get("alg") not in ("EdDSA", "Ed25519"):
        raise ValueError("alg is not EdDSA")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("jwk is not an Ed25519 OKP key")
    if "d" in jwk:
        raise ValueError("jwk holds a private key")
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))  # raises InvalidSignature
    # RFC 7638: the required members in lexicographic order, no whitespace.
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"), sort_keys=True)
    jkt = b64url(hashlib.sha256(canonical.encode("ascii")).digest())
    if jkt != args.jkt:
        raise ValueError("the proof's key is not the expected key (jkt)")
    for name in ("jti", "htm", "htu"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise ValueError(f"{name} missing")
    if claims["htm"] != args.method:
        raise ValueError("htm differs")
    if normalized(claims["htu"]) != normalized(args.url):
        raise ValueError("htu differs")
    iat = claims.get("iat")
    now = args.now if args.now is not None else int(time.time())
    if not isinstance(iat, int) or isinstance(iat, bool) or not (now - 60 <= iat <= now + 5):
        raise ValueError("iat outside the window")
    if claims.get("ath") != b64url(hashlib.sha256(args.token.encode("ascii")).digest()):
        raise ValueError("ath is not the token's hash")
    return {"valid": True, "jkt": jkt, "jti": claims["jti"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("proof")
    p.add_argument("--key", required=True)
    p.add_argument("--alg", default="EdDSA", choices=["EdDSA", "Ed25519"])
    v = sub.add_parser("verify")
    v.add_argument("--proof", required=True)
    v.add_argument("--jkt", required=True)
    v.add_argument("--now", type=int)
    for s in (p, v):
        s.add_argument("--method", required=True)
        s.add_argument("--url", required=True)
        s.add_argument("--token", required=True)
    args = parser.parse_args()
    if args.command == "proof":
        print(make_proof(args))
        return 0
    try:
        print(json.dumps(verify(args)))
        return 0
    except Exception as e:  # every refusal is reported, never raised
        print(json.dumps({"valid": False, "error": f"{type(e).__name__}: {e}"}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
