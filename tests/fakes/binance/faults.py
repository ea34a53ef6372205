"""Fault injection for the fake: `Fault`, one misbehaviour applied instead of the answer
(an error status and body, a delay, a dropped connection, an answer for an earlier window),
and its queue entry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .protocol import _HTML, _JSON


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the server, applied to a matching request instead of the answer.

    status None means "answer normally" (after `sleep_s`, and with `startTime` moved
    `shift_start_ms` earlier when set); with `drop` the socket is closed without any
    response. `body` is sent verbatim with `headers` and `content_type`.
    Use the constructors (`Fault.rate_limited()`, `Fault.drop_connection()`, ...).
    """

    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = _JSON
    sleep_s: float = 0.0
    drop: bool = False
    shift_start_ms: int = 0
    name: str = "fault"

    @classmethod
    def http(
        cls,
        status: int,
        body: str | bytes | dict[str, Any] | list[Any] = b"",
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        name: str | None = None,
    ) -> Fault:
        """Any status with any body; dicts and lists are sent as JSON."""
        if isinstance(body, dict | list):
            raw, default_type = json.dumps(body).encode(), _JSON
        elif isinstance(body, str):
            raw = body.encode()
            default_type = _HTML if body.lstrip().startswith("<") else _JSON
        else:
            raw, default_type = body, _JSON
        return cls(
            status=status,
            body=raw,
            headers=dict(headers or {}),
            content_type=content_type or default_type,
            name=name or f"http {status}",
        )

    @classmethod
    def rate_limited(cls, retry_after: int = 7) -> Fault:
        """HTTP 429 with `Retry-After` (seconds), as Binance sends on request-weight overuse."""
        body = {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 6000 request weight per "
            "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        return cls.http(429, body, headers={"Retry-After": str(retry_after)}, name="429")

    @classmethod
    def ip_banned(cls, retry_after: int = 120) -> Fault:
        """HTTP 418: the IP is banned after ignoring 429s."""
        body = {
            "code": -1003,
            "msg": "Way too much request weight used; IP banned until 1778889600000. "
            "Please use WebSocket Streams for live updates to avoid bans.",
        }
        return cls.http(418, body, headers={"Retry-After": str(retry_after)}, name="418")

    @classmethod
    def rate_limit_code(cls) -> Fault:
        """HTTP 200 carrying a -1003 error body (ccxt: RateLimitExceeded)."""
        return cls.http(200, {"code": -1003, "msg": "Too many requests."}, name="200 -1003")

    @classmethod
    def server_error(cls) -> Fault:
        """HTTP 500 with an empty body."""
        return cls.http(500, b"", name="500 empty")

    @classmethod
    def bad_gateway(cls) -> Fault:
        """HTTP 502 with an nginx-style HTML page."""
        page = (
            "<html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1></body></html>"
        )
        return cls.http(502, page, name="502 html")

    @classmethod
    def service_unavailable(cls) -> Fault:
        """HTTP 503 with Binance's -1001 internal-error body."""
        body = {
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again.",
        }
        return cls.http(503, body, name="503 -1001")

    @classmethod
    def gateway_timeout(cls) -> Fault:
        """HTTP 504: Binance's gateway gave up waiting for the backend."""
        page = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
        return cls.http(504, page, name="504")

    @classmethod
    def bad_symbol(cls) -> Fault:
        """HTTP 400 -1121, whatever the symbol."""
        return cls.http(400, {"code": -1121, "msg": "Invalid symbol."}, name="400 -1121")

    @classmethod
    def bad_request(cls) -> Fault:
        """HTTP 400 -1100 (illegal characters in a parameter)."""
        body = {
            "code": -1100,
            "msg": "Illegal characters found in parameter 'symbol'; legal range is "
            "'^[A-Z0-9-_.]{1,20}$'.",
        }
        return cls.http(400, body, name="400 -1100")

    @classmethod
    def waf_forbidden(cls) -> Fault:
        """HTTP 403 HTML page from the CDN's web application firewall."""
        page = (
            "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>"
            "<BODY><H1>403 ERROR</H1><H2>The request could not be satisfied.</H2></BODY></HTML>"
        )
        return cls.http(403, page, name="403 html")

    @classmethod
    def not_found(cls) -> Fault:
        """HTTP 404 with a JSON `{"code": -1}` body."""
        return cls.http(404, {"code": -1, "msg": "unknown path"}, name="404 -1")

    @classmethod
    def truncated_json(cls) -> Fault:
        """HTTP 200 whose JSON array stops mid-row."""
        return cls.http(200, '[[1747353600000,"103763.71000000","104033.9', name="truncated")

    @classmethod
    def empty_body(cls) -> Fault:
        """HTTP 200 with Content-Length 0."""
        return cls.http(200, b"", name="empty 200")

    @classmethod
    def html_page(cls) -> Fault:
        """HTTP 200 with an HTML page (a captive portal or maintenance page)."""
        page = "<!DOCTYPE html><html><body><p>System maintenance</p></body></html>"
        return cls.http(200, page, name="html 200")

    @classmethod
    def json_object(cls) -> Fault:
        """HTTP 200 with a JSON object where Binance sends an array."""
        return cls.http(200, {"symbol": "ETHUSDT", "data": []}, name="object 200")

    @classmethod
    def empty_list(cls) -> Fault:
        """HTTP 200 with `[]`: a well-formed answer saying "no rows", wherever rows exist
        (ccxt returns it as an empty list, exactly like a window with no data)."""
        return cls.http(200, [], name="200 []")

    @classmethod
    def earlier_window(cls, shift_ms: int) -> Fault:
        """Answer normally, but as if `startTime` were `shift_ms` earlier: rows that start
        before the requested time (a stale cache in front of the API). ccxt drops rows
        before `since` without a word, so a shift of a whole page leaves nothing."""
        if shift_ms <= 0:
            raise ValueError(f"shift_ms must be > 0 (got {shift_ms})")
        return cls(shift_start_ms=shift_ms, name=f"startTime -{shift_ms} ms")

    @classmethod
    def slow(cls, seconds: float, then: Fault | None = None) -> Fault:
        """Wait `seconds` (longer than the client timeout), then answer normally or `then`."""
        if then is None:
            return cls(sleep_s=seconds, name=f"slow {seconds}s")
        return cls(
            status=then.status,
            body=then.body,
            headers=then.headers,
            content_type=then.content_type,
            sleep_s=seconds,
            drop=then.drop,
            shift_start_ms=then.shift_start_ms,
            name=f"slow {seconds}s + {then.name}",
        )

    @classmethod
    def drop_connection(cls) -> Fault:
        """Close the socket without sending a byte of response."""
        return cls(drop=True, name="drop")


@dataclass
class _PendingFault:
    path: str | None
    symbol: str | None
    fault: Fault
    remaining: int
    skip: int = 0  # matching requests still to answer normally before the fault applies
