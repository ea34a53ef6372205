"""HTTP side of the fake: a handler routing Binance's public paths to `ExchangeState`, the
threaded server (`FakeBinance`, `start_fake_binance`) and the URLs ccxt needs (`CCXT_API_PATHS`)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from ..serving import TrackingServer, serve, shut
from .protocol import _JSON, DAPI_PREFIX, FAPI_PREFIX, SPOT_PREFIX, BinanceAPIError
from .state import ExchangeState

# Every `urls['api']` key of ccxt.binance, pointed at the same local path, so a stray call
# reaches the fake (a logged 404) instead of the network.
CCXT_API_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/dapi/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


class _Handler(BaseHTTPRequestHandler):
    """Routes Binance public REST paths to `ExchangeState`; one instance per connection."""

    protocol_version = "HTTP/1.1"  # keep-alive like the real API; every answer has Content-Length
    server_version = "fake-binance"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds
    # ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    ROUTES: ClassVar[dict[str, Callable[[ExchangeState, dict[str, str]], Any]]] = {
        f"{SPOT_PREFIX}/exchangeInfo": lambda s, q: s.exchange_info("spot"),
        f"{FAPI_PREFIX}/exchangeInfo": lambda s, q: s.exchange_info("perp"),
        f"{DAPI_PREFIX}/exchangeInfo": lambda s, q: {
            "timezone": "UTC",
            "serverTime": s.now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [],
        },
        f"{SPOT_PREFIX}/klines": lambda s, q: s.klines("spot", q),
        f"{FAPI_PREFIX}/klines": lambda s, q: s.klines("perp", q),
        f"{FAPI_PREFIX}/fundingRate": lambda s, q: s.funding_rate(q),
        f"{SPOT_PREFIX}/ticker/24hr": lambda s, q: s.ticker_24hr("spot", q),
        f"{FAPI_PREFIX}/ticker/24hr": lambda s, q: s.ticker_24hr("perp", q),
        f"{FAPI_PREFIX}/premiumIndex": lambda s, q: s.premium_index(q),
        f"{SPOT_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{FAPI_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{DAPI_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{SPOT_PREFIX}/ping": lambda s, q: {},
        f"{FAPI_PREFIX}/ping": lambda s, q: {},
    }

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        fault = state._take_fault(url.path, query)
        state._log(method, url.path, query, fault)
        if fault is not None:
            if fault.sleep_s > 0 and self.server.stopping.wait(fault.sleep_s):
                self.close_connection = True
                return
            if fault.drop:
                self.close_connection = True
                return
            if fault.status is not None:
                self._send(fault.status, fault.body, fault.content_type, fault.headers)
                return
            if fault.shift_start_ms and query.get("startTime", "").isdigit():
                # A copy: the log keeps what the client sent.
                shifted = int(query["startTime"]) - fault.shift_start_ms
                query = {**query, "startTime": str(shifted)}
        route = self.ROUTES.get(url.path) if method == "GET" else None
        if route is None:
            self._send_json(404, {"code": -1, "msg": "unknown path"})
            return
        try:
            payload = route(state, query)
        except BinanceAPIError as error:
            self._send_json(error.status, {"code": error.code, "msg": error.msg})
            return
        self._send_json(200, payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), _JSON, {})

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged in `state.requests`, not on stderr."""


class _Server(TrackingServer):
    """The shared server plumbing, knowing the exchange state its handlers serve."""

    def __init__(self, address: tuple[str, int], state: ExchangeState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class FakeBinance:
    """A running fake: `.state`, `.base_url`, `.ccxt_config()`; close with `.close()` or `with`."""

    def __init__(self, state: ExchangeState, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.server = _Server((host, port), state)
        self.port = int(self.server.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._thread = serve(self.server, f"fake-binance-{self.port}")
        self._closed = False

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server: `url("/api/v3/klines")`."""
        return self.base_url + path

    def ccxt_config(
        self,
        *,
        market_types: tuple[str, ...] = ("spot", "linear"),
        timeout_ms: int = 10_000,
        enable_rate_limit: bool = False,
        options: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Constructor config for `ccxt.binance` and `ccxt.binanceusdm` pointing at this server.

        Every `urls['api']` key is replaced (a stray endpoint gives a logged 404, never the
        network). `market_types` is `options.fetchMarkets.types`; the default loads spot and
        USD-M; pass `("linear",)` for binanceusdm's own default. `timeout_ms` is generous:
        on a busy CI machine a normal answer took over 2 s and a read timeout added a request
        a test counted; a test about timeouts sets its own.
        """
        merged_options: dict[str, Any] = {"fetchMarkets": {"types": list(market_types)}}
        merged_options.update(options or {})
        config: dict[str, Any] = {
            "urls": {"api": {key: self.base_url + path for key, path in CCXT_API_PATHS.items()}},
            "options": merged_options,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
        }
        config.update(extra)
        return config

    def close(self) -> None:
        """Stop serving, wake sleeping faults, close every socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        shut(self.server, self._thread)

    def __enter__(self) -> FakeBinance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_fake_binance(
    state: ExchangeState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> FakeBinance:
    """Serve `state` (default: the demo market) on `host:port` (0 = any free port) in a
    daemon thread. Returns the running `FakeBinance`; use it as a context manager."""
    return FakeBinance(state if state is not None else ExchangeState.demo(), host=host, port=port)
