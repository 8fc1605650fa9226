"""The SDK's pure parts, against the spec's worked examples and the Token Status List draft's examples: strict JWS
parsing and its refusals, the §7.2 claims rules, status list decoding, DPoP proofs, the JWKS cache's hygiene (with
an in-process transport and a controlled clock) and the CLI home."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import zlib
from pathlib import Path

import httpx
import pytest

from auth4agent import (
    AccessDenied,
    Agent,
    ExpiredToken,
    HomeError,
    ProtocolError,
    SigningKey,
    StatusUnavailable,
    VerificationError,
    Verifier,
    VerifierConfig,
    dpop,
    jws,
    status_list,
)
from auth4agent._encoding import b64url_decode, b64url_encode, compact_json
from auth4agent.claims import check_access_token, is_valid_did
from auth4agent.keys import PublicKey
from auth4agent.verifier import parse_jwks

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "spec" / "examples"
NOW = 1767225600  # the worked examples' time (spec §19)
ISSUER = "https://auth.example.com"
AUD = "https://api.example.com"
SERVER_KEY = SigningKey.from_seed(bytes([3]) * 32)
AGENT_KEY = SigningKey.from_seed(bytes([2]) * 32)
DID = "did:agent:example.com:6a3803d5f059902a1c6dafbc9ba47292"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def b64(value: object) -> str:
    return b64url_encode(compact_json(value))


def token_claims(**changes: object) -> dict:
    claims = {
        "iss": ISSUER,
        "sub": DID,
        "client_id": DID,
        "aud": AUD,
        "scope": "files:read",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "tQ2kGd3iX0b1S7yKp9cWmA",
        "cnf": {"jkt": AGENT_KEY.thumbprint()},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(header: dict, claims: dict, key: SigningKey = SERVER_KEY) -> str:
    return jws.sign(key, header, claims)


HEADER = {"alg": "EdDSA", "kid": SERVER_KEY.thumbprint(), "typ": "at+jwt"}


def check(claims: dict, **options: object) -> object:
    params = {"issuer": ISSUER, "audiences": (AUD,), "now": NOW}
    params.update(options)
    return check_access_token(claims, **params)  # type: ignore[arg-type]


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ProtocolError) as raised:
        fn(*args, **kwargs)
    return raised.value.code


# --- the worked examples ------------------------------------------------------------------------------------------


def test_the_spec_access_token_verifies_with_the_spec_jwks():
    compact = example("access_token.json")["jws"]["compact"]
    keys = parse_jwks(json.dumps(example("jwks.json")).encode())
    unverified = jws.parse(compact, jws.TYP_ACCESS_TOKEN)
    claims = unverified.verify(keys[unverified.kid])
    token = check(claims)
    assert token.did == DID and token.client_id == DID
    assert token.scopes == ("files:read", "tickets:write")
    assert token.cnf_jkt == example("keys.json")["agent"]["thumbprint"]
    assert token.exp == NOW + 900
    # The same token, a byte flipped in the signature: refused.
    head, payload, sig = compact.split(".")
    forged = f"{head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    assert code_of(lambda: jws.parse(forged, "at+jwt").verify(keys[unverified.kid])) == "bad_signature"


def test_thumbprints_and_keys_match_the_examples_and_rfc_8037():
    keys = example("keys.json")
    assert AGENT_KEY.public.jwk()["x"] == keys["agent"]["public_jwk"]["x"]
    assert SERVER_KEY.thumbprint() == example("jwks.json")["keys"][0]["kid"]
    rfc = PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    assert rfc.thumbprint() == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


# --- strict JWS (§5.2) ----------------------------------------------------------------------------------------------


def test_the_jws_profile_refuses_what_rfc_8725_warns_of():
    claims = token_claims()
    good = signed(HEADER, claims)
    assert jws.parse(good, "at+jwt").claims == claims
    body = b64(claims)
    cases = {
        "unsupported_alg": [{**HEADER, "alg": "none"}, {**HEADER, "alg": "HS256"}, {**HEADER, "alg": "eddsa"}],
        "embedded_key": [{**HEADER, "jwk": SERVER_KEY.public.jwk()}, {**HEADER, "jku": "https://evil.example"}],
        "empty_crit": [{**HEADER, "crit": []}],
        "unknown_crit": [{**HEADER, "crit": ["exp"]}],
        "missing_typ": [{k: v for k, v in HEADER.items() if k != "typ"}],
        "wrong_typ": [{**HEADER, "typ": "JWT"}, {**HEADER, "typ": "dpop+jwt"}, {**HEADER, "typ": 1}],
        "missing_kid": [{k: v for k, v in HEADER.items() if k != "kid"}, {**HEADER, "kid": ""}],
    }
    for code, headers in cases.items():
        for header in headers:
            compact = signed(header, claims)
            assert code_of(jws.parse, compact, "at+jwt") == code, header
    # typ is a media type: case-insensitive, application/ optional (RFC 9068 §4).
    assert jws.parse(signed({**HEADER, "typ": "application/AT+JWT"}, claims), "at+jwt")
    # Encodings and shape.
    head = b64(HEADER)
    sig = good.split(".")[2]
    assert code_of(jws.parse, f"{head}.{body}", "at+jwt") == "malformed_token"
    assert code_of(jws.parse, f".{body}.{sig}", "at+jwt") == "malformed_token"
    assert code_of(jws.parse, f"{head}=.{body}.{sig}", "at+jwt") == "invalid_base64"
    assert code_of(jws.parse, f"{head}.{body}.{sig[:-1]}+", "at+jwt") == "invalid_base64"
    assert code_of(jws.parse, "x" * 16_385, "at+jwt") == "token_too_large"
    dup_header = b64url_encode(b'{"alg":"EdDSA","kid":"k","typ":"at+jwt","typ":"at+jwt"}')
    assert code_of(jws.parse, f"{dup_header}.{body}.{sig}", "at+jwt") == "duplicate_member"
    dup_payload = b64url_encode(b'{"cnf":{"jkt":"a","jkt":"b"}}')
    assert code_of(jws.parse, f"{head}.{dup_payload}.{sig}", "at+jwt") == "duplicate_member"
    assert code_of(jws.parse, f"{head}.{b64([1])}.{sig}", "at+jwt") == "payload_not_object"
    assert code_of(jws.parse, f"{head}.{body}.{b64url_encode(bytes(63))}", "at+jwt") == "bad_signature"


def test_base64url_is_canonical_and_unpadded():
    assert b64url_decode("AQ") == b"\x01"
    for bad in ["AQ==", "AR", "A", "A+", "A/", "A Q"]:
        assert code_of(b64url_decode, bad) == "invalid_base64", bad


def test_strict_ed25519_refuses_malleable_and_small_order_signatures():
    message = b"signing input"
    signature = SERVER_KEY.sign(message)
    SERVER_KEY.public.verify_strict(message, signature)
    # S + L verifies under a lax verifier; here S >= L is refused.
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    assert (
        code_of(SERVER_KEY.public.verify_strict, message, signature[:32] + s.to_bytes(32, "little")) == "bad_signature"
    )
    # A small-order R (the identity) or key is refused.
    identity = bytes([1]) + bytes(31)
    assert code_of(SERVER_KEY.public.verify_strict, message, identity + signature[32:]) == "bad_signature"
    for small in [
        identity,
        bytes(32),
        bytes.fromhex("ec" + "ff" * 30 + "7f"),
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    ]:
        assert code_of(PublicKey.from_bytes, small) == "invalid_key"
    # Non-canonical: y >= p.
    assert code_of(PublicKey.from_bytes, bytes.fromhex("ee" + "ff" * 30 + "7f")) == "invalid_key"
    assert code_of(PublicKey.from_jwk, {**SERVER_KEY.public.jwk(), "d": "AA"}) == "invalid_key"


# --- claims (§7.2) ---------------------------------------------------------------------------------------------------


def test_access_token_claims_rules():
    assert check(token_claims()).scopes == ("files:read",)
    assert check(token_claims(aud=["https://x.example", AUD])).audience == ("https://x.example", AUD)
    cases = {
        "wrong_issuer": [token_claims(iss="https://auth.example.com/")],
        "wrong_audience": [token_claims(aud="https://other.example")],
        "empty_audience": [token_claims(aud=[])],
        "invalid_claim": [
            token_claims(aud=""),
            token_claims(client_id="did:agent:example.com:" + "0" * 32),
            token_claims(exp=NOW),
            token_claims(cnf={}),
            token_claims(jti=""),
        ],
        "missing_claim": [token_claims(jti=None), token_claims(cnf=None), token_claims(scope=None)],
        "invalid_numeric_date": [token_claims(iat=float(NOW)), token_claims(exp=-1), token_claims(exp=True)],
        "lifetime_too_long": [token_claims(exp=NOW + 3601)],
        "wrong_subject": [token_claims(sub="did:agent:Example.com:" + "0" * 32)],
        "invalid_scope": [token_claims(scope="a  b")],
    }
    for code, claim_sets in cases.items():
        for claims in claim_sets:
            assert code_of(check, claims) == code, claims
    # Times, with the 60 s leeway.
    assert check(token_claims(), now=NOW + 900 + 59)
    assert code_of(check, token_claims(), now=NOW + 900 + 60) == "expired"
    assert code_of(check, token_claims(), now=NOW - 61) == "issued_in_future"
    assert code_of(check, token_claims(nbf=NOW + 61)) == "not_yet_valid"
    # A status claim that is not the TSL shape.
    assert code_of(check, token_claims(status={"status_list": {"idx": -1, "uri": "u"}})) == "invalid_claim"
    ref = check(token_claims(status={"status_list": {"idx": 3, "uri": ISSUER + "/status-lists/1"}})).status
    assert ref is not None and ref.idx == 3


def test_did_syntax():
    assert is_valid_did(DID)
    for bad in [
        "did:agent:example.com:6A3803D5F059902A1C6DAFBC9BA47292",
        "did:agent:com:" + "0" * 32,
        "did:agent:192.0.2.1:" + "0" * 32,
        "did:web:example.com",
        "did:agent:-a.com:" + "0" * 32,
    ]:
        assert not is_valid_did(bad), bad


# --- Token Status Lists (§13.3) --------------------------------------------------------------------------------------


def test_status_lists_decode_the_draft_examples():
    # draft-ietf-oauth-status-list §4.1's examples: 1 bit [0xb9, 0xa3] and 2 bits [0xc9, 0x44, 0xf9].
    one = status_list.decode({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
    assert [one.get(i) for i in range(16)] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    two = status_list.decode({"bits": 2, "lst": "eNo76fITAAPfAgc"})
    assert [two.get(i) for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    assert code_of(two.get, 12) == "status_index_out_of_range"
    for bad in [
        {"bits": 3, "lst": "eNo76fITAAPfAgc"},
        {"bits": 2, "lst": "AAAA"},
        {"bits": 2},
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"x") + b"trailing")},
    ]:
        assert code_of(status_list.decode, bad) == "invalid_status_list", bad
    # A list past 16 MiB inflated is refused.
    bomb = b64url_encode(zlib.compress(bytes(16 * 1024 * 1024 + 1)))
    assert code_of(status_list.decode, {"bits": 2, "lst": bomb}) == "invalid_status_list"


def test_status_list_token_claims_and_values():
    uri = ISSUER + "/status-lists/1"
    lst = b64url_encode(zlib.compress(bytes([0b00_10_01_00])))
    claims = {"sub": uri, "iat": NOW, "exp": NOW + 3660, "ttl": 60, "status_list": {"bits": 2, "lst": lst}}
    token = status_list.check_claims(claims, uri=uri, now=NOW)
    assert [token.entries.get(i) for i in range(4)] == [0, 1, 2, 0]
    status_list.judge(0)
    with pytest.raises(VerificationError, match="token_revoked"):
        status_list.judge(1)
    with pytest.raises(VerificationError, match="agent_suspended"):
        status_list.judge(2)
    with pytest.raises(VerificationError, match="token_revoked"):
        status_list.judge(3)
    assert code_of(status_list.check_claims, claims, uri=uri + "0", now=NOW) == "status_list_uri_mismatch"
    assert code_of(status_list.check_claims, {**claims, "ttl": 0}, uri=uri, now=NOW) == "invalid_claim"
    assert code_of(status_list.check_claims, {**claims, "exp": NOW - 61}, uri=uri, now=NOW) in (
        "expired",
        "invalid_claim",
    )
    one_bit = {**claims, "status_list": {"bits": 1, "lst": lst}}
    assert code_of(status_list.check_claims, one_bit, uri=uri, now=NOW) == "invalid_status_list"


# --- DPoP (§7.3) ------------------------------------------------------------------------------------------------------


def test_dpop_proofs_round_trip_and_are_refused_when_they_do_not_fit():
    token = "header.payload.signature"
    url = "https://API.example.com:443/vault?x=1"
    jkt = AGENT_KEY.thumbprint()
    replay = dpop.ReplayCache()
    proof = dpop.make_proof(AGENT_KEY, "get", url, access_token=token, now=NOW)
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "dpop+jwt", "jwk": AGENT_KEY.public.jwk()}

    def verify(p: str = proof, **changes: object) -> None:
        params = {
            "method": "GET",
            "url": "https://api.example.com/vault",
            "access_token": token,
            "jkt": jkt,
            "now": NOW,
            "replay": dpop.ReplayCache(),
        }
        params.update(changes)
        dpop.verify_proof(p, **params)  # type: ignore[arg-type]

    dpop.verify_proof(
        proof, method="GET", url="https://api.example.com/vault", access_token=token, jkt=jkt, now=NOW, replay=replay
    )
    with pytest.raises(VerificationError) as raised:
        dpop.verify_proof(
            proof,
            method="GET",
            url="https://api.example.com/vault",
            access_token=token,
            jkt=jkt,
            now=NOW,
            replay=replay,
        )
    assert raised.value.code == "replayed" and raised.value.dpop
    for changes, code in [
        ({"method": "POST"}, "htm_mismatch"),
        ({"url": "https://api.example.com/other"}, "htu_mismatch"),
        ({"access_token": "another.token.x"}, "ath_mismatch"),
        ({"jkt": SERVER_KEY.thumbprint()}, "dpop_key_mismatch"),
        ({"now": NOW + 61}, "expired"),
        ({"now": NOW - 6}, "issued_in_future"),
    ]:
        with pytest.raises(VerificationError) as raised:
            verify(**changes)
        assert raised.value.code == code, changes
    # A proof with kid instead of jwk, or the typ of another kind.
    no_jwk = jws.sign(AGENT_KEY, {"alg": "EdDSA", "typ": "dpop+jwt", "kid": jkt}, {"htm": "GET"})
    with pytest.raises(VerificationError, match="invalid_key"):
        verify(no_jwk)
    wrong_typ = jws.sign(AGENT_KEY, {"alg": "EdDSA", "typ": "application/dpop+jwt", "jwk": AGENT_KEY.public.jwk()}, {})
    with pytest.raises(VerificationError, match="wrong_typ"):
        verify(wrong_typ)


def test_replay_cache_is_bounded():
    cache = dpop.ReplayCache(capacity=3, window=10)
    for jti in "abc":
        assert cache.first_use("k", jti, NOW)
    assert not cache.first_use("k", "c", NOW)
    assert cache.first_use("k", "d", NOW)  # a, the oldest, dropped
    assert len(cache._seen) == 3
    assert cache.first_use("k", "c", NOW + 11)  # the window passed


# --- the JWKS cache, with an in-process transport and a controlled clock --------------------------------------------


class Issuer:
    """An issuer's documents served by an httpx.MockTransport; counts JWKS fetches."""

    url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.keys = [SERVER_KEY]
        self.jwks_fetches = 0
        self.fail = False
        self.max_age = 300
        self.named = self.url

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/auth4agent-configuration":
            return httpx.Response(200, json={"issuer": self.named, "jwks_uri": self.url + "/jwks"})
        if path == "/jwks":
            self.jwks_fetches += 1
            if self.fail:
                return httpx.Response(503)
            keys = [{**k.public.jwk(), "kid": k.thumbprint(), "alg": "EdDSA", "use": "sig"} for k in self.keys]
            return httpx.Response(200, json={"keys": keys}, headers={"cache-control": f"max-age={self.max_age}"})
        if path == "/redirect":
            return httpx.Response(302, headers={"location": self.url + "/jwks"})
        if path == "/big":
            return httpx.Response(200, content=b"x" * (64 * 1024 + 1))
        return httpx.Response(404)


