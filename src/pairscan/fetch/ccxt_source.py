"""Stage 1 (fetch): the ccxt adapter. ccxt is imported here and nowhere else in pairscan.

ccxt exceptions are translated into ours in `_classify` (one place); transient faults are
retried with `RetryPolicy`, permanent ones fail fast. Messages name exchange, endpoint and
symbol, and pass through `redact` so no key, token or signed query string leaks.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ccxt

from pairscan.config import ExchangeConfig
from pairscan.errors import BadResponseError, ConfigError, ExchangeError
from pairscan.fetch.candles import validate_funding_rows, validate_ohlcv_rows
from pairscan.fetch.retry import RetryPolicy, parse_retry_after, redact
from pairscan.market import (
    FloatArray,
    FundingRates,
    MarketInfo,
    MarketType,
    Ticker24h,
    utc_now_ms,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Funding-history page sizes per exchange (their documented maxima); ccxt's `features` table
# has no entry for funding. Unknown exchanges get the most common small maximum.
FUNDING_PAGE_LIMITS: Mapping[str, int] = {
    "binance": 1000,
    "binanceusdm": 1000,
    "bybit": 200,
    "okx": 100,
    "bitget": 100,
    "gate": 1000,
    "kucoinfutures": 100,
}
DEFAULT_FUNDING_PAGE_LIMIT = 100
DEFAULT_OHLCV_PAGE_LIMIT = 500
# Candle page sizes where ccxt's `features` table undersells the exchange: it says 500 for
# Binance USD-M klines, but 500 and 1000 cost the same request weight (5) there, so 500
# doubles requests and weight. ccxt caps Binance klines at 1000 on every market type.
OHLCV_PAGE_LIMITS: Mapping[str, int] = {
    "binance": 1000,
    "binanceusdm": 1000,
    "binancecoinm": 1000,
}

# Exchanges whose candle and funding endpoints answer a bare JSON array. For them an empty
# result parsed from any other body is garbage, even before a good page has been seen; for
# other exchanges the body shape of the first good page is learned (see `_check_empty_body`).
ARRAY_BODY_EXCHANGES = frozenset({"binance", "binanceusdm", "binancecoinm", "binanceus"})

# ccxt constructor options pairscan sets unless the user's `exchange.ccxt_config` does.
# Binance: skip COIN-M (inverse) markets, which pairscan never trades (their P&L is in the
# base coin), saving one exchangeInfo request per run and a dependency on the dapi host.
DEFAULT_CCXT_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot", "linear"]}},
}

_PERMANENT = (
    ccxt.BadSymbol,
    ccxt.BadRequest,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.NotSupported,
    ccxt.ExchangeError,
)
_MARKET_TYPES = ("spot", "swap", "future", "option")
_PARSE_ERRORS = (KeyError, TypeError, ValueError, IndexError)
_CREDENTIAL_KEYS = ("apiKey", "secret", "password", "uid", "privateKey", "token")


def _classify(exc: BaseException) -> bool | None:
    """True: transient (retry). False: permanent (fail fast). None: not an exchange fault."""
    if isinstance(exc, BadResponseError):
        return True
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, ccxt.OperationFailed):
        # NetworkError (DDoSProtection/429, RateLimitExceeded, ExchangeNotAvailable/5xx,
        # RequestTimeout) and BadResponse: RateLimitExceeded is no longer a DDoSProtection
        # subclass in ccxt 4.x, so the common parent is the one to catch.
        return True
    if isinstance(exc, _PARSE_ERRORS):
        return True  # ccxt parsing a garbage 200 body, e.g. a JSON object where a list belongs
    if isinstance(exc, ccxt.BaseError):
        return False
    return None


def _contains_list(doc: Any) -> bool:
    if isinstance(doc, list):
        return True
    if isinstance(doc, dict):
        return any(_contains_list(v) for v in doc.values())
    return False


def _step(value: Any, precision_mode: int) -> float | None:
    if value is None:
        return None
    if precision_mode == ccxt.DECIMAL_PLACES:
        return float(10.0 ** (-float(value)))
    if precision_mode == ccxt.TICK_SIZE:
        return float(value)
    return None  # significant digits: no fixed lot step


def _market_info(market: Mapping[str, Any], precision_mode: int) -> MarketInfo:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    raw_type = market.get("type")
    kind: MarketType = raw_type if raw_type in _MARKET_TYPES else "other"
    return MarketInfo(
        symbol=str(market["symbol"]),
        base=str(market.get("base") or ""),
        quote=str(market.get("quote") or ""),
        type=kind,
        active=market.get("active") is not False,  # ccxt uses None for "unknown": keep it
        settle=market.get("settle"),
        contract_size=float(market.get("contractSize") or 1.0),
        amount_step=_step(precision.get("amount"), precision_mode),
        price_step=_step(precision.get("price"), precision_mode),
        min_amount=(limits.get("amount") or {}).get("min"),
        min_notional=(limits.get("cost") or {}).get("min"),
        taker_fee=_fee(market.get("taker")),
        extra={"linear": str(market.get("linear"))},
    )


def _fee(value: Any) -> float | None:
    """ccxt's market fee (a fraction of notional), None when absent or not a sane number."""
    try:
        fee = float(value)
    except (TypeError, ValueError):
        return None
    return fee if 0.0 <= fee < 0.1 else None


