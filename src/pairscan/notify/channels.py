"""Stage 7 (notify): the console, Slack incoming-webhook and Telegram Bot API channels, and
`build_channels` from the configuration. Channels send; they never render or store tickets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from rich.console import Console

from pairscan.config import Config
from pairscan.errors import NotifyError
from pairscan.notify.http import (
    Answer,
    Poster,
    body_description,
    body_shape,
    retry_after_header,
)
from pairscan.notify.message import Channel, Message

Sleep = Callable[[float], None]


class ConsoleChannel:
    """Prints `Message.plain` to a rich console (stdout by default). Needs no secret."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self._console = console if console is not None else Console()

    def send(self, message: Message) -> None:
        try:
            # Ticket text is literal: "[x]" must not be read as rich markup.
            self._console.print(
                message.plain, markup=False, highlight=False, emoji=False, soft_wrap=True
            )
        except OSError as exc:  # a closed pipe (`pairs scan | head`), a full disk
            raise NotifyError(
                f"console: {exc.strerror or type(exc).__name__}", transient=True
            ) from None

    def __repr__(self) -> str:
        return "ConsoleChannel()"


class SlackChannel:
    """Slack incoming webhook: POST the `Message.slack` payload to the webhook URL.

    Delivered only on HTTP 200 with the body exactly `ok` (Slack's documented answer); any
    other 200, and no answer within the timeout after sending, fail without a resend in the
    run (the service may have posted it). 429 waits `Retry-After`; 5xx, refused or dropped
    connections back off; other 4xx (`invalid_blocks`, `no_text`, `no_service`, ...) fail at
    once. The webhook URL is the secret: it never appears in messages or logs.
    """

    name = "slack"

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout_s: float,
        retry_budget_s: float,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        extra_secrets: Iterable[str] = (),
    ) -> None:
        self._url = webhook_url
        self._poster = Poster(
            "slack",
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s,
            # `redact` also masks the URL's path and its key on their own.
            secrets=(webhook_url, *extra_secrets),
            session=session,
            sleep=sleep,
        )

    def send(self, message: Message) -> None:
        self._poster.post_json(self._url, message.slack, _judge_slack)

    @property
    def remaining_budget_s(self) -> float:
        return self._poster.remaining_budget_s

    def close(self) -> None:
        self._poster.close()

    def __repr__(self) -> str:
        return "SlackChannel(webhook_url=***)"


def _judge_slack(response: requests.Response) -> Answer:
    status = response.status_code
    if status == 200:
        # Slack's one success answer is the two bytes `ok`. Anything else with a 200 (an empty
        # body, an HTML page, "ok\n" from something in between) does not prove that Slack
        # posted it, nor that it did not: left for the next run, never resent in this one.
        if response.content == b"ok":
            return Answer(delivered=True)
        return Answer(
            delivered=False,
            unclear=True,
            description=f"not Slack's answer 'ok' but {body_shape(response)}",
        )
    description = body_description(response)
    if status == 429:
        return Answer(False, True, description, retry_after_header(response.headers))
    return Answer(False, retry=status >= 500, description=description)


class TelegramChannel:
    """Telegram Bot API: one `sendMessage` per `Message.telegram` part, in order, with
    `parse_mode` MarkdownV2 and link previews off.

    Delivered only on HTTP 200 with `"ok": true` and a `result` that is the sent Message (a
    `message_id`, in the configured chat); any other 200, and no answer within the timeout
    after sending, fail without a resend in the run (Telegram may have posted it). 429 waits
    the body's `parameters.retry_after`; 5xx, refused or dropped connections back off; other
    4xx fail at once quoting Telegram's `description`. The token and chat id never appear in
    messages or logs. If part k of n fails, parts 1..k-1 were delivered (the message says so).
    """

    name = "telegram"

    def __init__(
        self,
        token: str,
        chat_id: str,
        *,
        api_base: str,
        timeout_s: float,
        retry_budget_s: float,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        extra_secrets: Iterable[str] = (),
    ) -> None:
        self._url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"
        # Numeric ids go out as JSON integers (Telegram's documented type); "@channel" as is.
        chat = chat_id.strip()
        self._chat_id: int | str = int(chat) if re.fullmatch(r"-?\d+", chat) else chat
        self._poster = Poster(
            "telegram",
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s,
            # `redact` also masks the token's secret half and the chat id's other spellings.
            secrets=(token, chat_id, chat, *extra_secrets),
            session=session,
            sleep=sleep,
        )

    def send(self, message: Message) -> None:
        parts = message.telegram
        for number, text in enumerate(parts, start=1):
            payload: dict[str, Any] = {
                "chat_id": self._chat_id,
                "text": text,
                "parse_mode": "MarkdownV2",
                "disable_web_page_preview": True,
            }
            where = ""
            if len(parts) > 1:
                where = f"message part {number} of {len(parts)}"
                if number > 1:
                    where += f"; the {number - 1} before it delivered"
            self._poster.post_json(self._url, payload, self._judge, where)

    @property
    def remaining_budget_s(self) -> float:
        return self._poster.remaining_budget_s

    def close(self) -> None:
        self._poster.close()

    def __repr__(self) -> str:
        return "TelegramChannel(token=***, chat_id=***)"

    def _judge(self, response: requests.Response) -> Answer:
        return _judge_telegram(response, self._chat_id)


