"""Shared pytest fixtures: local fake servers that real clients talk to over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.binance import ExchangeState, FakeBinance, start_fake_binance


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    """A fake Binance public REST API on 127.0.0.1 serving the packaged demo market.

    Fresh state per test (clock, faults, log, statuses); the parquet arrays are read once
    per process and shared read-only. Point ccxt at it with
    `ccxt.binance(fake_binance.ccxt_config())`.
    """
    with start_fake_binance(ExchangeState.demo()) as fake:
        yield fake