class CcxtSource:
    """`MarketSource` over any ccxt exchange, with bounded retries and error translation."""

    def __init__(
        self,
        config: ExchangeConfig,
        *,
        secrets: tuple[str, ...] = (),
        label: str = "config",
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if config.id not in ccxt.exchanges:
            raise ConfigError(
                f"{label}: exchange.id must be a ccxt exchange id or "
                f'"demo" (got "{config.id}");'
                " e.g. binance, binanceusdm, bybit, okx"
            )
        options: dict[str, Any] = {"enableRateLimit": True, **dict(config.ccxt_config)}
        defaults = DEFAULT_CCXT_OPTIONS.get(config.id, {})
        options["options"] = {**defaults, **dict(options.get("options") or {})}
        given = [k for k in _CREDENTIAL_KEYS if options.get(k)]
        self._secrets = (*secrets, *(str(options.pop(k)) for k in given))
        if given:
            # Candles, funding and markets are public; with keys some exchanges (Binance) add
            # private calls to load_markets that can fail a read-only run.
            log.warning("exchange.ccxt_config: %s ignored (market data needs no keys)", given)
        self._ex = getattr(ccxt, config.id)(options)
        self._config = config
        self._label = label
        self._policy = RetryPolicy.from_config(config)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._requests = 0
        self._markets: dict[str, MarketInfo] | None = None
        self._body_shapes: dict[str, str] = {}
        self._count_requests()

    def _count_requests(self) -> None:
        # ccxt funnels every HTTP call through `fetch`; counting there includes retries and
        # the extra calls some endpoints make, so the benchmark reports real request numbers.
        inner = self._ex.fetch

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._requests += 1
            return inner(*args, **kwargs)

        self._ex.fetch = counted

    @property
    def exchange_id(self) -> str:
        return str(self._config.id)

    @property
    def request_count(self) -> int:
        return self._requests

    def default_now_ms(self) -> int:
        return utc_now_ms()

    def server_time_ms(self) -> int | None:
        if not self._ex.has.get("fetchTime"):
            return None
        try:
            return int(self._ex.fetch_time())
        except (ccxt.BaseError, *_PARSE_ERRORS) as exc:
            log.info("%s: no server time (%s)", self.exchange_id, redact(str(exc), self._secrets))
            return None

    def close(self) -> None:
        session = getattr(self._ex, "session", None)
        if session is not None:
            session.close()

    def load_markets(self, reload: bool = False) -> dict[str, MarketInfo]:
        if self._markets is None or reload:
            raw = self._call("load_markets", None, lambda: self._ex.load_markets(reload))
            if not raw:
                raise BadResponseError(f"{self.exchange_id}: load_markets returned no markets")
            mode = self._ex.precisionMode
            self._markets = {s: _market_info(m, mode) for s, m in raw.items()}
        return self._markets

    def fetch_tickers_24h(self, symbols: list[str]) -> list[Ticker24h]:
        if not self._ex.has.get("fetchTickers"):
            raise ConfigError(
                f"{self.exchange_id} cannot rank markets by volume (no fetchTickers);"
                " list them in universe.symbols instead"
            )
        self.load_markets()

        def attempt() -> dict[str, Any]:
            found: dict[str, Any] = self._ex.fetch_tickers(symbols)
            if not found:  # a garbage body parses to {}: ranking on it would be arbitrary
                raise BadResponseError(f"{self.exchange_id} fetch_tickers returned no tickers")
            return found

        raw = self._call("fetch_tickers", None, attempt)
        tickers = []
        for symbol, ticker in raw.items():
            volume = ticker.get("quoteVolume")
            if volume is None and ticker.get("baseVolume") is not None:
                volume = ticker["baseVolume"] * (ticker.get("vwap") or ticker.get("last") or 0.0)
            tickers.append(Ticker24h(symbol=symbol, quote_volume=float(volume or 0.0)))
        return tickers

    def ohlcv_page_limit(self, symbol: str) -> int:
        if self._config.candle_limit is not None:
            return self._config.candle_limit
        if self.exchange_id in OHLCV_PAGE_LIMITS:
            return OHLCV_PAGE_LIMITS[self.exchange_id]
        self.load_markets()  # the limit depends on the market type (spot, linear, inverse)
        market = self._ex.markets.get(symbol)
        features = self._ex.features or {}
        kind = (market or {}).get("type", "spot")
        table = features.get(kind) or {}
        if kind != "spot" and market is not None:
            table = table.get("linear" if market.get("linear") else "inverse") or table
        limit = ((table or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if limit else DEFAULT_OHLCV_PAGE_LIMIT

    def fetch_ohlcv_page(
        self, symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> FloatArray:
        self.load_markets()
        self._check_timeframe(timeframe)
        where = f"{self.exchange_id} fetch_ohlcv {symbol} {timeframe}"

        def attempt() -> FloatArray:
            rows = self._ex.fetch_ohlcv(symbol, timeframe, since_ms, limit)
            if not rows:
                self._check_empty_body("fetch_ohlcv", where)
            checked = validate_ohlcv_rows(rows, where)
            self._learn_body_shape("fetch_ohlcv")
            return checked

        return self._call("fetch_ohlcv", symbol, attempt)

    def funding_page_limit(self, symbol: str) -> int:
        return FUNDING_PAGE_LIMITS.get(self.exchange_id, DEFAULT_FUNDING_PAGE_LIMIT)

    def fetch_funding_page(self, symbol: str, since_ms: int, limit: int) -> FundingRates:
        self.load_markets()
        where = f"{self.exchange_id} fetch_funding_rate_history {symbol}"

        def attempt() -> FundingRates:
            items = self._ex.fetch_funding_rate_history(symbol, since_ms, limit)
            if not items:
                self._check_empty_body("fetch_funding_rate_history", where)
            checked = validate_funding_rows(items, where)
            self._learn_body_shape("fetch_funding_rate_history")
            return checked

        return self._call("fetch_funding_rate_history", symbol, attempt)

    def has_funding_history(self) -> bool:
        return bool(self._ex.has.get("fetchFundingRateHistory"))

    def _check_timeframe(self, timeframe: str) -> None:
        known = self._ex.timeframes or {}
        if known and timeframe not in known:
            raise ConfigError(
                f"{self._label}: cache.timeframe must be one of {', '.join(known)} for "
                f'{self.exchange_id} (got "{timeframe}")'
            )

    def _body_shape(self) -> str | None:
        body = self._ex.last_http_response
        text = body.lstrip()[:1] if isinstance(body, str) else ""
        return {"[": "array", "{": "object"}.get(text)

    def _learn_body_shape(self, endpoint: str) -> None:
        shape = self._body_shape()
        if shape is not None and len(self._body_shapes) < 16:
            self._body_shapes.setdefault(endpoint, shape)

    def _check_empty_body(self, endpoint: str, where: str) -> None:
        """ccxt turns a 200 with a garbage body into `[]`: tell that apart from "no new data".

        Garbage is a body that is not JSON, a body whose shape differs from what this
        endpoint answers (a bare array on Binance, else the shape of the first good page),
        or, with nothing to compare to, a JSON document holding no array at all.
        """
        body = self._ex.last_http_response
        if not isinstance(body, str):
            return
        snippet = redact(body, self._secrets)[:60] or "empty body"
        try:
            doc = json.loads(body)
        except ValueError:
            raise BadResponseError(f"{where}: 200 response is not JSON ({snippet})") from None
        expected = self._body_shapes.get(endpoint) or (
            "array" if self.exchange_id in ARRAY_BODY_EXCHANGES else None
        )
        if expected is not None and self._body_shape() != expected:
            raise BadResponseError(f"{where}: 200 response is not a JSON {expected} ({snippet})")
        if not _contains_list(doc):
            raise BadResponseError(f"{where}: 200 response holds no data array ({snippet})")

    def _retry_after_s(self) -> float | None:
        headers = self._ex.last_response_headers or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        return parse_retry_after(value)

    def _call(self, endpoint: str, symbol: str | None, fn: Callable[[], T]) -> T:
        """Run one exchange call with bounded retries; translate every failure into ours."""
        what = f"{self.exchange_id} {endpoint}" + (f" {symbol}" if symbol else "")
        retry = 0
        while True:
            self._ex.last_response_headers = None
            try:
                return fn()
            except Exception as exc:
                transient = _classify(exc)
                if transient is None:
                    raise
                reason = redact(f"{type(exc).__name__}: {exc}", self._secrets)
                if not transient:
                    raise ExchangeError(f"{what} failed: {reason}") from None
                retry_after = self._retry_after_s()
                if self._policy.retry_after_too_long(retry_after):
                    raise ExchangeError(
                        f"{what} failed: {reason}; the exchange asks to wait {retry_after:.0f} s"
                        f" (Retry-After), more than exchange.retry_max_delay_s; try again later",
                        transient=True,
                    ) from None
                if retry >= self._policy.max_retries:
                    tries = retry + 1
                    raise ExchangeError(
                        f"{what} failed after {tries} attempt{'s' * (tries > 1)}: {reason}",
                        transient=True,
                    ) from None
                delay = self._policy.delay_s(retry, retry_after, self._rng)
                log.warning("%s: %s; retry %d in %.1f s", what, reason, retry + 1, delay)
                self._sleep(delay)
                retry += 1
