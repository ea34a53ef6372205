"""Shared pytest fixtures: local fake servers that real clients talk to over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.fakes.binance import ExchangeState, FakeBinance, start_fake_binance
from tests.fakes.chat import FakeChat, start_fake_chat


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    """A fake Binance public REST API on 127.0.0.1 serving the packaged demo market.

    Fresh state per test (clock, faults, log, statuses); the parquet arrays are read once
    per process and shared read-only. Point ccxt at it with
    `ccxt.binance(fake_binance.ccxt_config())`.
    """
    with start_fake_binance(ExchangeState.demo()) as fake:
        yield fake


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI installs its own root handler and levels (a stderr handler that would outlive
    CliRunner's streams); put the test process's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("ccxt", "urllib3")}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()  # the `--log-json` file of the last invocation
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture
def fake_chat() -> Iterator[FakeChat]:
    """A fake Slack incoming webhook + Telegram Bot API on 127.0.0.1 (one server, both).

    Fresh per test. Point the notifier at it with `fake_chat.webhook_url` (SLACK_WEBHOOK_URL),
    `fake_chat.api_base` (notify.telegram.api_base), `fake_chat.token` and `fake_chat.chat_id`
    (or `fake_chat.env()`); assert on `fake_chat.delivered("slack")`.
    """
    with start_fake_chat() as fake:
        yield fake
