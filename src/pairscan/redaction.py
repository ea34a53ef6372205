"""Redaction of secrets from error messages and log lines, shared by every I/O stage.

Pure string work: no I/O, no third-party import. Secrets (API keys, bot tokens, webhook URLs)
also hide inside URLs that HTTP libraries put in their exception texts, so the URL shapes
that carry them are cut here as well as the known secret values, and each secret's secret
parts on their own (a service's error page may echo only part of one).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

# Query strings of signed requests carry the API key and signature; credentials can also sit
# in proxy URLs (`http://user:pass@host`). Both are cut before a message leaves the process.
_QUERY = re.compile(r"\?[^\s\"'=]*=[^\s\"']*")
_URL_CREDENTIALS = re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@")
# Chat services put the secret in the path: Slack `/services/T.../B.../<secret>`, Telegram
# `/bot<token>/<method>`. Cut them even when the value is not known (a stale token in a
# proxy's error page, a second webhook).
_SLACK_HOOK_PATH = re.compile(r"/services/[^\s\"'<>)]+")
_TELEGRAM_BOT_PATH = re.compile(r"/bot[^/\s\"'<>]+/")
# A Telegram bot token is `<bot id>:<secret>`. The bot id is public (every chat with the bot
# shows it) and alone is not masked; the part after the colon is the secret.
_TELEGRAM_TOKEN = re.compile(r"(\d+):(\S+)")
_NUMERIC_ID = re.compile(r"-?\d+")
_MAX_MESSAGE = 300
_MIN_SECRET = 4  # shorter values would blank out ordinary words and numbers
# A chat id written without its sign or its "-100" channel prefix is still the chat; below
# this many digits such a derived number could be any number in a message.
_MIN_DERIVED_DIGITS = 6


def redact(text: str, secrets: Iterable[str], max_chars: int = _MAX_MESSAGE) -> str:
    """`text` with query strings, URL credentials, chat-service secret paths and every secret
    value (also percent-encoded, and each secret part of it: see `secret_parts`) removed,
    folded to one line and cut to `max_chars` (after masking, so a cut never leaves the first
    characters of a secret behind)."""
    cleaned = _URL_CREDENTIALS.sub(r"\1***@", _QUERY.sub("?…", text))
    cleaned = _TELEGRAM_BOT_PATH.sub("/bot***/", _SLACK_HOOK_PATH.sub("/services/***", cleaned))
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        cleaned = cleaned.replace(secret, "***")
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1] + "…"
    return cleaned


def secret_parts(secret: str) -> set[str]:
    """`secret` and the parts of it that are secret on their own.

    - A Telegram bot token `123456:AA...`: the part after the colon (not the bot id).
    - A URL (a Slack webhook `https://hooks.slack.com/services/T.../B.../<key>`): its path,
      the path without its leading slash, and the path's last segment (the webhook's key).
    - A numeric chat id `-1001234567890`: also without its sign and without the `-100`
      channel prefix, when six digits or more remain.
    Parts shorter than four characters are left out (they would mask ordinary words).
    """
    value = secret.strip()
    parts = {secret, value}
    token = _TELEGRAM_TOKEN.fullmatch(value)
    if token:
        parts.add(token.group(2))
    elif "://" in value:
        path = urllib.parse.urlsplit(value).path.rstrip("/")
        parts.update((path, path.lstrip("/"), path.rsplit("/", 1)[-1]))
    elif _NUMERIC_ID.fullmatch(value):
        digits = value.lstrip("-")
        for derived in (digits, digits[3:] if value.startswith("-100") else ""):
            if len(derived) >= _MIN_DERIVED_DIGITS:
                parts.add(derived)
    return {part for part in parts if len(part) >= _MIN_SECRET}


def _variants(secrets: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        for part in secret_parts(secret):
            found.add(part)
            found.add(urllib.parse.quote(part, safe=""))
            found.add(urllib.parse.quote(part, safe="/:"))
    return found
