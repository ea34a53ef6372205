"""Stage 7 (notify): console, Slack and Telegram channels behind one small interface.

requests lives only here. Channels send an already-rendered `Message` and raise `NotifyError`
(with `transient`) on failure; they never render, store or mark tickets, and never put a
token, chat id or webhook URL into a message or log line. `fan_out` is the one delivery loop
(every pending item to every channel); the caller says what is pending and how to record.
"""

from pairscan.notify.channels import (
    ConsoleChannel,
    SlackChannel,
    TelegramChannel,
    build_channels,
)
from pairscan.notify.deliver import FanOut, Outgoing, fan_out
from pairscan.notify.http import BASE_BACKOFF_S, MAX_ATTEMPTS, MAX_BACKOFF_S
from pairscan.notify.message import Channel, Message, escape_markdown_v2

__all__ = [
    "BASE_BACKOFF_S",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_S",
    "Channel",
    "ConsoleChannel",
    "FanOut",
    "Message",
    "Outgoing",
    "SlackChannel",
    "TelegramChannel",
    "build_channels",
    "escape_markdown_v2",
    "fan_out",
]