def verifier_for(issuer: Issuer, clock: list[float]) -> Verifier:
    config = VerifierConfig(clock=lambda: clock[0], transport=httpx.MockTransport(issuer.handler), check_status=False)
    return Verifier(issuer.url, AUD, config=config)


def issued(key: SigningKey, issuer: str, now: int) -> str:
    return signed({**HEADER, "kid": key.thumbprint()}, token_claims(iss=issuer, iat=now, exp=now + 900), key)


def test_jwks_cache_refetches_an_unknown_kid_once_per_cooldown_and_serves_stale_on_error():
    issuer = Issuer()
    clock = [float(NOW)]
    verifier = verifier_for(issuer, clock)

    async def run() -> None:
        assert (await verifier.verify(issued(SERVER_KEY, issuer.url, NOW))).did == DID
        assert issuer.jwks_fetches == 1
        # A flood of made-up kids: one refetch per 60 s cooldown.
        stranger = SigningKey.generate()
        for _ in range(5):
            with pytest.raises(VerificationError, match="unknown_kid"):
                await verifier.verify(issued(stranger, issuer.url, NOW))
        assert issuer.jwks_fetches == 1  # the first fetch started the cooldown
        clock[0] += 61
        issuer.keys = [SERVER_KEY, stranger]  # a rotation
        assert (await verifier.verify(issued(stranger, issuer.url, int(clock[0])))).did == DID
        assert issuer.jwks_fetches == 2
        # The issuer fails after max-age: the stale set serves (within stale-if-error), then refuses.
        issuer.fail = True
        clock[0] += 301
        assert await verifier.verify(issued(SERVER_KEY, issuer.url, int(clock[0])))
        clock[0] += 24 * 3600
        with pytest.raises(Exception, match="fetch_failed"):
            await verifier.verify(issued(SERVER_KEY, issuer.url, int(clock[0])))

    asyncio.run(run())


