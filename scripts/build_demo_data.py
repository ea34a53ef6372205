"""Rebuild the demo market shipped in `src/pairscan/demo/data/` from `../shared/data`.

Run once by a developer (`python scripts/build_demo_data.py`); the output is committed so
a clean clone needs nothing else. Values are copied, never altered: only the date window
and the symbol list are chosen here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "LTC", "BCH")
START = "2025-05-16T00:00Z"
END = "2026-05-16T00:00Z"  # exclusive: 8,760 hourly bars per series


def _window(frame: pd.DataFrame, start_ms: int, end_ms: int) -> pd.DataFrame:
    kept = frame[(frame["timestamp"] >= start_ms) & (frame["timestamp"] < end_ms)]
    return kept.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "pairscan" / "demo" / "data")
    args = parser.parse_args()
    start_ms = int(pd.Timestamp(START).timestamp() * 1000)
    end_ms = int(pd.Timestamp(END).timestamp() * 1000)
    args.out.mkdir(parents=True, exist_ok=True)
    for base in SYMBOLS:
        for prefix, kind in (("BINANCE", "1h"), ("BINANCEUSDM", "1h"), ("BINANCEUSDM", "funding")):
            name = f"{prefix}_{base}-USDT_{kind}.parquet"
            frame = _window(pd.read_parquet(args.source / name), start_ms, end_ms)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, args.out / name, compression="zstd", compression_level=9)
            print(f"{name}: {len(frame)} rows")


if __name__ == "__main__":
    main()
