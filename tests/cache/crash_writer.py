"""Child process of test_crash: rewrites one large series forever, until the test kills it.

Version v has BASE_BARS + v bars whose every price equals v, so a reader can tell whether
what it sees is one whole version. Prints `ready` after the first write, then `wrote v`.
Usage: python crash_writer.py <backend> <cache root> <first version>
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pairscan.cache import open_store
from pairscan.market import MS_PER_HOUR, Candles

BASE_BARS = 50_000
T0 = 1_600_000_000_000 // MS_PER_HOUR * MS_PER_HOUR
SERIES = ("binance", "ETH/USDT", "1h")


def version(v: int) -> Candles:
    """All bars of version v: BASE_BARS + v hourly bars, every price and volume equal to v."""
    n = BASE_BARS + v
    marker = np.full(n, float(v))
    ts = T0 + np.arange(n, dtype=np.int64) * MS_PER_HOUR
    return Candles(ts, marker, marker.copy(), marker.copy(), marker.copy(), marker.copy())


def main() -> None:
    backend, root, first = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    with open_store(backend, root) as store:
        v = first
        while True:
            store.write_candles(*SERIES, version(v))
            print("ready" if v == first else f"wrote {v}", flush=True)
            v += 1


if __name__ == "__main__":
    main()
