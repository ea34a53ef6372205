"""Stage 2 (cache): candle and funding store (parquet or SQLite) and the pure merge/gap logic.

Never imports ccxt, requests or click: fetched records come in as `Candles`/`FundingRates`.
"""

from pairscan.cache.align import AlignedPanel, align_candles, to_frame
from pairscan.cache.merge import Gap, find_gaps, merge_candles, merge_funding, misaligned_count
from pairscan.cache.open import open_store
from pairscan.cache.store import (
    BACKENDS,
    FUNDING_TIMEFRAME,
    SeriesKey,
    Store,
    WriteResult,
    read_panel,
)

__all__ = [
    "BACKENDS",
    "FUNDING_TIMEFRAME",
    "AlignedPanel",
    "Gap",
    "SeriesKey",
    "Store",
    "WriteResult",
    "align_candles",
    "find_gaps",
    "merge_candles",
    "merge_funding",
    "misaligned_count",
    "open_store",
    "read_panel",
    "to_frame",
]
