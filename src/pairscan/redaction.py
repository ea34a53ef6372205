"""Redaction of secrets from error messages and log lines, shared by every I/O stage.

Pure string work: no I/O, no third-party import. Secrets (API keys, bot tokens, webhook URLs)
also hide inside URLs that HTTP libraries put in their exception texts, so the URL shapes
that carry them are cut here as well as the known secret values.
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
_MAX_MESSAGE = 300
_MIN_SECRET = 4  # shorter values would blank out ordinary words and numbers


def redact(text: str, secrets: Iterable[str], max_chars: int = _MAX_MESSAGE) -> str:
    """`text` with query strings, URL credentials, chat-service secret paths and every secret
    value (also percent-encoded) removed, folded to one line and cut to `max_chars`."""
    cleaned = _URL_CREDENTIALS.sub(r"\1***@", _QUERY.sub("?…", text))
    cleaned = _TELEGRAM_BOT_PATH.sub("/bot***/", _SLACK_HOOK_PATH.sub("/services/***", cleaned))
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        cleaned = cleaned.replace(secret, "***")
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1] + "…"
    return cleaned


def _variants(secrets: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            found.add(secret)
            found.add(urllib.parse.quote(secret, safe=""))
            found.add(urllib.parse.quote(secret, safe="/:"))
    return found
