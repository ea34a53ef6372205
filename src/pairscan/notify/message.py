"""Stage 7 (notify): what a channel sends (`Message`), the one interface every channel
implements (`Channel`) and Telegram's MarkdownV2 escaping. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Telegram Bot API, "MarkdownV2 style": outside entities every one of these must be preceded
# by a backslash, and so must the backslash itself.
_MARKDOWN_V2_RESERVED = re.compile(r"([\\_*\[\]()~`>#+\-=|{}.!])")


def escape_markdown_v2(text: str) -> str:
    r"""`text` made literal for Telegram's MarkdownV2 outside entities: a backslash before each
    of ``_ * [ ] ( ) ~ ` > # + - = | { } . !`` and before ``\`` itself.

    Example: ``z-score 2.5 (ETH/BTC)!`` becomes ``z\-score 2\.5 \(ETH/BTC\)\!``.
    Escape user data before wrapping it in entities (``*{escaped}*``); inside `code` and
    `pre` only `` ` `` and ``\`` need escaping, which this also does (the other backslashes
    are read as escapes there too). Split long text into parts *before* escaping, so a cut
    never separates a backslash from its character.
    """
    return _MARKDOWN_V2_RESERVED.sub(r"\\\1", text)


@dataclass(frozen=True)
class Message:
    """One ticket or digest rendered for every channel (`pairscan.tickets.render` makes them).

    slack: a complete Slack incoming-webhook JSON payload (`text`, and optionally `blocks`
        with `text` as the notification fallback).
    telegram: one or more MarkdownV2 texts, each at most 4096 characters after entity
        parsing, sent in order as separate `sendMessage` calls.
    plain: the console text, printed as is (no rich markup).
    """

    slack: dict[str, Any] = field(hash=False)
    telegram: tuple[str, ...]
    plain: str

    def __post_init__(self) -> None:
        if not isinstance(self.slack, dict):
            raise TypeError(f"Message.slack must be a dict (got {type(self.slack).__name__})")
        # A bare string here would be sent one character per message.
        if (
            not isinstance(self.telegram, tuple)
            or not self.telegram
            or not all(isinstance(part, str) and part for part in self.telegram)
        ):
            raise TypeError(
                "Message.telegram must be a non-empty tuple of non-empty strings "
                f"(got {type(self.telegram).__name__})"
            )
        if not isinstance(self.plain, str):
            raise TypeError(f"Message.plain must be a str (got {type(self.plain).__name__})")


@runtime_checkable
class Channel(Protocol):
    """Where tickets go. `send` returns once the service accepted the whole message, or
    raises `NotifyError` (with `transient` set) naming the channel, never a secret."""

    name: str

    def send(self, message: Message) -> None: ...