def test_fetches_follow_no_redirect_cap_the_size_and_need_https_off_loopback():
    issuer = Issuer()
    clock = [float(NOW)]

    async def run(uri: str) -> str:
        config = VerifierConfig(clock=lambda: clock[0], transport=httpx.MockTransport(issuer.handler))
        verifier = Verifier(issuer.url, AUD, config=config, jwks_uri=uri)
        with pytest.raises(Exception) as raised:
            await verifier.verify(issued(SERVER_KEY, issuer.url, NOW))
        return raised.value.code  # type: ignore[attr-defined]

    assert asyncio.run(run(issuer.url + "/redirect")) == "fetch_failed"
    assert asyncio.run(run(issuer.url + "/big")) == "too_large"
    assert asyncio.run(run("http://keys.example.com/jwks")) == "bad_url"
    assert issuer.jwks_fetches == 0


def test_discovery_refuses_another_issuer():
    issuer = Issuer()
    issuer.named = "https://auth.example.com"
    config = VerifierConfig(transport=httpx.MockTransport(issuer.handler))
    verifier = Verifier(issuer.url, AUD, config=config)
    with pytest.raises(Exception, match="issuer_mismatch"):
        asyncio.run(verifier.discover())


def test_the_jwks_rules():
    jwk = {**SERVER_KEY.public.jwk(), "kid": SERVER_KEY.thumbprint(), "use": "sig"}
    assert list(parse_jwks(json.dumps({"keys": [jwk]}).encode())) == [SERVER_KEY.thumbprint()]
    assert code_of(parse_jwks, json.dumps({"keys": [jwk, jwk]}).encode()) == "duplicate_kid"
    assert code_of(parse_jwks, json.dumps({"keys": [{**jwk, "x": b64url_encode(bytes(32))}]}).encode()) == "invalid_key"
    ignored = [{**jwk, "use": "enc"}, {"kty": "EC", "kid": "e"}, {**jwk, "kid": "not-the-thumbprint"}]
    assert parse_jwks(json.dumps({"keys": ignored}).encode()) == {}


