"""Stage 7 (notify): the one fan-out loop that delivers pending items (tickets, the digest)
to every channel. Knows nothing of tickets or of the state database: what is pending, and
how a delivery or a failure is recorded, come from the caller as `Outgoing` items."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pairscan.errors import NotifyError
from pairscan.notify.message import Channel, Message


@dataclass(frozen=True)
class Outgoing:
    """One pending item for one channel.

    message: what the channel sends. delivered: records that the channel accepted it
    (committed at once, so a crash after the send cannot send it again). failed: records
    the failure's message (the item stays pending). label: prefixed to the error line in the
    run's report (`"digest: "`).
    """

    message: Message
    delivered: Callable[[], object]
    failed: Callable[[str], object] = lambda _error: None
    label: str = ""


@dataclass
class FanOut:
    """What one fan-out did: items each channel accepted (every channel named, in order) and
    one error line per channel that failed (naming its channel, never a secret)."""

    sent: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def fan_out(channels: Sequence[Channel], pending: Callable[[str], Iterable[Outgoing]]) -> FanOut:
    """Every pending item to every channel, in the order `pending(channel name)` gives them
    (oldest first). A channel that fails stops for this run: its failure is recorded and the
    rest of its items wait, in order, for the next run (a close must never reach a chat
    before the open it ends); it never blocks the other channels."""
    result = FanOut()
    for channel in channels:
        sent = 0
        for item in pending(channel.name):
            try:
                channel.send(item.message)
            except NotifyError as exc:
                item.failed(str(exc))
                result.errors.append(f"{item.label}{exc}")  # "slack: HTTP 503 ..."
                break
            item.delivered()
            sent += 1
        result.sent[channel.name] = sent
    return result
