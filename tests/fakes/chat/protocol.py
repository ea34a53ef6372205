"""What Slack's incoming webhook and Telegram's `sendMessage` answer to a payload: pure
functions from the decoded request to (status, body), with the services' own error strings
(see shared/docs/offline-testing.md sections 6-7)."""

from __future__ import annotations

import json
from typing import Any

from .markdown import MarkdownV2Error, parse_markdown_v2

# Slack Block Kit limits (Slack docs).
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT_MAX = 3000
SLACK_FIELD_TEXT_MAX = 2000
SLACK_MAX_FIELDS = 10
SLACK_HEADER_TEXT_MAX = 150
SLACK_CONTEXT_MAX_ELEMENTS = 10
SLACK_BLOCK_ID_MAX = 255
# Telegram: 1-4096 characters after entity parsing (counted here in UTF-16 code units, the
# unit of Telegram's entity offsets).
TELEGRAM_TEXT_MAX = 4096

_TEXT_OBJECT_KEYS = {
    "plain_text": {"type", "text", "emoji"},
    "mrkdwn": {"type", "text", "verbatim"},
}
# Block types accepted without a closer look (the notifier does not send them).
_LOOSE_BLOCKS = {"actions", "image", "rich_text", "input", "file", "video"}


class _InvalidError(Exception):
    pass


def slack_answer(raw: bytes) -> tuple[int, str]:
    """(status, plain-text body) for a webhook POST body, per Slack's rules."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return 400, "invalid_payload"
    if not isinstance(payload, dict):
        return 400, "invalid_payload"
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        return 400, "invalid_payload"
    blocks = payload.get("blocks")
    if blocks is not None:
        try:
            _check_blocks(blocks)
        except _InvalidError:
            return 400, "invalid_blocks"
    if not (text and text.strip()) and not blocks and not payload.get("attachments"):
        return 400, "no_text"
    return 200, "ok"


def _check_blocks(blocks: Any) -> None:
    if not isinstance(blocks, list) or len(blocks) > SLACK_MAX_BLOCKS:
        raise _InvalidError
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _InvalidError
        block_id = block.get("block_id")
        if block_id is not None and (
            not isinstance(block_id, str) or not 0 < len(block_id) <= SLACK_BLOCK_ID_MAX
        ):
            raise _InvalidError
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                raise _InvalidError
            if "text" in block:
                _check_text(block["text"], SLACK_SECTION_TEXT_MAX)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 0 < len(fields) <= SLACK_MAX_FIELDS:
                    raise _InvalidError
                for item in fields:
                    _check_text(item, SLACK_FIELD_TEXT_MAX)
            _only(block, {"type", "block_id", "text", "fields", "accessory", "expand"})
        elif kind == "header":
            _check_text(block.get("text"), SLACK_HEADER_TEXT_MAX, plain_only=True)
            _only(block, {"type", "block_id", "text"})
        elif kind == "divider":
            _only(block, {"type", "block_id"})
        elif kind == "context":
            elements = block.get("elements")
            if (
                not isinstance(elements, list)
                or not 0 < len(elements) <= SLACK_CONTEXT_MAX_ELEMENTS
            ):
                raise _InvalidError
            for element in elements:
                if isinstance(element, dict) and element.get("type") == "image":
                    if not element.get("image_url") or not element.get("alt_text"):
                        raise _InvalidError
                else:
                    _check_text(element, SLACK_SECTION_TEXT_MAX)
            _only(block, {"type", "block_id", "elements"})
        elif kind not in _LOOSE_BLOCKS:
            raise _InvalidError


def _check_text(obj: Any, max_chars: int, *, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        raise _InvalidError
    kind = obj.get("type")
    if kind not in _TEXT_OBJECT_KEYS or (plain_only and kind != "plain_text"):
        raise _InvalidError
    text = obj.get("text")
    if not isinstance(text, str) or not 0 < len(text) <= max_chars:
        raise _InvalidError
    _only(obj, _TEXT_OBJECT_KEYS[kind])


def _only(obj: dict[str, Any], allowed: set[str]) -> None:
    if not set(obj) <= allowed:
        raise _InvalidError


def telegram_error(status: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def telegram_send_message(
    params: dict[str, Any], *, chat_id: str
) -> tuple[int, dict[str, Any], str | None]:
    """(status, JSON body, text as shown) for `sendMessage` with decoded `params`."""
    given_chat = params.get("chat_id")
    if given_chat is None or str(given_chat).strip() == "":
        return 400, telegram_error(400, "Bad Request: chat_id is empty"), None
    if str(given_chat).strip() != chat_id:
        return 400, telegram_error(400, "Bad Request: chat not found"), None
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        return 400, telegram_error(400, "Bad Request: message text is empty"), None
    parse_mode = params.get("parse_mode")
    if parse_mode == "MarkdownV2":
        try:
            shown = parse_markdown_v2(text)
        except MarkdownV2Error as error:
            description = f"Bad Request: can't parse entities: {error.description}"
            return 400, telegram_error(400, description), None
    elif parse_mode in (None, "", "HTML", "Markdown"):
        shown = text  # HTML and legacy Markdown are accepted but not checked by this fake
    else:
        return 400, telegram_error(400, "Bad Request: unsupported parse_mode"), None
    if not shown.strip():
        return 400, telegram_error(400, "Bad Request: message text is empty"), None
    if len(shown.encode("utf-16-le")) // 2 > TELEGRAM_TEXT_MAX:
        return 400, telegram_error(400, "Bad Request: message is too long"), None
    return 200, {"ok": True}, shown
