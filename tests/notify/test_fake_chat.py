"""The local chat server itself: Slack's and Telegram's answers, faults and the request log,
over plain HTTP (the notifier's own tests are in test_channels.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.fakes.chat import FakeChat

LONG = "x" * 3001


def post(url: str, body: Any, *, raw: bool = False) -> requests.Response:
    data = body if raw else json.dumps(body)
    return requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=2)


def section(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


SLACK_CASES = [
    ({"text": "hello"}, 200, "ok"),
    ({"text": "fallback", "blocks": [section("*hi*")]}, 200, "ok"),
    ({"blocks": [section("only blocks")]}, 200, "ok"),
    ({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "H"}}]}, 200, "ok"),
    ({"text": "t", "blocks": [{"type": "divider"}, section("x" * 3000)]}, 200, "ok"),
    (
        {
            "text": "t",
            "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]}],
        },
        200,
        "ok",
    ),
    (
        {
            "text": "t",
            "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 10}],
        },
        200,
        "ok",
    ),
    ({}, 400, "no_text"),
    ({"text": ""}, 400, "no_text"),
    ({"text": "   "}, 400, "no_text"),
    ({"blocks": []}, 400, "no_text"),
    ({"text": 5}, 400, "invalid_payload"),
    ([1, 2], 400, "invalid_payload"),
    ({"text": "t", "blocks": [section(LONG)]}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": [section("")]}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": [section("x", kind="markdown")]}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": [{"type": "section"}]}, 400, "invalid_blocks"),
    (
        {"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "H"}}]},
        400,
        "invalid_blocks",
    ),
    (
        {
            "text": "t",
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "H" * 151}}],
        },
        400,
        "invalid_blocks",
    ),
    (
        {
            "text": "t",
            "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        },
        400,
        "invalid_blocks",
    ),
    (
        {
            "text": "t",
            "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        },
        400,
        "invalid_blocks",
    ),
    ({"text": "t", "blocks": [section("x")] * 51}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": [{"type": "mystery"}]}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": "not a list"}, 400, "invalid_blocks"),
    ({"text": "t", "blocks": [{"type": "divider", "text": "no"}]}, 400, "invalid_blocks"),
]


@pytest.mark.parametrize(("payload", "status", "body"), SLACK_CASES)
def test_slack_rules(fake_chat: FakeChat, payload: Any, status: int, body: str) -> None:
    response = post(fake_chat.webhook_url, payload)
    assert (response.status_code, response.text) == (status, body)
    assert fake_chat.requests("slack")[-1].payload == payload


def test_slack_bad_json_and_unknown_hook(fake_chat: FakeChat) -> None:
    response = post(fake_chat.webhook_url, '{"text": ', raw=True)
    assert (response.status_code, response.text) == (400, "invalid_payload")
    response = post(fake_chat.base_url + "/services/T000/B000/OTHER", {"text": "x"})
    assert (response.status_code, response.text) == (404, "no_service")
    assert fake_chat.delivered("slack") == []


def send_url(fake: FakeChat) -> str:
    return f"{fake.api_base}/bot{fake.token}/sendMessage"


def send_message(fake: FakeChat, token: str | None = None, **params: Any) -> requests.Response:
    body = {"chat_id": fake.chat_id, "parse_mode": "MarkdownV2", **params}
    return post(f"{fake.api_base}/bot{token or fake.token}/sendMessage", body)


def test_telegram_success_envelope(fake_chat: FakeChat) -> None:
    response = send_message(fake_chat, text=r"*hi* 1\.5")
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is True
    assert body["result"]["text"] == "hi 1.5"
    assert body["result"]["message_id"] == 1
    assert fake_chat.shown("telegram") == ["hi 1.5"]


@pytest.mark.parametrize(
    ("params", "status", "description"),
    [
        (
            {"text": "1.5"},
            400,
            "Bad Request: can't parse entities: Character '.' is reserved "
            "and must be escaped with the preceding '\\'",
        ),
        (
            {"text": "*open"},
            400,
            "Bad Request: can't parse entities: Can't find end of the "
            "entity starting at byte offset 0",
        ),
        ({"text": ""}, 400, "Bad Request: message text is empty"),
        ({"text": "**"}, 400, "Bad Request: message text is empty"),
        ({"text": "a" * 4097}, 400, "Bad Request: message is too long"),
        ({"text": "hi", "chat_id": "-1"}, 400, "Bad Request: chat not found"),
        ({"text": "hi", "chat_id": ""}, 400, "Bad Request: chat_id is empty"),
        ({"text": "hi", "parse_mode": "Fancy"}, 400, "Bad Request: unsupported parse_mode"),
        ({"text": "plain 1.5 - fine", "parse_mode": None}, 200, None),
        ({"text": "\\." * 4096}, 200, None),  # the limit counts the text after parsing
    ],
)
def test_telegram_rules(
    fake_chat: FakeChat, params: dict[str, Any], status: int, description: str | None
) -> None:
    response = send_message(fake_chat, **params)
    body = response.json()
    assert response.status_code == status
    assert body.get("description") == description
    if status != 200:
        assert body == {"ok": False, "error_code": status, "description": description}


def test_telegram_wrong_token_and_unknown_method(fake_chat: FakeChat) -> None:
    response = send_message(fake_chat, token="1:wrong", text="hi")
    assert (response.status_code, response.json()["description"]) == (401, "Unauthorized")
    response = post(f"{fake_chat.api_base}/bot{fake_chat.token}/getMe", {})
    assert (response.status_code, response.json()["description"]) == (404, "Not Found")


def test_faults_apply_in_order_to_their_channel_only(fake_chat: FakeChat) -> None:
    fake_chat.add_fault("telegram", "429", retry_after=7)
    fake_chat.add_fault("slack", "down", times=2)
    assert fake_chat.pending_faults == 3
    assert post(fake_chat.webhook_url, {"text": "a"}).status_code == 503
    response = send_message(fake_chat, text="hi")
    assert response.status_code == 429
    assert response.json()["parameters"] == {"retry_after": 7}
    assert "Retry-After" not in response.headers  # Telegram's wait is in the body
    assert post(fake_chat.webhook_url, {"text": "b"}).status_code == 503
    assert post(fake_chat.webhook_url, {"text": "c"}).status_code == 200
    assert fake_chat.pending_faults == 0
    assert fake_chat.delivered("slack") == [{"text": "c"}]
    assert [r.fault for r in fake_chat.requests("slack")] == ["slack_down", "slack_down", None]


def test_slack_429_carries_retry_after(fake_chat: FakeChat) -> None:
    fake_chat.add_fault("slack", "429", retry_after=4)
    response = post(fake_chat.webhook_url, {"text": "a"})
    assert (response.status_code, response.text) == (429, "rate_limited")
    assert response.headers["Retry-After"] == "4"


def test_set_down_until_lifted(fake_chat: FakeChat) -> None:
    fake_chat.set_down("slack")
    assert [post(fake_chat.webhook_url, {"text": "a"}).status_code for _ in range(3)] == [503] * 3
    assert send_message(fake_chat, text="up").status_code == 200
    fake_chat.set_down("slack", False)
    assert post(fake_chat.webhook_url, {"text": "a"}).status_code == 200


def test_stop_refuses_connections_and_start_serves_the_same_port(fake_chat: FakeChat) -> None:
    url = fake_chat.webhook_url
    fake_chat.stop()
    with pytest.raises(requests.ConnectionError):
        post(url, {"text": "a"})
    fake_chat.start()
    assert fake_chat.webhook_url == url
    assert post(url, {"text": "a"}).status_code == 200


def test_slow_fault_still_delivers(fake_chat: FakeChat) -> None:
    fake_chat.add_fault("slack", "slow", sleep_s=0.5)
    with pytest.raises(requests.Timeout):
        requests.post(fake_chat.webhook_url, json={"text": "late"}, timeout=0.1)
    fake_chat.stop()  # wakes the sleeping handler: it drops instead of answering
    fake_chat.start()
    fake_chat.add_fault("slack", "slow", sleep_s=0.05)
    assert requests.post(fake_chat.webhook_url, json={"text": "late"}, timeout=2).text == "ok"
    assert fake_chat.delivered("slack") == [{"text": "late"}]


def test_env_helper(fake_chat: FakeChat) -> None:
    assert fake_chat.env() == {
        "SLACK_WEBHOOK_URL": fake_chat.webhook_url,
        "TELEGRAM_BOT_TOKEN": fake_chat.token,
        "TELEGRAM_CHAT_ID": fake_chat.chat_id,
    }
    assert fake_chat.webhook_url.startswith("http://127.0.0.1:")
    assert fake_chat.webhook_url.endswith("/services/T000/B000/XXXX")


def test_taken_slow_records_the_message_before_answering(fake_chat: FakeChat) -> None:
    fake_chat.add_fault("telegram", "taken_slow", sleep_s=5.0)
    with pytest.raises(requests.Timeout):
        requests.post(
            send_url(fake_chat), json={"chat_id": fake_chat.chat_id, "text": "taken"}, timeout=0.2
        )
    # Logged when taken, not when (if ever) answered.
    assert fake_chat.shown("telegram") == ["taken"]


@pytest.mark.parametrize("channel", ["slack", "telegram"])
def test_a_200_fault_is_not_a_delivery(fake_chat: FakeChat, channel: str) -> None:
    fake_chat.add_fault(channel, "200_empty")  # type: ignore[arg-type]
    url = fake_chat.webhook_url if channel == "slack" else send_url(fake_chat)
    response = post(url, {"chat_id": fake_chat.chat_id, "text": "x"})
    assert (response.status_code, response.text) == (200, "")
    assert [r.status for r in fake_chat.requests(channel)] == [200]
    assert fake_chat.delivered(channel) == []


@pytest.mark.parametrize("channel", ["slack", "telegram"])
def test_echo_fault_quotes_every_secret(fake_chat: FakeChat, channel: str) -> None:
    fake_chat.add_fault(channel, fake_chat.echo_fault(channel, 401))  # type: ignore[arg-type]
    url = fake_chat.webhook_url if channel == "slack" else send_url(fake_chat)
    response = post(url, {"chat_id": fake_chat.chat_id, "text": "x"})
    assert response.status_code == 401
    secret_half = fake_chat.token.partition(":")[2]
    for secret in (fake_chat.token, secret_half, fake_chat.chat_id, fake_chat.webhook_path):
        assert secret in response.text
