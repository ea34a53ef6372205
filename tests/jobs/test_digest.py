"""The daily digest: when it is due, what it says about selection changes, sent once a day."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pairscan.config import Config, NotifyConfig
from pairscan.jobs.digest import digest_due, selection_changes, send_digest
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, parse_utc
from pairscan.notify import ConsoleChannel
from pairscan.state import StateStore
from pairscan.tickets import build_paper_book, selection_writer
from tests.tickets.factories import make_ticket

DAY = parse_utc("2026-05-15T00:00")


def _selection(pairs: list[tuple[str, str]], also: list[tuple[str, str]]) -> dict[str, object]:
    rows = pairs + also
    return {
        "y": [y for y, _ in rows],
        "x": [x for _, x in rows],
        "selected": [True] * len(pairs) + [False] * len(also),
    }


def test_due_once_a_day_from_the_digest_hour(tmp_path: Path) -> None:
    config = Config(notify=NotifyConfig(digest_hour_utc=8))
    with StateStore(tmp_path / "s.sqlite") as state:
        assert not digest_due(state, config, DAY + 7 * MS_PER_HOUR)
        assert digest_due(state, config, DAY + 8 * MS_PER_HOUR)
        console = Console(file=io.StringIO(), width=200)
        book = build_paper_book([make_ticket()], set(), {})
        assert send_digest(state, [ConsoleChannel(console)], book, DAY + 8 * MS_PER_HOUR) == []
        assert "Paper book digest" in console.file.getvalue()  # type: ignore[attr-defined]
        assert not digest_due(state, config, DAY + 9 * MS_PER_HOUR)  # sent today
        assert digest_due(state, config, DAY + MS_PER_DAY + 8 * MS_PER_HOUR)
        off = Config(notify=NotifyConfig(digest_hour_utc=None))
        assert not digest_due(state, off, DAY + MS_PER_DAY + 8 * MS_PER_HOUR)


def test_selection_changes_since_the_last_digest(tmp_path: Path) -> None:
    a, b, c = (
        ("ETH/USDT:USDT", "BTC/USDT:USDT"),
        ("SOL/USDT:USDT", "ETH/USDT:USDT"),
        ("LTC/USDT:USDT", "BCH/USDT:USDT"),
    )
    with StateStore(tmp_path / "s.sqlite") as state:
        week = 7 * MS_PER_DAY
        state.commit_run(
            DAY - week, [], extra=selection_writer(DAY - week, _selection([a, b], [c]))
        )
        state.commit_run(DAY, [], extra=selection_writer(DAY, _selection([a, c], [b])))
        assert selection_changes(state, DAY - MS_PER_DAY, DAY + MS_PER_HOUR) == [
            f"added {c[0]} ~ {c[1]}",
            f"dropped {b[0]} ~ {b[1]}",
        ]
        assert selection_changes(state, DAY + MS_PER_HOUR, DAY + 2 * MS_PER_HOUR) == []
