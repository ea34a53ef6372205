"""The daily digest: when it is due (`state.digest`), what it says about selection changes
(`tickets.digest`), sent once a day to each channel (a channel that missed it gets it at its
next run), real SQLite and real HTTP to the local Slack server."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pairscan.config import Config, NotifyConfig
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, parse_utc
from pairscan.notify import Channel, ConsoleChannel, SlackChannel, fan_out
from pairscan.state import StateStore
from pairscan.state.digest import LAST_DIGEST_KEY, channel_digest_day, digest_due
from pairscan.tickets import PaperBook, build_paper_book, selection_writer
from pairscan.tickets.digest import (
    channel_selection_changes,
    digest_outgoing,
    selection_changes,
    selection_diff,
)
from tests.fakes.chat import FakeChat
from tests.tickets.factories import make_ticket

DAY = parse_utc("2026-05-15T00:00")


def send_digest(
    state: StateStore, channels: list[Channel], book: PaperBook, bar_ms: int
) -> list[str]:
    """The scan's digest step once due (`jobs.scan_bars.book_and_digest`): the channel errors."""
    return fan_out(channels, digest_outgoing(state, book, bar_ms)).errors


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
        assert not digest_due(state, config.notify, DAY + 7 * MS_PER_HOUR)
        assert digest_due(state, config.notify, DAY + 8 * MS_PER_HOUR)
        console = Console(file=io.StringIO(), width=200)
        book = build_paper_book([make_ticket()], set(), {})
        assert send_digest(state, [ConsoleChannel(console)], book, DAY + 8 * MS_PER_HOUR) == []
        assert "Paper book digest" in console.file.getvalue()  # type: ignore[attr-defined]
        assert not digest_due(state, config.notify, DAY + 9 * MS_PER_HOUR)  # sent today
        assert digest_due(state, config.notify, DAY + MS_PER_DAY + 8 * MS_PER_HOUR)
        off = Config(notify=NotifyConfig(digest_hour_utc=None))
        assert not digest_due(state, off.notify, DAY + MS_PER_DAY + 8 * MS_PER_HOUR)


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


# ---- per channel: a channel that missed the digest gets it at its next run, once -------------

CHANNELS = ("console", "slack")


def _run(
    state: StateStore, config: Config, fake: FakeChat, bar_ms: int
) -> tuple[bool, list[str], str]:
    """One scan's digest step with fresh channels, as each run builds them: (due, errors,
    console output)."""
    out = io.StringIO()
    channels: list[Channel] = [
        ConsoleChannel(Console(file=out, width=200)),
        SlackChannel(fake.webhook_url, timeout_s=2, retry_budget_s=0),
    ]
    due = digest_due(state, config.notify, bar_ms)
    errors = send_digest(state, channels, build_paper_book([], set(), {}), bar_ms) if due else []
    return due, errors, out.getvalue()


def _slack_digests(fake: FakeChat) -> int:
    return sum("Paper book digest" in str(p) for p in fake.delivered("slack"))


def test_a_channel_down_at_digest_time_gets_it_at_its_next_run_once(
    tmp_path: Path, fake_chat: FakeChat
) -> None:
    config = Config(notify=NotifyConfig(channels=CHANNELS, digest_hour_utc=8))
    at = DAY + 8 * MS_PER_HOUR
    with StateStore(tmp_path / "s.sqlite") as state:
        fake_chat.set_down("slack")
        due, errors, console = _run(state, config, fake_chat, at)
        assert due
        assert [e.split(":")[:2] for e in errors] == [["digest", " slack"]]
        assert "Paper book digest" in console
        assert channel_digest_day(state, "console") == DAY // MS_PER_DAY
        assert channel_digest_day(state, "slack") == -1
        # Still down an hour later: tried again, the console is not sent it twice.
        due, errors, console = _run(state, config, fake_chat, at + MS_PER_HOUR)
        assert (due, len(errors), console) == (True, 1, "")
        # Back up the next night, before the digest hour: Slack gets the missed one.
        fake_chat.set_down("slack", False)
        due, errors, console = _run(state, config, fake_chat, at + 19 * MS_PER_HOUR)
        assert (due, errors, console, _slack_digests(fake_chat)) == (True, [], "", 1)
        # Once: nothing is due until the next day's digest hour, which all channels get.
        assert not _run(state, config, fake_chat, at + 20 * MS_PER_HOUR)[0]
        due, errors, console = _run(state, config, fake_chat, at + MS_PER_DAY)
        assert (due, errors) == (True, [])
        assert "Paper book digest" in console
        assert _slack_digests(fake_chat) == 2
        assert not _run(state, config, fake_chat, at + MS_PER_DAY + MS_PER_HOUR)[0]


def test_a_channel_down_for_days_gets_the_newest_digest_only(
    tmp_path: Path, fake_chat: FakeChat
) -> None:
    config = Config(notify=NotifyConfig(channels=CHANNELS, digest_hour_utc=8))
    at = DAY + 8 * MS_PER_HOUR
    with StateStore(tmp_path / "s.sqlite") as state:
        fake_chat.set_down("slack")
        for day in range(3):
            assert _run(state, config, fake_chat, at + day * MS_PER_DAY)[0]
        fake_chat.set_down("slack", False)
        assert _run(state, config, fake_chat, at + 2 * MS_PER_DAY + MS_PER_HOUR)[1] == []
        assert _slack_digests(fake_chat) == 1
        assert channel_digest_day(state, "slack") == DAY // MS_PER_DAY + 2
        assert not _run(state, config, fake_chat, at + 2 * MS_PER_DAY + 2 * MS_PER_HOUR)[0]


