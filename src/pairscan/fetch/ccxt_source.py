"""Stage 1 (fetch): the ccxt adapter. ccxt is imported here (and in `ccxt_markets`, its
market parsing) and nowhere else in pairscan.

One module (~450 lines): one class, whose endpoints share one call path (`_call`: retries,
error mapping, redaction) and the checks of what an exchange served.

ccxt exceptions are translated into ours in `_classify` (one place); transient faults are
retried with `RetryPolicy`, permanent ones fail fast. Messages name exchange, endpoint and
symbol, and pass through `redact` so no key, token or signed query string leaks.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ccxt
import numpy as np

from pairscan.config import ExchangeConfig
from pairscan.errors import BadResponseError, ConfigError, ExchangeError
from pairscan.fetch.candles import validate_funding_rows, validate_ohlcv_rows
from pairscan.fetch.ccxt_markets import market_info, market_list_problem
from pairscan.fetch.retry import RetryPolicy, network_cause, parse_retry_after, redact
from pairscan.market import (
    FloatArray,
    FundingRates,
    MarketInfo,
    Ticker24h,
    format_utc,
    timeframe_ms,
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
        self._answers: list[tuple[str, Any]] | None = None  # collected during load_markets
        self._count_requests()

    def _count_requests(self) -> None:
        # ccxt funnels every HTTP call through `fetch`; counting there includes retries and
        # the extra calls some endpoints make, so the benchmark reports real request numbers.
        # While markets load, the answers are kept too: ccxt makes one call per market type
        # and silently drops a type whose answer is garbage.
        inner = self._ex.fetch

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._requests += 1
            answer = inner(*args, **kwargs)
            if self._answers is not None:
                url = str(args[0] if args else kwargs.get("url", ""))
                self._answers.append((urllib.parse.urlsplit(url).path, answer))
            return answer

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
            attempts = 0

            def attempt() -> dict[str, Any]:
                nonlocal attempts
                attempts += 1
                self._answers = []
                try:
                    # A retry must ask again: ccxt keeps the markets of a failed check.
                    raw: dict[str, Any] = self._ex.load_markets(reload or attempts > 1)
                finally:
                    answers, self._answers = self._answers, None
                for path, answer in answers:
                    problem = market_list_problem(self.exchange_id, answer, path, self._secrets)
                    if problem is not None:
                        where = f"{self.exchange_id} load_markets {path}"
                        raise BadResponseError(f"{where}: {problem}")
                if not raw:
                    raise BadResponseError(f"{self.exchange_id} load_markets: no markets")
                return raw

            raw = self._call("load_markets", None, attempt)
            mode = self._ex.precisionMode
            self._markets = {s: market_info(m, mode) for s, m in raw.items()}
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
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        limit: int,
        *,
        require_rows: bool = False,
    ) -> FloatArray:
        self.load_markets()
        self._check_timeframe(timeframe)
        where = f"{self.exchange_id} fetch_ohlcv {symbol} {timeframe}"
        # Bars of a fixed length sit a whole number of bars apart; months vary in length.
        step_ms = None if timeframe[-1] in "My" else timeframe_ms(timeframe)

        def newest() -> int | None:
            # Without a start, the exchange answers its newest bars (the open one included).
            latest = validate_ohlcv_rows(self._ex.fetch_ohlcv(symbol, timeframe, None, 2), where)
            return int(latest[-1, 0]) if len(latest) else None

        def attempt() -> FloatArray:
            rows = self._ex.fetch_ohlcv(symbol, timeframe, since_ms, limit)
            if not rows:
                self._check_empty_body("fetch_ohlcv", where)
            checked = validate_ohlcv_rows(rows, where)
            # On the rows as served (validated, so row[0] is a number): a bar dropped as
            # unsound is a gap, not a missing answer. ccxt drops rows before `since` itself
            # on most exchanges; on the others they count as missing too.
            if require_rows and not any(row[0] >= since_ms for row in rows):
                self._missing_rows("candle", since_ms, where, newest)
            if step_ms is not None and np.any(np.diff(checked[:, 0]) % step_ms):
                raise BadResponseError(
                    f"{where}: candle open times are not whole {timeframe} bars apart"
                )
            self._learn_body_shape("fetch_ohlcv")
            return checked[checked[:, 0] >= since_ms]

        return self._call("fetch_ohlcv", symbol, attempt)

    def funding_page_limit(self, symbol: str) -> int:
        return FUNDING_PAGE_LIMITS.get(self.exchange_id, DEFAULT_FUNDING_PAGE_LIMIT)

    def fetch_funding_page(
        self, symbol: str, since_ms: int, limit: int, *, require_rows: bool = False
    ) -> FundingRates:
        self.load_markets()
        where = f"{self.exchange_id} fetch_funding_rate_history {symbol}"

        def newest() -> int | None:
            latest = self._ex.fetch_funding_rate_history(symbol, None, 1)
            events = validate_funding_rows(latest, where)
            return int(events.timestamp[-1]) if len(events) else None

        def attempt() -> FundingRates:
            items = self._ex.fetch_funding_rate_history(symbol, since_ms, limit)
            if not items:
                self._check_empty_body("fetch_funding_rate_history", where)
            checked = validate_funding_rows(items, where).between(since_ms, None)
            if require_rows and not len(checked):
                self._missing_rows("funding event", since_ms, where, newest)
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

    def _missing_rows(
        self, what: str, since_ms: int, where: str, newest: Callable[[], int | None]
    ) -> None:
        """An answer without a row at or after `since_ms` where the caller requires one: a
        fault (raise `BadResponseError`, retried) unless the exchange's own newest row, asked
        for without a start, is older than `since_ms`. Then its data ended (a market that
        stopped while still listed as trading): the empty answer stands, with a warning."""
        served = self._served(since_ms)  # before the next request replaces the body
        last = newest()
        if last is not None and last < since_ms:
            log.warning(
                "%s: no %s since %s: the exchange's newest is at %s though it lists the market"
                " as trading",
                where,
                what,
                format_utc(since_ms),
                format_utc(last),
            )
            return
        though = (
            f"the exchange's newest {what} is at {format_utc(last)}"
            if last is not None
            else f"the exchange's clock is past it and it served no newest {what} either"
        )
        raise BadResponseError(
            f"{where}: no {what} at or after {format_utc(since_ms)} ({served}) though {though}"
        )

    def _served(self, since_ms: int) -> str:
        """What the last answer held instead of rows from `since_ms`: `200 []`, or rows that
        start before it (which ccxt drops without a word)."""
        body = self._ex.last_http_response
        try:
            doc = json.loads(body) if isinstance(body, str) else None
        except ValueError:
            doc = None
        if not isinstance(doc, list):
            return "no rows"
        if not doc:
            return "200 []"
        first = doc[0]
        stamp = first[0] if isinstance(first, list) and first else None
        if isinstance(first, dict):
            stamp = first.get("fundingTime", first.get("timestamp"))
        if isinstance(stamp, int) and stamp < since_ms:
            return f"{len(doc)} rows, all before it from {format_utc(stamp)}"
        return f"{len(doc)} rows that do not continue from it"

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
                cause = network_cause(exc) if isinstance(exc, ccxt.NetworkError) else None
                # The cause first: a long exchange message is cut at the end, not the cause.
                detail = f"{cause}; {exc}" if cause else str(exc)
                reason = redact(f"{type(exc).__name__}: {detail}", self._secrets)
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
