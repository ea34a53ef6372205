"""`notify.fan_out`, the one delivery loop of tickets and digests: every item to every
channel in order, a failing channel stops for the run without blocking the others."""

from __future__ import annotations

from pairscan.errors import NotifyError
from pairscan.notify import Message, Outgoing, fan_out


class _Recorder:
    """A channel that keeps what it accepted and fails from its `fail_at`-th send on."""

    def __init__(self, name: str, fail_at: int | None = None) -> None:
        self.name = name
        self.fail_at = fail_at
        self.sent: list[str] = []

    def send(self, message: Message) -> None:
        if self.fail_at is not None and len(self.sent) >= self.fail_at:
            raise NotifyError(f"{self.name}: HTTP 503", transient=True)
        self.sent.append(message.plain)


def _message(text: str) -> Message:
    return Message(slack={"text": text}, telegram=(text,), plain=text)


def test_every_item_reaches_every_channel_in_order_and_failures_stop_one_channel() -> None:
    log: list[tuple[str, str, str]] = []

    def pending(channel: str) -> list[Outgoing]:
        return [
            Outgoing(
                _message(text),
                delivered=lambda c=channel, t=text: log.append(("ok", c, t)),
                failed=lambda error, c=channel, t=text: log.append(("failed", c, f"{t}: {error}")),
                label="ticket: ",
            )
            for text in ("open", "close", "open again")
        ]

    slack, console = _Recorder("slack", fail_at=1), _Recorder("console")
    done = fan_out([slack, console], pending)
    assert slack.sent == ["open"]  # the close waits for the next run, after its open
    assert console.sent == ["open", "close", "open again"]  # never blocked by slack
    assert done.sent == {"slack": 1, "console": 3}
    assert done.errors == ["ticket: slack: HTTP 503"]
    assert log == [
        ("ok", "slack", "open"),
        ("failed", "slack", "close: slack: HTTP 503"),
        ("ok", "console", "open"),
        ("ok", "console", "close"),
        ("ok", "console", "open again"),
    ]


def test_a_channel_with_nothing_pending_is_counted_as_zero() -> None:
    done = fan_out([_Recorder("telegram")], lambda _channel: [])
    assert done.sent == {"telegram": 0}
    assert done.errors == []
