"""`pairscan.redaction`: every secret and each secret part of one masked wherever it appears
(URLs, bodies, exception texts), before any cut; public parts (a bot's id) kept."""

from __future__ import annotations

import pytest

from pairscan.redaction import redact, secret_parts

TOKEN = "123456789:AAFakeTelegramTokenSecretHalf-0123456"
SECRET_HALF = "AAFakeTelegramTokenSecretHalf-0123456"
HOOK = "https://hooks.slack.com/services/T01TEAMID/B01BOTID/k3yK3yK3yK3yK3yK3yK3yK3y"
CHAT = "-1001234567890"


@pytest.mark.parametrize(
    ("secret", "parts"),
    [
        (TOKEN, {TOKEN, SECRET_HALF}),
        (
            HOOK,
            {
                HOOK,
                "/services/T01TEAMID/B01BOTID/k3yK3yK3yK3yK3yK3yK3yK3y",
                "services/T01TEAMID/B01BOTID/k3yK3yK3yK3yK3yK3yK3yK3y",
                "k3yK3yK3yK3yK3yK3yK3yK3y",
            },
        ),
        (CHAT, {CHAT, "1001234567890", "1234567890"}),
        ("-42", set()),  # too short to mask without blanking ordinary numbers
        ("KEY-1234567890abcdef", {"KEY-1234567890abcdef"}),
    ],
)
def test_secret_parts(secret: str, parts: set[str]) -> None:
    assert secret_parts(secret) == parts


@pytest.mark.parametrize(
    "text",
    [
        f"401 Unauthorized: {TOKEN}",
        f"401 Unauthorized: the token's secret is {SECRET_HALF}",
        "POST https://api.telegram.org/bot" + TOKEN + "/sendMessage",
        f"no_service for {HOOK}",
        "no_service for path services/T01TEAMID/B01BOTID/k3yK3yK3yK3yK3yK3yK3yK3y",
        "revoked key k3yK3yK3yK3yK3yK3yK3yK3y",
        f"chat {CHAT} not found",
        "chat 1234567890 not found",
        "url-encoded " + TOKEN.replace(":", "%3A"),
    ],
)
def test_every_part_is_masked(text: str) -> None:
    cleaned = redact(text, [TOKEN, HOOK, CHAT])
    for piece in (SECRET_HALF, "k3yK3y", "1234567890", "FakeTelegram"):
        assert piece not in cleaned, cleaned
    assert "***" in cleaned


def test_the_bot_id_alone_is_public_and_kept() -> None:
    assert redact("bot 123456789 was blocked", [TOKEN]) == "bot 123456789 was blocked"


def test_the_cut_comes_after_masking() -> None:
    cleaned = redact("x" * 290 + " " + SECRET_HALF, [TOKEN], max_chars=300)
    assert SECRET_HALF[:4] not in cleaned
    assert cleaned.endswith("***")