# --- the agent's wire and the CLI home --------------------------------------------------------------------------------


def test_client_assertion_and_discovery_check():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/.well-known/auth4agent-configuration":
            return httpx.Response(200, json={"issuer": "https://evil.example"})
        return httpx.Response(500)

    agent = Agent(DID, AGENT_KEY, "http://127.0.0.1:9", transport=httpx.MockTransport(handler), clock=lambda: NOW)
    assertion = jws.parse(agent.client_assertion(), "client-authentication+jwt")
    claims = assertion.verify(AGENT_KEY.public)
    assert claims["iss"] == claims["sub"] == DID
    assert claims["aud"] == "http://127.0.0.1:9"
    assert claims["exp"] - claims["iat"] <= 300 and len(claims["jti"]) >= 22
    assert assertion.kid == AGENT_KEY.thumbprint()
    # A discovery document naming another issuer: nothing signed is sent.
    with pytest.raises(Exception, match="issuer_mismatch"):
        agent.token("files:read", audience=AUD)
    assert [r.url.path for r in seen] == ["/.well-known/auth4agent-configuration"]


def write_home(root: Path, key: SigningKey) -> None:
    (root / "keys").mkdir(parents=True, mode=0o700)
    identity = {"domain": "example.com", "server": "http://127.0.0.1:9", "did": DID, "thumbprint": key.thumbprint()}
    (root / "agent.json").write_text(json.dumps(identity))
    path = root / "keys" / "agent.key"
    path.write_bytes(key.to_pkcs8_pem())
    path.chmod(0o600)


