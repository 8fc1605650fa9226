"""An independent Token Status List decoder, written from draft-ietf-oauth-status-list-20 alone.

Reads one JSON document on stdin: {"token": <statuslist+jwt>, "jwks": <JWKS>, "uri": <list URI>,
"now": <unix seconds>, "indexes": [<idx>, ...]}. Verifies the JWT (§5.1: typ statuslist+jwt, an EdDSA signature
by the JWKS key named by kid, sub equal to the uri, exp not passed) and decodes the list (§4.1: base64url, ZLIB,
`bits` per entry packed from the least significant bit). Prints {"bits", "size", "statuses": {idx: value}}.
Exits 1 with a message on any refusal.
"""

import base64
import json
import sys
import zlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refuse(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main():
    request = json.load(sys.stdin)
    header_b64, payload_b64, signature_b64 = request["token"].strip().split(".")
    header = json.loads(b64url(header_b64))
    if header.get("typ") != "statuslist+jwt":
        refuse("typ is not statuslist+jwt: %r" % header.get("typ"))
    if header.get("alg") not in ("EdDSA", "Ed25519"):
        refuse("alg %r" % header.get("alg"))
    keys = [k for k in request["jwks"]["keys"] if k.get("kid") == header.get("kid")]
    if len(keys) != 1 or keys[0].get("kty") != "OKP" or keys[0].get("crv") != "Ed25519":
        refuse("no Ed25519 key with kid %r" % header.get("kid"))
    key = Ed25519PublicKey.from_public_bytes(b64url(keys[0]["x"]))
    try:
        key.verify(b64url(signature_b64), (header_b64 + "." + payload_b64).encode("ascii"))
    except InvalidSignature:
        refuse("bad signature")
    claims = json.loads(b64url(payload_b64))
    if claims.get("sub") != request["uri"]:
        refuse("sub %r is not %r" % (claims.get("sub"), request["uri"]))
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= request["now"]:
        refuse("expired")
    if not isinstance(claims.get("ttl"), int) or claims["ttl"] <= 0:
        refuse("ttl")
    bits = claims["status_list"]["bits"]
    if bits not in (1, 2, 4, 8):
        refuse("bits %r" % bits)
    array = zlib.decompress(b64url(claims["status_list"]["lst"]))
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    statuses = {}
    for idx in request["indexes"]:
        if idx >= len(array) * per_byte:
            refuse("index %d out of range" % idx)
        byte = array[idx * bits // 8]
        statuses[str(idx)] = (byte >> ((idx * bits) % 8)) & mask
    print(json.dumps({"bits": bits, "size": len(array) * per_byte, "statuses": statuses}))


if __name__ == "__main__":
    main()
