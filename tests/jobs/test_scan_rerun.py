"""A rerun of an hour already decided: one connection to the state database answers "already
decided?" and retries the deliveries (issue 13: the job opened it twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pairscan.state import StateStore
from tests.fakes.binance import FakeBinance
from tests.fakes.chat import FakeChat
from tests.jobs.test_scan_e2e import SECRET_NAMES, assert_ok, make_scan


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    """No config.yaml, .env or secrets of the developer's shell; logging restored after."""
    monkeypatch.chdir(tmp_path)
    for name in (*SECRET_NAMES, "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow  # one full scan first (the cache update and the numeric stack)
def test_a_rerun_of_a_decided_hour_opens_the_state_database_once(
    fake_binance: FakeBinance,
    fake_chat: FakeChat,
    tmp_path: Path,
    isolated: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat)
    assert_ok(scan.run(0))
    opened: list[bool] = []
    init = StateStore.__init__

    def counting(self: StateStore, path: Path, **kwargs: object) -> None:
        opened.append(bool(kwargs.get("create", True)))
        init(self, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StateStore, "__init__", counting)
    again = scan.run(0)
    assert_ok(again)
    assert "already decided; only undelivered tickets were retried" in again.stdout
    assert opened == [True]