def test_from_home_reads_the_cli_layout_with_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_home(tmp_path / "profiles" / "work", AGENT_KEY)
    monkeypatch.delenv("AUTH4AGENT_HOME", raising=False)
    monkeypatch.setenv("AUTH4AGENT_PROFILE", "work")
    agent = Agent.from_home(home=tmp_path)
    assert agent.did == DID and agent.issuer == "http://127.0.0.1:9"
    monkeypatch.delenv("AUTH4AGENT_PROFILE")
    monkeypatch.setenv("AUTH4AGENT_HOME", str(tmp_path))
    assert Agent.from_home(profile="work").did == DID
    with pytest.raises(HomeError, match="no_agent"):
        Agent.from_home()
    with pytest.raises(HomeError, match="invalid_profile"):
        Agent.from_home(profile="../x")
    os.chmod(tmp_path / "profiles" / "work" / "keys" / "agent.key", 0o644)
    with pytest.raises(HomeError, match="key_permissions_too_open"):
        Agent.from_home(profile="work")
    other = tmp_path / "other"
    write_home(other, SigningKey.generate())
    identity = json.loads((other / "agent.json").read_text())
    identity["thumbprint"] = AGENT_KEY.thumbprint()
    (other / "agent.json").write_text(json.dumps(identity))
    with pytest.raises(HomeError, match="key_mismatch"):
        Agent.from_home(home=other)


