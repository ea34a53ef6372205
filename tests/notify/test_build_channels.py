"""`build_channels`: the configured channels from `config.notify` and secrets from the
environment or `.env`, and one error line per channel that cannot be built."""

from __future__ import annotations

from pathlib import Path

import pytest

from pairscan.config import Config, load_config
from pairscan.errors import NotifyError
from pairscan.notify import (
    ConsoleChannel,
    Message,
    SlackChannel,
    TelegramChannel,
    build_channels,
)
from tests.fakes.chat import FakeChat

ALL = ["telegram", "console", "slack"]


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml or .env from the repository


def config(channels: list[str], env: dict[str, str], **overrides: object) -> Config:
    return load_config(None, env=env, overrides={"notify.channels": channels, **overrides})


def test_console_only_by_default() -> None:
    channels, errors = build_channels(load_config(None, env={}))
    assert [type(c) for c in channels] == [ConsoleChannel]
    assert errors == []


def test_all_three_in_configured_order(fake_chat: FakeChat) -> None:
    channels, errors = build_channels(config(ALL, fake_chat.env()))
    assert errors == []
    assert [c.name for c in channels] == ALL
    assert [type(c) for c in channels] == [TelegramChannel, ConsoleChannel, SlackChannel]


def test_missing_secrets_are_reported_and_console_still_built() -> None:
    channels, errors = build_channels(config(ALL, {}))
    assert [c.name for c in channels] == ["console"]
    assert errors == [
        "telegram: TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not set (environment or .env)",
        "slack: SLACK_WEBHOOK_URL is not set (environment or .env)",
    ]


def test_one_missing_telegram_secret() -> None:
    _, errors = build_channels(config(["telegram"], {"TELEGRAM_BOT_TOKEN": "1:abc"}))
    assert errors == ["telegram: TELEGRAM_CHAT_ID is not set (environment or .env)"]


def test_malformed_webhook_is_reported_without_its_value() -> None:
    secret = "hooks.slack.com/services/T1/B1/notAURLsecret"
    _, errors = build_channels(config(["slack"], {"SLACK_WEBHOOK_URL": secret}))
    assert len(errors) == 1
    assert errors[0].startswith("slack: SLACK_WEBHOOK_URL is not an http(s) URL")
    assert "notAURLsecret" not in errors[0]


def test_secrets_from_dotenv(tmp_path: Path, fake_chat: FakeChat) -> None:
    (tmp_path / ".env").write_text(
        "".join(f"{k}={v}\n" for k, v in fake_chat.env().items()), encoding="utf-8"
    )
    yaml_text = (
        f"notify:\n  channels: [slack, telegram]\n  telegram:\n    api_base: {fake_chat.api_base}\n"
    )
    (tmp_path / "config.yaml").write_text(yaml_text, encoding="utf-8")
    channels, errors = build_channels(load_config(tmp_path / "config.yaml"))
    assert errors == []
    message = Message(slack={"text": "hi"}, telegram=("hi",), plain="hi")
    for channel in channels:
        channel.send(message)
    assert fake_chat.delivered("slack") == [{"text": "hi"}]
    assert fake_chat.shown("telegram") == ["hi"]


def test_config_settings_reach_the_channels(fake_chat: FakeChat) -> None:
    sleeps: list[float] = []
    cfg = config(
        ["slack", "telegram"],
        fake_chat.env(),
        **{"notify.retry_budget_s": 2.5, "notify.telegram.api_base": fake_chat.api_base},
    )
    channels, _ = build_channels(cfg, sleep=sleeps.append)
    fake_chat.add_fault("telegram", "429", retry_after=2)
    fake_chat.add_fault("slack", "429", retry_after=3)
    message = Message(slack={"text": "hi"}, telegram=("hi",), plain="hi")
    slack, telegram = channels
    telegram.send(message)  # 2 s fits the 2.5 s budget
    # What is left is 2.5 s minus the time the 429 took to arrive: only the budget is certain.
    with pytest.raises(
        NotifyError,
        match=r"asked to wait 3 s, more than the [0-9.]+ s left of the 2\.5 s retry budget",
    ):
        slack.send(message)
    assert sleeps == [2.0]


def test_a_channel_failure_does_not_affect_the_others(fake_chat: FakeChat) -> None:
    overrides = {"notify.retry_budget_s": 0.0, "notify.telegram.api_base": fake_chat.api_base}
    channels, _ = build_channels(config(["slack", "telegram"], fake_chat.env(), **overrides))
    fake_chat.set_down("slack")
    message = Message(slack={"text": "hi"}, telegram=("hi",), plain="hi")
    failures = []
    for channel in channels:
        try:
            channel.send(message)
        except NotifyError as error:
            failures.append((channel.name, error.transient))
    assert failures == [("slack", True)]
    assert fake_chat.shown("telegram") == ["hi"]
