"""A local Binance public REST API on 127.0.0.1, for tests with real ccxt over real HTTP.

Serves recorded candles and funding from memory behind Binance's own paths, parameters,
row formats and error bodies (spot `/api/v3`, USD-M `/fapi/v1`), with a settable clock, a
queue of one-shot faults and a log of every request. Test-only: never imported by `src/`.

Run standalone (prints the base URL, serves until killed)::

    python -m tests.fakes.binance --port 0 --data /work/shared/data
"""

from .faults import Fault
from .filters import FakeMarket, Filters, StaticTicker, known_filters
from .protocol import (
    DAPI_PREFIX,
    FAPI_KLINES_MAX,
    FAPI_PREFIX,
    FUNDING_DEFAULT,
    FUNDING_MAX,
    KLINES_DEFAULT,
    SPOT_KLINES_MAX,
    SPOT_PREFIX,
    TICKER_WINDOW_MS,
    BinanceAPIError,
    MarketKind,
)
from .server import CCXT_API_PATHS, FakeBinance, start_fake_binance
from .state import CandleLike, ExchangeState, FundingLike, LoggedRequest

__all__ = [
    "CCXT_API_PATHS",
    "DAPI_PREFIX",
    "FAPI_KLINES_MAX",
    "FAPI_PREFIX",
    "FUNDING_DEFAULT",
    "FUNDING_MAX",
    "KLINES_DEFAULT",
    "SPOT_KLINES_MAX",
    "SPOT_PREFIX",
    "TICKER_WINDOW_MS",
    "BinanceAPIError",
    "CandleLike",
    "ExchangeState",
    "FakeBinance",
    "FakeMarket",
    "Fault",
    "Filters",
    "FundingLike",
    "LoggedRequest",
    "MarketKind",
    "StaticTicker",
    "known_filters",
    "start_fake_binance",
]
