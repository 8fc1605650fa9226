"""Fetch hygiene for the documents a verifier reads from the issuer (discovery, JWKS, status lists), as the Rust
verifier crate has it: `https` unless loopback, no redirects, a response size cap, connect and total timeouts,
`ETag` / `If-None-Match`, and the freshness lifetime from `Cache-Control: max-age`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .errors import FetchError

MAX_DOCUMENT_BYTES = 64 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """`https`, or `http` to a loopback host; else a [`FetchError`] (`bad_url`)."""
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise FetchError(f"{url!r}: {e}", "bad_url") from None
    if not parts.hostname:
        raise FetchError(f"{url!r} has no host", "bad_url")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(url)):
        return url
    raise FetchError(f"{url!r}: https is required (http only to a loopback host)", "bad_url")


def max_age(headers: httpx.Headers) -> int | None:
    value = headers.get("cache-control")
    if value is None:
        return None
    if any(d.strip().lower() in ("no-store", "no-cache") for d in value.split(",")):
        return 0
    match = _MAX_AGE.search(value)
    return int(match.group(1)) if match else None


@dataclass
class Fetched:
    """A 200 (`body` set) or a 304 (`body` None: the cached copy stands)."""

    body: bytes | None
    etag: str | None
    max_age: int | None


async def fetch(
    url: str,
    *,
    accept: str,
    etag: str | None = None,
    limit: int = MAX_DOCUMENT_BYTES,
    connect_timeout: float = 5.0,
    timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """One conditional GET with the hygiene above."""
    check_url(url)
    headers = {"accept": accept}
    if etag is not None:
        headers["if-none-match"] = etag
    try:
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            trust_env=False,
        ) as client:
            async with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304 and etag is not None:
                    return Fetched(None, etag, max_age(response.headers))
                if response.status_code != 200:
                    raise FetchError(f"GET {url}: HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise FetchError(f"GET {url}: {declared} bytes is over the {limit}-byte limit", "too_large")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        raise FetchError(f"GET {url}: over the {limit}-byte limit", "too_large")
                return Fetched(bytes(body), response.headers.get("etag"), max_age(response.headers))
    except httpx.HTTPError as e:
        raise FetchError(f"GET {url}: {e.__class__.__name__}: {e}") from None
