"""Stage 1 (fetch): market data from any ccxt exchange (or the demo market), paginated,
validated and retried. Writes nothing to disk."""

from pairscan.fetch.candles import (
    IncompleteHistoryError,
    fetch_closed_candles,
    fetch_funding_history,
    validate_funding_rows,
    validate_ohlcv_rows,
)
from pairscan.fetch.retry import RetryPolicy, redact
from pairscan.fetch.source import MarketSource
from pairscan.fetch.universe import eligible_markets, resolve_universe

__all__ = [
    "IncompleteHistoryError",
    "MarketSource",
    "RetryPolicy",
    "eligible_markets",
    "fetch_closed_candles",
    "fetch_funding_history",
    "redact",
    "resolve_universe",
    "validate_funding_rows",
    "validate_ohlcv_rows",
]
