"""`python -m tests.fakes.binance [--port 0] [--data DIR] ...`: serve recorded parquet files
(default: the packaged demo data), print the base URL, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pairscan.market import parse_utc
from tests.fakes import binance

from .server import start_fake_binance
from .state import ExchangeState, _demo_folder


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.fakes.binance`: print the base URL, serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.binance", description=binance.__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--data", help="parquet folder (default: the packaged demo data)")
    parser.add_argument("--timeframe", default="1h", help="stored bar length of the files")
    parser.add_argument("--now", help="exchange clock: ISO datetime (UTC) or epoch ms")
    parser.add_argument("--no-open-candle", action="store_true", help="serve only closed bars")
    parser.add_argument("--no-extras", action="store_true", help="omit USDC/BTCUP/LUNA listings")
    args = parser.parse_args(argv)
    state = ExchangeState.from_folder(
        args.data or _demo_folder(),
        timeframe=args.timeframe,
        extras=not args.no_extras,
        serve_open_candle=not args.no_open_candle,
        now_ms=parse_utc(args.now, what="--now") if args.now else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_fake_binance(state, host=args.host, port=args.port) as fake:
        print(fake.base_url, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
