"""I/O stage (state): the daily digest's bookkeeping in the state database.

Which digest was issued (a UTC day number), which one each channel accepted, and which stored
selection (by its boundary, UTC ms) each channel's last digest reported: `meta` values, read
and written through `StateStore.get_meta` / `set_meta` (the SQL is `state.store`'s). What a
digest says is `pairscan.tickets.digest`'s; when it is sent, the scan job's.

Light on purpose: a scan whose hour is already decided asks `digest_due` without the numeric
stack (tests/test_startup.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pairscan.config import NotifyConfig
from pairscan.market import MS_PER_DAY, MS_PER_HOUR
from pairscan.state.store import StateStore

__all__ = [
    "CHANNEL_DIGEST_KEY",
    "CHANNEL_SELECTION_KEY",
    "ISSUED_DIGEST_KEY",
    "LAST_DIGEST_KEY",
    "channel_digest_day",
    "channel_selection_span",
    "digest_due",
    "issued_digest_day",
    "mark_digest_accepted",
    "selection_span",
]

# `meta` keys (UTC day numbers): the newest digest issued, and per channel the newest one it
# accepted. `last_digest_day` is the single key of earlier versions.
ISSUED_DIGEST_KEY: Final = "digest_issued_day"
CHANNEL_DIGEST_KEY: Final = "digest_day:"
LAST_DIGEST_KEY: Final = "last_digest_day"
# Per channel: the boundary (UTC ms) of the newest selection its last digest reported.
CHANNEL_SELECTION_KEY: Final = "digest_selection:"


def digest_due(state: StateStore, notify: NotifyConfig, bar_ms: int) -> bool:
    """True when this run has a digest to send: some configured channel has not accepted the
    newest digest issued.

    The first run whose decided bar (`bar_ms`, UTC ms, bar open) is at or after
    `notify.digest_hour_utc` of a UTC day issues that day's digest (recorded now, whether or
    not it is then delivered); every channel owes it until that channel accepts it. Digests
    off (`null`): never due, and owed digests are dropped.
    """
    hour = notify.digest_hour_utc
    if hour is None:
        return False
    day = bar_ms // MS_PER_DAY
    issued = issued_digest_day(state)
    if (bar_ms % MS_PER_DAY) // MS_PER_HOUR >= hour and (issued is None or issued < day):
        state.set_meta(ISSUED_DIGEST_KEY, str(day))
        issued = day
    if issued is None:
        return False
    return any(channel_digest_day(state, name) < issued for name in notify.channels)


def issued_digest_day(state: StateStore) -> int | None:
    """The UTC day number of the newest digest issued; None before the first."""
    value = state.get_meta(ISSUED_DIGEST_KEY) or state.get_meta(LAST_DIGEST_KEY)
    return None if value is None else int(value)


def channel_digest_day(state: StateStore, channel: str) -> int:
    """The UTC day number of the newest digest `channel` accepted; -1 when none."""
    value = state.get_meta(CHANNEL_DIGEST_KEY + channel)
    if value is None:
        # Before per-channel bookkeeping, one day was kept for all channels.
        value = state.get_meta(LAST_DIGEST_KEY)
    return -1 if value is None else int(value)


def mark_digest_accepted(
    state: StateStore, channel: str, day: int, selection_ms: int | None
) -> None:
    """`channel` took the digest of UTC day number `day`, reporting the selection of boundary
    `selection_ms` (UTC ms; None: no selection stored yet): it owes no digest until the next
    one is issued. Each value in its own small transaction, committed at once."""
    state.set_meta(CHANNEL_DIGEST_KEY + channel, str(day))
    if selection_ms is not None:
        state.set_meta(CHANNEL_SELECTION_KEY + channel, str(selection_ms))


def selection_span(
    state: StateStore, since_ms: int, until_ms: int
) -> tuple[int | None, int | None]:
    """(boundary of the selection in force at `since_ms`, boundary of the newest selection up
    to `until_ms`), UTC ms; None where there is none."""
    bounds = _boundaries_up_to(state, until_ms)
    return _in_force(bounds, since_ms), (bounds[-1] if bounds else None)


def channel_selection_span(
    state: StateStore, channel: str, until_ms: int
) -> tuple[int | None, int | None]:
    """(the boundary `channel`'s next digest reports changes against, the newest boundary up
    to `until_ms`), UTC ms; None where there is none (no previous: everything selected is
    new, as the scan's summary said of a first selection).

    The previous one is the selection the channel's last digest reported; for a channel whose
    last digest came from a version that did not record it, the selection in force when that
    digest's day ended."""
    bounds = _boundaries_up_to(state, until_ms)
    newest = bounds[-1] if bounds else None
    reported = state.get_meta(CHANNEL_SELECTION_KEY + channel)
    if reported is not None:
        return int(reported), newest
    last = channel_digest_day(state, channel)
    if last >= 0:
        return _in_force(bounds, (last + 1) * MS_PER_DAY), newest
    return None, newest


def _boundaries_up_to(state: StateStore, until_ms: int) -> list[int]:
    """The stored selections' boundaries (UTC ms) at or before `until_ms`, ascending."""
    return [b for b in state.selection_boundaries() if b <= until_ms]


def _in_force(bounds: Sequence[int], at_ms: int) -> int | None:
    """The newest of the ascending `bounds` at or before `at_ms`; None when none is."""
    before = [b for b in bounds if b <= at_ms]
    return before[-1] if before else None