# --- status lists in the verifier, with an in-process issuer --------------------------------------------------------


def status_list_token(uri: str, iat: int, values: list[int], ttl: int = 60) -> str:
    packed = bytearray((len(values) + 3) // 4)
    for i, value in enumerate(values):
        packed[i // 4] |= value << (2 * (i % 4))
    claims = {
        "sub": uri,
        "iat": iat,
        "exp": iat + ttl + 3600,
        "ttl": ttl,
        "status_list": {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(packed)))},
    }
    return signed({"alg": "EdDSA", "kid": SERVER_KEY.thumbprint(), "typ": "statuslist+jwt"}, claims)


def test_status_lists_are_cached_until_their_window_ends_and_fail_closed():
    issuer = Issuer()
    uri = issuer.url + "/status-lists/1"
    clock = [float(NOW)]
    state = {"values": [0, 0], "fetches": 0, "fail": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/status-lists/1":
            state["fetches"] += 1
            if state["fail"]:
                return httpx.Response(503)
            window = int(clock[0]) - int(clock[0]) % 60
            body = status_list_token(uri, window, state["values"])
            return httpx.Response(200, content=body, headers={"content-type": "application/statuslist+jwt"})
        return issuer.handler(request)

    def verifier(stale: int = 0) -> Verifier:
        config = VerifierConfig(
            clock=lambda: clock[0], transport=httpx.MockTransport(handler), status_stale_if_error=stale
        )
        return Verifier(issuer.url, AUD, config=config)

    def token(idx: int) -> str:
        now = int(clock[0])
        claims = token_claims(iss=issuer.url, iat=now, exp=now + 900, status={"status_list": {"idx": idx, "uri": uri}})
        return signed(HEADER, claims)

    async def run() -> None:
        v = verifier()
        assert (await v.verify(token(0))).did == DID
        assert state["fetches"] == 1
        state["values"] = [1, 2]  # revoked, suspended: not seen before the window ends
        assert await v.verify(token(0))
        assert state["fetches"] == 1
        clock[0] += 60  # the next window
        with pytest.raises(VerificationError, match="token_revoked"):
            await v.verify(token(0))
        with pytest.raises(VerificationError, match="agent_suspended"):
            await v.verify(token(1))
        assert state["fetches"] == 2
        with pytest.raises(VerificationError, match="status_index_out_of_range"):
            await v.verify(token(4))
        # No list to be had: fail closed by default; the last good list for a bounded time when configured.
        state["values"] = [0, 0]
        lenient = verifier(stale=120)
        assert await lenient.verify(token(0))
        state["fail"] = True
        clock[0] += 60
        with pytest.raises(StatusUnavailable):
            await v.verify(token(0))
        assert await lenient.verify(token(0))
        clock[0] += 120
        with pytest.raises(StatusUnavailable):
            await lenient.verify(token(0))
        # A list named outside the issuer is never fetched.
        fetches = state["fetches"]
        foreign = token_claims(iss=issuer.url, iat=int(clock[0]), exp=int(clock[0]) + 900)
        foreign["status"] = {"status_list": {"idx": 0, "uri": "http://127.0.0.2:9/status-lists/1"}}
        with pytest.raises(StatusUnavailable):
            await v.verify(signed(HEADER, foreign))
        assert state["fetches"] == fetches

    asyncio.run(run())


# --- the device grant's polling, with an in-process token endpoint ----------------------------------------------------


def device_agent(answers: list[tuple[int, dict]], sleeps: list[float]) -> tuple[Agent, list[dict[str, str]]]:
    forms: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/auth4agent-configuration":
            return httpx.Response(200, json={"issuer": "http://127.0.0.1:9"})
        forms.append(dict(httpx.QueryParams(request.content.decode())))
        if request.url.path == "/oauth/device_authorization":
            return httpx.Response(
                200,
                json={
                    "device_code": "dc",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": "http://127.0.0.1:9/console/approve",
                    "verification_uri_complete": "http://127.0.0.1:9/console/approve?user_code=WDJB-MJHT",
                    "expires_in": 600,
                    "interval": 5,
                },
            )
        status, body = answers.pop(0)
        return httpx.Response(status, json=body)

    agent = Agent(DID, AGENT_KEY, "http://127.0.0.1:9", transport=httpx.MockTransport(handler))
    return agent, forms


def test_device_polling_follows_rfc_8628(monkeypatch: pytest.MonkeyPatch):
    import auth4agent.agent as agent_module

    sleeps: list[float] = []
    monkeypatch.setattr(agent_module.time, "sleep", sleeps.append)
    pending = (400, {"error": "authorization_pending", "auth4agent_error": "authorization_pending"})
    slow = (400, {"error": "slow_down", "auth4agent_error": "slow_down"})
    issued = (200, {"access_token": "t", "token_type": "Bearer", "expires_in": 900, "scope": "payments:write"})
    agent, forms = device_agent([pending, slow, pending, issued], sleeps)
    shown = []
    token = agent.device_token("payments:write", audience=AUD, on_approval=shown.append)
    assert token.access_token == "t" and token.scope == "payments:write"
    assert [s.user_code for s in shown] == ["WDJB-MJHT"]
    assert sleeps == [5, 10, 10], "slow_down adds 5 s for this and every later poll"
    start, *polls = forms
    assert start["resource"] == AUD and start["scope"] == "payments:write"
    assert all(p["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code" for p in polls)
    assert all("scope" not in p and "resource" not in p for p in polls)
    assert len({p["client_assertion"] for p in polls}) == len(polls), "a fresh assertion per poll"

    for error, cls in [("access_denied", AccessDenied), ("expired_token", ExpiredToken)]:
        agent, _ = device_agent([pending, (400, {"error": error, "auth4agent_error": error})], [])
        with pytest.raises(cls):
            agent.device_token("payments:write", audience=AUD, on_approval=lambda _: None)