def _sent_message_problem(body: dict[str, Any], chat_id: int | str) -> str | None:
    """Why a 200 body is not Telegram's proof of delivery (`{"ok": true, "result":
    <Message>}` in the chat sent to), or None when it is. Names no chat id."""
    if body.get("ok") is not True:
        return f'"ok" is {body.get("ok")!r}, not true: {body.get("description") or ""}'
    result = body.get("result")
    if not isinstance(result, dict):
        return 'no sent message in the answer (no "result" object)'
    message_id = result.get("message_id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return "no sent message in the answer (no result.message_id)"
    chat = result.get("chat")
    if not isinstance(chat, dict):
        return "no chat in the sent message (no result.chat)"
    if isinstance(chat_id, int):
        if chat.get("id") != chat_id:
            return "the sent message is in another chat than TELEGRAM_CHAT_ID"
    else:
        username = chat.get("username")  # "@channel": Telegram answers with the numeric id
        if isinstance(username, str) and username.lower() != chat_id.lstrip("@").lower():
            return "the sent message is in another chat than TELEGRAM_CHAT_ID"
    return None


def _judge_telegram(response: requests.Response, chat_id: int | str) -> Answer:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status == 200:
        if not isinstance(body, dict):
            return Answer(False, unclear=True, description=f"not JSON: {body_shape(response)}")
        problem = _sent_message_problem(body, chat_id)
        if problem is None:
            return Answer(delivered=True)
        return Answer(False, unclear=True, description=problem.rstrip(": "))
    if not isinstance(body, dict):
        body = {}
    description = str(body.get("description") or body_description(response))
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if status == 429 or body.get("error_code") == 429:
        retry_after = parameters.get("retry_after")
        seconds = (
            float(retry_after)
            if isinstance(retry_after, int | float) and not isinstance(retry_after, bool)
            else retry_after_header(response.headers)
        )
        return Answer(False, True, description, None if seconds is None else max(0.0, seconds))
    if "migrate_to_chat_id" in parameters:
        # The new id is a chat id too: name where to find it, not the id itself.
        description += " (the group became a supergroup: set TELEGRAM_CHAT_ID to its new id)"
    return Answer(False, retry=status >= 500, description=description)


def build_channels(
    config: Config,
    *,
    console: Console | None = None,
    session: requests.Session | None = None,
    sleep: Sleep = time.sleep,
) -> tuple[list[Channel], list[str]]:
    """The channels named in `config.notify.channels`, in that order, and one error line per
    configured channel that cannot be built (its secrets are missing or malformed).

    Secrets come from `config.secrets` (the environment or `.env`, read by `load_config`).
    Every secret of the configuration is redacted from every channel's messages. The console
    channel needs nothing and is always built when configured.
    """
    notify = config.notify
    secrets = config.secret_values()
    channels: list[Channel] = []
    errors: list[str] = []
    for name in notify.channels:
        if name == "console":
            channels.append(ConsoleChannel(console))
        elif name == "slack":
            url = config.secrets.slack_webhook_url
            if not url:
                errors.append("slack: SLACK_WEBHOOK_URL is not set (environment or .env)")
            elif not re.match(r"https?://[^/\s]+/\S+", url.strip()):
                errors.append(
                    "slack: SLACK_WEBHOOK_URL is not an http(s) URL with a path "
                    "(expected https://hooks.slack.com/services/...)"
                )
            else:
                channels.append(
                    SlackChannel(
                        url.strip(),
                        timeout_s=notify.timeout_s,
                        retry_budget_s=notify.retry_budget_s,
                        session=session,
                        sleep=sleep,
                        extra_secrets=secrets,
                    )
                )
        elif name == "telegram":
            token, chat_id = config.secrets.telegram_bot_token, config.secrets.telegram_chat_id
            missing = [
                var
                for var, value in (("TELEGRAM_BOT_TOKEN", token), ("TELEGRAM_CHAT_ID", chat_id))
                if not (value and value.strip())
            ]
            if missing:
                verb = "is" if len(missing) == 1 else "are"
                errors.append(
                    f"telegram: {' and '.join(missing)} {verb} not set (environment or .env)"
                )
            elif token is not None and chat_id is not None:
                channels.append(
                    TelegramChannel(
                        token.strip(),
                        chat_id,
                        api_base=notify.telegram.api_base,
                        timeout_s=notify.timeout_s,
                        retry_budget_s=notify.retry_budget_s,
                        session=session,
                        sleep=sleep,
                        extra_secrets=secrets,
                    )
                )
    return channels, errors
