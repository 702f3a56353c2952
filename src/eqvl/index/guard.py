"""What stands between `eqvl index serve` and a hostile client: checks made before any route runs.

An ASGI middleware around the whole application, in this order:
  * URL length: over `max_url` bytes is a JSON 414 (uvicorn's own refusal of an over-long
    request line is turned into JSON 400 by `JsonH11Protocol`);
  * Host allow-list: the Host header must name an IP address, `localhost`, or a name given with
    `--host` / `--allow-host`. DNS rebinding (a web page whose name is re-pointed at 127.0.0.1)
    always sends its own name, so it is refused with 403;
  * Origin: a request carrying an `Origin` (or `Sec-Fetch-Site: cross-site`) from another site
    is refused with 403 — browsers send it on every cross-site POST, `no-cors` forms included
    (a followed link, a GET navigation, may still open a page: its answer goes to the user, not the site);
  * API key (when set): `Authorization: Bearer KEY`, `X-API-Key: KEY` or the page's `eqvl_key`
    cookie, compared in constant time on every request; the search page itself is public;
  * body size: read before the route runs, counted as it streams (chunked uploads included),
    refused with 413 as soon as it passes `max_body` — never buffered past the limit; at most
    `max_bodies` bodies are read at once (503 beyond), so uploads together hold at most
    max_bodies x max_body bytes.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import unquote, urlsplit

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: paths answered without an API key (the page holds no data; it asks for the key)
PUBLIC_PATHS = ("/",)
KEY_COOKIE = "eqvl_key"


@dataclass
class Policy:
    allowed_hosts: set[str] = field(default_factory=lambda: {"localhost"})
    api_key: str | None = None
    max_body: int = 10 * 1024 * 1024 + 64 * 1024
    max_url: int = 8192
    #: request bodies read at once (each up to max_body): bounds the memory uploads can take together
    max_bodies: int = 8


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def host_name(value: str) -> str:
    """'Example.com:8000' -> 'example.com'; '[::1]:80' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def host_allowed(policy: Policy, value: str) -> bool:
    name = host_name(value)
    return bool(name) and (is_ip(name) or name in policy.allowed_hosts)


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: Any, policy: Policy):
        self.app, self.policy = app, policy
        self._reading = 0  # bodies being read now (one event loop: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal:
            await _reply(send, *refusal)
            return
        if self._has_body(scope) and self._reading >= self.policy.max_bodies:
            await _reply(send, 503, f"{self._reading} uploads are being received; try again in a moment")
            return
        self._reading += 1
        try:
            body = await self._read_body(scope, receive)
        finally:
            self._reading -= 1
        if body is None:
            await _reply(send, 413, f"request body over the limit of {self.policy.max_body} bytes")
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        p = self.policy
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > p.max_url:
            return 414, f"URL over the limit of {p.max_url} bytes"
        host = headers.get("host", "")
        if not host_allowed(p, host):
            return 403, (f"Host {host[:100]!r} is not served here (allowed: an IP address, "
                         f"{', '.join(sorted(p.allowed_hosts))}; see --allow-host)")
        origin = headers.get("origin")
        if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
            return 403, f"cross-origin request from {origin[:100]!r} refused"
        navigation = scope.get("method") in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"
        if headers.get("sec-fetch-site") == "cross-site" and not navigation:  # a followed link may open the page
            return 403, "cross-site request refused"
        if p.api_key and scope.get("path") not in PUBLIC_PATHS and not self._key_ok(headers):
            return 401, "missing or wrong API key (send 'Authorization: Bearer KEY' or 'X-API-Key: KEY')"
        return None

    def _key_ok(self, headers: dict[str, str]) -> bool:
        key = self.policy.api_key or ""
        given = [headers.get("x-api-key", "")]
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given.append(auth[7:].strip())
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == KEY_COOKIE:
                given.append(unquote(value))
        return any(hmac.compare_digest(g.encode(), key.encode()) for g in given if g)

    @staticmethod
    def _has_body(scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"transfer-encoding" or (name.lower() == b"content-length" and value not in (b"0", b"")):
                return True
        return False

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (declared or streamed)."""
        limit = self.policy.max_body
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
                return None
        parts: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


class JsonH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request it cannot parse (an over-long URL or header)
    with a JSON 400 like every other error of the API, not text/plain."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": f"bad HTTP request: {msg}"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None, allow_remote: bool) -> str | None:
    """Refuse a non-loopback bind without an API key unless `allow_remote`; return the warning to show."""
    if is_loopback(host):
        return None
    if api_key:
        return (f"listening on {host}: reachable from other machines; every request needs the API key, and the "
                "traffic is plain HTTP (put a TLS reverse proxy in front, see docs/guide/index.md)")
    if not allow_remote:
        from eqvl.errors import EqvlError

        raise EqvlError(f"`host` {host} would serve the index, its captions and image paths to anyone on the network "
                        "with no key; set `api_key` (or EQVL_INDEX_API_KEY), or pass `allow_remote` to do it anyway", params=("host", "api_key", "allow_remote"))
    return (f"WARNING: listening on {host} WITHOUT an API key (--allow-remote): anyone who can reach this port can "
            "search the index, read its captions and image paths, and fetch every thumbnail")


def allowed_hosts(host: str, extra: list[str] | None = None) -> set[str]:
    """Host header names accepted besides IP addresses: localhost, the bound name, `--allow-host` names."""
    names = {"localhost"} | {h.strip().lower() for h in (extra or []) if h.strip()}
    if not is_ip(host) and host not in ("", "0.0.0.0", "::"):
        names.add(host.lower())
    return names