def test_the_single_digest_day_of_earlier_versions_is_honoured(tmp_path: Path) -> None:
    config = Config(notify=NotifyConfig(channels=CHANNELS, digest_hour_utc=8))
    with StateStore(tmp_path / "s.sqlite") as state:
        state.commit_run(DAY, [])  # a state database with the outbox tables
        state.set_meta(LAST_DIGEST_KEY, str(DAY // MS_PER_DAY))
        assert not digest_due(state, config.notify, DAY + 9 * MS_PER_HOUR)
        assert digest_due(state, config.notify, DAY + MS_PER_DAY + 8 * MS_PER_HOUR)


def test_no_digest_is_due_when_digests_are_off(tmp_path: Path, fake_chat: FakeChat) -> None:
    on = Config(notify=NotifyConfig(channels=CHANNELS, digest_hour_utc=8))
    off = Config(notify=NotifyConfig(channels=CHANNELS, digest_hour_utc=None))
    with StateStore(tmp_path / "s.sqlite") as state:
        fake_chat.set_down("slack")
        assert _run(state, on, fake_chat, DAY + 8 * MS_PER_HOUR)[0]  # Slack owes it now
        assert not digest_due(state, off.notify, DAY + 9 * MS_PER_HOUR)


# ---- the change list: one source for the header's count and the lines ------------------------


def _digest_text(state: StateStore, bar_ms: int) -> str:
    """The console digest of a run at `bar_ms` ('' when none is due)."""
    config = Config(notify=NotifyConfig(channels=("console",), digest_hour_utc=8))
    out = io.StringIO()
    if digest_due(state, config.notify, bar_ms):
        book = build_paper_book([], set(), {})
        assert (
            send_digest(state, [ConsoleChannel(Console(file=out, width=200))], book, bar_ms) == []
        )
    return out.getvalue()


def _changes_block(text: str) -> list[str]:
    """The digest's selection header and the lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Selection changes"))
    return lines[start:]


def test_the_first_digest_lists_the_first_selection_as_the_scan_summary_did(
    tmp_path: Path,
) -> None:
    """The scan's first run selects pairs whose re-selection boundary lies days back (weekly
    re-selection): its summary says `selection: added ...` for each, and the digest of the
    same run must say the same, not `none` (the selection was in force at the boundary, but
    nobody had been told of it)."""
    a, b = ("ETH/USDT:USDT", "BTC/USDT:USDT"), ("SOL/USDT:USDT", "ETH/USDT:USDT")
    c = ("1000SHIB/USDT:USDT", "DOGE/USDT:USDT")
    at = DAY + 8 * MS_PER_HOUR
    with StateStore(tmp_path / "s.sqlite") as state:
        boundary = DAY - 3 * MS_PER_DAY
        state.commit_run(at, [], extra=selection_writer(boundary, _selection([a, b], [c])))
        scan_says = selection_diff(set(), {a, b})
        assert _changes_block(_digest_text(state, at)) == [
            "Selection changes since the last digest: 2",
            *scan_says,
        ]
        assert scan_says == [f"added {a[0]} ~ {a[1]}", f"added {b[0]} ~ {b[1]}"]
        # The next day, no re-selection: nothing changed since that digest.
        assert _changes_block(_digest_text(state, at + MS_PER_DAY)) == [
            "Selection changes since the last digest: none"
        ]
        # A re-selection drops b and adds c: reported once, in the scan summary's words.
        new_boundary = DAY + MS_PER_DAY + 12 * MS_PER_HOUR
        state.commit_run(
            new_boundary, [], extra=selection_writer(new_boundary, _selection([a, c], [b]))
        )
        assert _changes_block(_digest_text(state, at + 2 * MS_PER_DAY)) == [
            "Selection changes since the last digest: 2",
            *selection_diff({a, b}, {a, c}),
        ]
        assert _changes_block(_digest_text(state, at + 3 * MS_PER_DAY))[0].endswith(": none")


def test_a_channel_digested_by_an_earlier_version_counts_from_its_last_digest_day(
    tmp_path: Path,
) -> None:
    a, b = ("ETH/USDT:USDT", "BTC/USDT:USDT"), ("SOL/USDT:USDT", "ETH/USDT:USDT")
    with StateStore(tmp_path / "s.sqlite") as state:
        week = 7 * MS_PER_DAY
        state.commit_run(DAY - week, [], extra=selection_writer(DAY - week, _selection([a], [b])))
        today = DAY + 2 * MS_PER_HOUR
        state.commit_run(today, [], extra=selection_writer(today, _selection([a, b], [])))
        state.set_meta(LAST_DIGEST_KEY, str(DAY // MS_PER_DAY - 1))  # yesterday's, no selection
        assert channel_selection_changes(state, "console", DAY + 8 * MS_PER_HOUR) == (
            today,
            [f"added {b[0]} ~ {b[1]}"],
        )


def test_selection_diff_words_and_order() -> None:
    old = {("B/USDT", "A/USDT"), ("C/USDT", "A/USDT")}
    new = {("C/USDT", "A/USDT"), ("D/USDT", "A/USDT"), ("AA/USDT", "A/USDT")}
    assert selection_diff(old, new) == [
        "added AA/USDT ~ A/USDT",
        "added D/USDT ~ A/USDT",
        "dropped B/USDT ~ A/USDT",
    ]
    assert selection_diff(new, new) == []
