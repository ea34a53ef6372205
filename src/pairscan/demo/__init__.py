"""The recorded demo market shipped with pairscan, for the no-network first run and tests."""

from pairscan.demo.source import DEMO_EXCHANGE_ID, DemoSource, demo_end_ms, demo_symbols

__all__ = ["DEMO_EXCHANGE_ID", "DemoSource", "demo_end_ms", "demo_symbols"]
