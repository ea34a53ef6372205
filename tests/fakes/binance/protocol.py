"""Binance's wire conventions, shared by the fake's modules: paths, limits, content types,
the error answer, decimal formatting and query-parameter parsing. No state, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import numpy as np

from pairscan.market import MS_PER_HOUR

MarketKind = Literal["spot", "perp"]

SPOT_PREFIX = "/api/v3"
FAPI_PREFIX = "/fapi/v1"
DAPI_PREFIX = "/dapi/v1"
SPOT_KLINES_MAX = 1000
FAPI_KLINES_MAX = 1500
KLINES_DEFAULT = 500
FUNDING_DEFAULT = 100
FUNDING_MAX = 1000
TICKER_WINDOW_MS = 24 * MS_PER_HOUR
_JSON = "application/json;charset=UTF-8"
_HTML = "text/html"


class BinanceAPIError(Exception):
    """An error answer in Binance's format: HTTP `status` with `{"code": code, "msg": msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def _invalid_symbol() -> BinanceAPIError:
    return BinanceAPIError(400, -1121, "Invalid symbol.")


def _mandatory(name: str) -> BinanceAPIError:
    return BinanceAPIError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


# --------------------------------------------------------------------------- formatting


def _dec(value: str | float | None) -> str:
    """Normalise a decimal to plain notation without trailing zeros (`"0.00100"` -> `"0.001"`)."""
    return format(Decimal(str(value)).normalize(), "f")


def _decimals(text: str) -> int:
    exponent = Decimal(text).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _fmt_pow10(value: float) -> str:
    return _dec(f"{value:.12f}")


def _fmt(value: float, decimals: int) -> str:
    """Fixed-point like Binance; falls back to the shortest exact form if rounding would
    change the float, so ccxt parses back exactly the recorded value."""
    text = f"{value:.{decimals}f}"
    if float(text) == value:
        return text
    return np.format_float_positional(value, unique=True, trim="-")


def _exchange_id(symbol: str) -> str:
    """`ETH/USDT:USDT`, `ETH/USDT` or `ETHUSDT` -> `ETHUSDT`."""
    return symbol.split(":", 1)[0].replace("/", "").upper()


def _int_param(query: Mapping[str, str], name: str, default: int, *, low: int = 0) -> int:
    value = _opt_int_param(query, name)
    if value is None:
        return default
    if value < low:
        raise BinanceAPIError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '[{low},]'.",
        )
    return value


def _opt_int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", raw):
        raise BinanceAPIError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)
