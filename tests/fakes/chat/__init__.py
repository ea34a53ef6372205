"""A local Slack incoming webhook + Telegram Bot API on 127.0.0.1, for tests of the real
notifier over real HTTP.

One threaded server speaks both: `POST /services/T000/B000/XXXX` (Slack's plain-text `ok`,
`invalid_payload`, `no_text`, `invalid_blocks`, `no_service`) and `POST /bot<token>/sendMessage`
(Telegram's JSON envelope, 401 on a wrong token, "chat not found", "message is too long", and a
real MarkdownV2 parser for "can't parse entities"). One-shot faults, switchable outages,
stop/start for connection refused, 200s that are not the service's success answer, answers
echoing the secrets, and a log of every request for exactly-once assertions.
Test-only: never imported by `src/`.
"""

from .markdown import RESERVED, MarkdownV2Error, parse_markdown_v2
from .protocol import TELEGRAM_TEXT_MAX, slack_answer, telegram_send_message
from .server import (
    SLACK_NOT_OK_200,
    TELEGRAM_NOT_OK_200,
    ChatChannel,
    ChatFault,
    FakeChat,
    Received,
    make_fault,
    start_fake_chat,
)

__all__ = [
    "RESERVED",
    "SLACK_NOT_OK_200",
    "TELEGRAM_NOT_OK_200",
    "TELEGRAM_TEXT_MAX",
    "ChatChannel",
    "ChatFault",
    "FakeChat",
    "MarkdownV2Error",
    "Received",
    "make_fault",
    "parse_markdown_v2",
    "slack_answer",
    "start_fake_chat",
    "telegram_send_message",
]
