"""The real channels over real HTTP to the local Slack/Telegram server: delivery, retries
(waits asserted through the injected `sleep`), the retry budget, permanent vs transient
errors, and secrets kept out of every error and log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from rich.console import Console

from pairscan.errors import NotifyError
from pairscan.notify import (
    Channel,
    ConsoleChannel,
    Message,
    SlackChannel,
    TelegramChannel,
    escape_markdown_v2,
)
from tests.fakes.chat import (
    SLACK_NOT_OK_200,
    TELEGRAM_NOT_OK_200,
    ChatFault,
    FakeChat,
    start_fake_chat,
)

TICKET = Message(
    slack={
        "text": "OPEN ETH/BTC short spread, z 2.31",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "OPEN ETH/BTC"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*z* 2.31, hedge `1.042`"}},
        ],
    },
    telegram=(r"*OPEN ETH/BTC* short spread, z 2\.31, hedge `1\.042`",),
    plain="OPEN ETH/BTC short spread, z 2.31 [hedge 1.042]",
)
SHORT_TIMEOUT_S = 0.2


class Sleeps(list[float]):
    """An injected `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def slack(fake: FakeChat, sleeps: Sleeps, *, budget: float = 30.0, **kw: float) -> SlackChannel:
    timeout = kw.get("timeout_s", 2.0)
    return SlackChannel(fake.webhook_url, timeout_s=timeout, retry_budget_s=budget, sleep=sleeps)


def telegram(
    fake: FakeChat, sleeps: Sleeps, *, budget: float = 30.0, token: str | None = None, **kw: float
) -> TelegramChannel:
    return TelegramChannel(
        token or fake.token,
        fake.chat_id,
        api_base=fake.api_base,
        timeout_s=kw.get("timeout_s", 2.0),
        retry_budget_s=budget,
        sleep=sleeps,
    )


# ---- success


def test_slack_delivers_the_payload(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    channel = slack(fake_chat, sleeps)
    assert isinstance(channel, Channel)
    assert channel.name == "slack"
    channel.send(TICKET)
    assert fake_chat.delivered("slack") == [TICKET.slack]
    assert sleeps == []


def test_telegram_delivers_markdown_v2_with_previews_off(
    fake_chat: FakeChat, sleeps: Sleeps
) -> None:
    channel = telegram(fake_chat, sleeps)
    assert isinstance(channel, Channel)
    channel.send(TICKET)
    [payload] = fake_chat.delivered("telegram")
    assert payload == {
        "chat_id": int(fake_chat.chat_id),
        "text": TICKET.telegram[0],
        "parse_mode": "MarkdownV2",
        "disable_web_page_preview": True,
    }
    assert fake_chat.shown("telegram") == ["OPEN ETH/BTC short spread, z 2.31, hedge 1.042"]


def test_telegram_sends_every_part_in_order(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    parts = tuple(escape_markdown_v2(f"part {k}. of 3!") for k in (1, 2, 3))
    telegram(fake_chat, sleeps).send(Message(slack={"text": "x"}, telegram=parts, plain="x"))
    assert fake_chat.shown("telegram") == [f"part {k}. of 3!" for k in (1, 2, 3)]


def test_telegram_escaped_arbitrary_text_is_accepted(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    text = "ETH-PERP/BTC (1h) z=-2.5 > entry; stop_z +4.0 #1 [test] {x} | ~ ` \\ ! é 🚀"
    message = Message(slack={"text": text}, telegram=(escape_markdown_v2(text),), plain=text)
    telegram(fake_chat, sleeps).send(message)
    assert fake_chat.shown("telegram") == [text]


def test_console_prints_plain_text_literally() -> None:
    out = io.StringIO()
    channel = ConsoleChannel(Console(file=out, width=200))
    assert isinstance(channel, Channel)
    assert channel.name == "console"
    channel.send(TICKET)
    assert out.getvalue() == TICKET.plain + "\n"


def test_message_rejects_a_bare_string_for_telegram() -> None:
    with pytest.raises(TypeError, match="tuple"):
        Message(slack={"text": "x"}, telegram="oops", plain="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple"):
        Message(slack={"text": "x"}, telegram=(), plain="x")


# ---- retries


def test_slack_429_waits_retry_after_then_delivers(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("slack", "429", retry_after=3)
    slack(fake_chat, sleeps).send(TICKET)
    assert sleeps == [3.0]
    assert [r.status for r in fake_chat.requests("slack")] == [429, 200]
    assert fake_chat.delivered("slack") == [TICKET.slack]


def test_telegram_429_waits_the_body_retry_after(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("telegram", "429", times=2, retry_after=5)
    telegram(fake_chat, sleeps).send(TICKET)
    assert sleeps == [5.0, 5.0]
    assert len(fake_chat.delivered("telegram")) == 1


@pytest.mark.parametrize(
    ("channel", "kind"),
    [("slack", "500"), ("telegram", "500"), ("slack", "down"), ("telegram", "down")],
)
def test_5xx_backs_off_exponentially_then_delivers(
    fake_chat: FakeChat, sleeps: Sleeps, channel: str, kind: str
) -> None:
    fake_chat.add_fault(channel, kind, times=3)  # type: ignore[arg-type]
    build = slack if channel == "slack" else telegram
    build(fake_chat, sleeps).send(TICKET)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(fake_chat.delivered(channel)) == 1


def test_dropped_connection_is_retried(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("slack", "drop")
    slack(fake_chat, sleeps).send(TICKET)
    assert sleeps == [1.0]
    assert len(fake_chat.delivered("slack")) == 1


def test_no_answer_in_time_is_not_resent_in_the_run(
    fake_chat: FakeChat, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    """The request went out and no answer came within the timeout: the service may have taken
    it, so a resend now could post it twice. The channel is done for the run, budget or not."""
    fake_chat.add_fault("telegram", "hang", sleep_s=2.0)
    channel = telegram(fake_chat, sleeps, timeout_s=SHORT_TIMEOUT_S)
    with pytest.raises(NotifyError) as caught:
        channel.send(TICKET)
    assert caught.value.transient  # the next run sends it again
    assert str(caught.value).startswith("telegram: no answer within 0.2 s of sending; ")
    assert "not resent in this run" in str(caught.value)
    assert "duplicate" in caplog.text  # the log says what the resend may cause
    assert sleeps == []
    assert fake_chat.pending_faults == 0
    with pytest.raises(NotifyError, match="not tried, gave up earlier in this run"):
        channel.send(TICKET)
    # A resend would have been answered at once, and logged before `send` returned.
    assert fake_chat.delivered("telegram") == []


@pytest.mark.parametrize("name", ["slack", "telegram"])
def test_taken_then_answered_after_the_timeout_is_sent_once_in_the_run(
    fake_chat: FakeChat, sleeps: Sleeps, name: str
) -> None:
    """The service posts the message at once and answers only after the client gave up: the
    message is in the chat once; the client reports the send as failed and does not resend."""
    fake_chat.add_fault(name, "taken_slow", sleep_s=2.0)  # type: ignore[arg-type]
    build = slack if name == "slack" else telegram
    with pytest.raises(NotifyError) as caught:
        build(fake_chat, sleeps, timeout_s=SHORT_TIMEOUT_S).send(TICKET)
    assert str(caught.value).startswith(f"{name}: no answer within 0.2 s of sending; ")
    assert caught.value.transient
    assert sleeps == []
    assert len(fake_chat.requests(name)) == 1
    assert len(fake_chat.delivered(name)) == 1  # the duplicate the next run's resend makes


# ---- transient failures


def test_429_longer_than_the_budget_fails_at_once(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("telegram", "429", retry_after=60)
    with pytest.raises(NotifyError) as caught:
        telegram(fake_chat, sleeps, budget=30).send(TICKET)
    assert caught.value.transient
    assert sleeps == []
    message = str(caught.value)
    assert message.startswith("telegram: HTTP 429 Too Many Requests: retry after 60;")
    assert "asked to wait 60 s" in message
    assert "30 s retry budget" in message


def test_5xx_beyond_the_budget_is_transient_and_later_sends_fail_fast(
    fake_chat: FakeChat, sleeps: Sleeps
) -> None:
    fake_chat.set_down("slack")
    channel = slack(fake_chat, sleeps, budget=5)
    with pytest.raises(NotifyError) as caught:
        channel.send(TICKET)
    assert caught.value.transient
    assert sleeps == [1.0, 2.0]  # the next wait (4 s) would overrun the 5 s budget
    assert str(caught.value).startswith("slack: HTTP 503 Service Unavailable; gave up after 3")
    assert len(fake_chat.requests("slack")) == 3
    fake_chat.set_down("slack", False)
    with pytest.raises(NotifyError, match="not tried, gave up earlier in this run") as again:
        channel.send(TICKET)
    assert again.value.transient
    assert len(fake_chat.requests("slack")) == 3  # the outage is not hammered once per ticket


def test_zero_budget_means_one_attempt(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("telegram", "500")
    with pytest.raises(NotifyError) as caught:
        telegram(fake_chat, sleeps, budget=0).send(TICKET)
    assert caught.value.transient
    assert "HTTP 500 Internal Server Error" in str(caught.value)
    assert sleeps == []


def test_connection_refused_is_transient(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    channel = telegram(fake_chat, sleeps, budget=0)
    fake_chat.stop()
    with pytest.raises(NotifyError) as caught:
        channel.send(TICKET)
    assert caught.value.transient
    assert str(caught.value).startswith(
        "telegram: connection failed ([Errno 111] Connection refused"
    )


def test_refused_then_back_on_the_same_port(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.stop()
    fake_chat_calls = [fake_chat.start]  # the server returns during the first backoff

    def sleep_and_restart(seconds: float) -> None:
        sleeps(seconds)
        while fake_chat_calls:
            fake_chat_calls.pop()()

    SlackChannel(
        fake_chat.webhook_url, timeout_s=2.0, retry_budget_s=30.0, sleep=sleep_and_restart
    ).send(TICKET)
    assert sleeps == [1.0]
    assert len(fake_chat.delivered("slack")) == 1


def test_timeout_is_transient_and_quick(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("slack", "hang", sleep_s=2.0)
    with pytest.raises(NotifyError) as caught:
        slack(fake_chat, sleeps, budget=0, timeout_s=SHORT_TIMEOUT_S).send(TICKET)
    assert caught.value.transient
    assert str(caught.value).startswith("slack: no answer within 0.2 s")


# ---- what counts as delivered


@pytest.mark.parametrize(
    ("channel", "kind"),
    [*[("slack", k) for k in SLACK_NOT_OK_200], *[("telegram", k) for k in TELEGRAM_NOT_OK_200]],
)
def test_only_the_services_success_answer_is_delivered(
    fake_chat: FakeChat, sleeps: Sleeps, channel: str, kind: str
) -> None:
    """A 200 whose body is not Slack's `ok` or Telegram's `{"ok": true, "result": <Message
    in the chat>}` (here answered by a fault: the chat did not record the message) fails,
    without a resend in the run: it may have come from something in between that did pass
    the message on. The next run tries again."""
    fake_chat.add_fault(channel, kind)  # type: ignore[arg-type]
    build = slack if channel == "slack" else telegram
    target = build(fake_chat, sleeps)
    with pytest.raises(NotifyError) as caught:
        target.send(TICKET)
    assert caught.value.transient
    assert str(caught.value).startswith(f"{channel}: HTTP 200 ")
    assert "not resent in this run" in str(caught.value)
    assert sleeps == []
    assert [r.status for r in fake_chat.requests(channel)] == [200]
    assert fake_chat.delivered(channel) == []
    # The next run's channel delivers it.
    build(fake_chat, sleeps).send(TICKET)
    assert len(fake_chat.delivered(channel)) == 1


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("200_ok_newline", "not Slack's answer 'ok' but body 'ok\\n'"),
        ("200_json", "not Slack's answer 'ok' but body '{\"ok\": true}'"),
        ("200_empty", "not Slack's answer 'ok' but empty body"),
        ("200_html", "not Slack's answer 'ok' but an HTML page"),
    ],
)
def test_slack_unexpected_200_says_what_came(
    fake_chat: FakeChat, sleeps: Sleeps, kind: str, said: str
) -> None:
    fake_chat.add_fault("slack", kind)
    with pytest.raises(NotifyError) as caught:
        slack(fake_chat, sleeps).send(TICKET)
    assert str(caught.value).startswith(f"slack: HTTP 200 {said};"), str(caught.value)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("200_no_result", 'no sent message in the answer (no "result" object)'),
        ("200_result_true", 'no sent message in the answer (no "result" object)'),
        ("200_no_message_id", "no sent message in the answer (no result.message_id)"),
        ("200_other_chat", "the sent message is in another chat than TELEGRAM_CHAT_ID"),
        ("200_ok_false", '"ok" is False, not true: Bad Request'),
        ("200_text", "not JSON: body 'ok'"),
        ("200_empty", "not JSON: empty body"),
        ("200_html", "not JSON: an HTML page"),
    ],
)
def test_telegram_unexpected_200_says_what_came(
    fake_chat: FakeChat, sleeps: Sleeps, kind: str, said: str
) -> None:
    fake_chat.add_fault("telegram", kind)
    with pytest.raises(NotifyError) as caught:
        telegram(fake_chat, sleeps).send(TICKET)
    assert str(caught.value).startswith(f"telegram: HTTP 200 {said};"), str(caught.value)


def test_telegram_channel_by_username_is_delivered(sleeps: Sleeps) -> None:
    with start_fake_chat(chat_id="@pairs_alerts") as fake:
        channel = TelegramChannel(
            fake.token, "@pairs_alerts", api_base=fake.api_base, timeout_s=2, retry_budget_s=0
        )
        channel.send(TICKET)
        assert len(fake.delivered("telegram")) == 1


# ---- permanent failures


def test_telegram_parse_error_is_permanent_and_quotes_telegram(
    fake_chat: FakeChat, sleeps: Sleeps
) -> None:
    bad = Message(slack={"text": "x"}, telegram=("z-score 2.5",), plain="x")
    with pytest.raises(NotifyError) as caught:
        telegram(fake_chat, sleeps).send(bad)
    assert not caught.value.transient
    assert str(caught.value) == (
        "telegram: HTTP 400 Bad Request: can't parse entities: Character '-' is reserved and "
        "must be escaped with the preceding '\\'"
    )
    assert sleeps == []
    assert len(fake_chat.requests("telegram")) == 1


def test_a_failed_part_says_how_many_parts_went_out(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    fake_chat.add_fault("telegram", "400_parse")
    fake_chat.add_fault("telegram", "400_parse")
    parts = ("first", "second", "third")
    channel = telegram(fake_chat, sleeps)
    fake_chat.clear()
    fake_chat.add_fault("telegram", "slow", sleep_s=0.0)  # part 1: normal answer
    fake_chat.add_fault("telegram", "400_parse")
    with pytest.raises(NotifyError) as caught:
        channel.send(Message(slack={"text": "x"}, telegram=parts, plain="x"))
    assert "(message part 2 of 3; the 1 before it delivered)" in str(caught.value)
    assert fake_chat.shown("telegram") == ["first"]


@pytest.mark.parametrize(
    ("payload", "description"),
    [
        ({"text": ""}, "no_text"),
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "invalid_blocks",
        ),
        ({"text": 5}, "invalid_payload"),
    ],
)
def test_slack_rejections_are_permanent_with_slacks_words(
    fake_chat: FakeChat, sleeps: Sleeps, payload: dict[str, object], description: str
) -> None:
    with pytest.raises(NotifyError) as caught:
        slack(fake_chat, sleeps).send(Message(slack=payload, telegram=("x",), plain="x"))
    assert not caught.value.transient
    assert str(caught.value) == f"slack: HTTP 400 {description}"
    assert sleeps == []


def test_revoked_webhook_is_permanent(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    channel = SlackChannel(
        fake_chat.base_url + "/services/T000/B000/REVOKED", timeout_s=2, retry_budget_s=30
    )
    with pytest.raises(NotifyError) as caught:
        channel.send(TICKET)
    assert not caught.value.transient
    assert str(caught.value) == "slack: HTTP 404 no_service"


def test_wrong_token_and_wrong_chat_are_permanent(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    with pytest.raises(NotifyError) as caught:
        telegram(fake_chat, sleeps, token="999:wrong-token-value").send(TICKET)
    assert (caught.value.transient, str(caught.value)) == (False, "telegram: HTTP 401 Unauthorized")
    other_chat = TelegramChannel(
        fake_chat.token, "-100999", api_base=fake_chat.api_base, timeout_s=2, retry_budget_s=30
    )
    with pytest.raises(NotifyError) as caught:
        other_chat.send(TICKET)
    assert str(caught.value) == "telegram: HTTP 400 Bad Request: chat not found"


def test_telegram_too_long_is_permanent(fake_chat: FakeChat, sleeps: Sleeps) -> None:
    ok = Message(slack={"text": "x"}, telegram=("a" * 4096,), plain="x")
    telegram(fake_chat, sleeps).send(ok)
    with pytest.raises(NotifyError, match=r"HTTP 400 Bad Request: message is too long$"):
        telegram(fake_chat, sleeps).send(
            Message(slack={"text": "x"}, telegram=("a" * 4097,), plain="x")
        )


# ---- secrets


SECRET_TOKEN = "424242:AAH-SeCrEt-bot-token-zz9"
SECRET_CHAT = "-1004242424242"
SECRET_HOOK = "/services/T0SECRET/B0SECRET/hookSeCrEt0123456789"
TELLTALES = ("SeCrEt", "4242424242", "424242:", "T0SECRET", "hookSeCrEt")


@pytest.fixture
def secret_chat() -> Iterator[FakeChat]:
    with start_fake_chat(token=SECRET_TOKEN, chat_id=SECRET_CHAT, webhook_path=SECRET_HOOK) as fake:
        yield fake


def _every_secret(fake: FakeChat) -> tuple[str, ...]:
    """What `build_channels` gives every channel to mask: all the configured secrets."""
    return (fake.webhook_url, SECRET_TOKEN, SECRET_CHAT)


def _make_slack(fake: FakeChat, sleeps: Sleeps) -> Channel:
    return SlackChannel(
        fake.webhook_url,
        timeout_s=SHORT_TIMEOUT_S,
        retry_budget_s=2,
        sleep=sleeps,
        extra_secrets=_every_secret(fake),
    )


def _make_telegram(fake: FakeChat, sleeps: Sleeps) -> Channel:
    return TelegramChannel(
        SECRET_TOKEN,
        SECRET_CHAT,
        api_base=fake.api_base,
        timeout_s=SHORT_TIMEOUT_S,
        retry_budget_s=2,
        sleep=sleeps,
        extra_secrets=_every_secret(fake),
    )


def _down(fake: FakeChat, channel: str) -> None:
    fake.set_down(channel)  # type: ignore[arg-type]


def _refused(fake: FakeChat, channel: str) -> None:
    fake.stop()


def _rejected(fake: FakeChat, channel: str) -> None:
    if channel == "telegram":
        fake.add_fault("telegram", "400_parse")
    else:
        fake.add_fault("slack", ChatFault(400, b"invalid_blocks", name="400"))


FAILURES: dict[str, Callable[[FakeChat, str], None]] = {
    "5xx until the budget is spent": _down,
    "429 beyond the budget": lambda f, c: f.add_fault(c, "429", retry_after=100),  # type: ignore[arg-type]
    "timeout": lambda f, c: f.add_fault(c, "hang", times=5, sleep_s=1.0),  # type: ignore[arg-type]
    "dropped connection": lambda f, c: f.add_fault(c, "drop", times=5),  # type: ignore[arg-type]
    "connection refused": _refused,
    "permanent 4xx": _rejected,
}


@pytest.mark.parametrize("channel", ["slack", "telegram"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_secrets_never_reach_errors_or_logs(
    secret_chat: FakeChat,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
    channel: str,
    failure: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    # As `pairs` configures it: urllib3 logs request lines (with the URL) only at DEBUG.
    caplog.set_level(logging.INFO, logger="urllib3")
    make = _make_slack if channel == "slack" else _make_telegram
    target = make(secret_chat, sleeps)
    FAILURES[failure](secret_chat, channel)
    with pytest.raises(NotifyError) as caught:
        target.send(TICKET)
    texts = [str(caught.value), repr(caught.value), repr(target)]
    texts += [caplog.text, *(r.getMessage() for r in caplog.records)]
    assert caught.value.__cause__ is None
    for text in texts:
        for piece in TELLTALES:
            assert piece not in text, f"{piece!r} leaked in {text!r}"
    assert str(caught.value).startswith(f"{channel}: ")


def test_a_service_echoing_secrets_is_redacted(secret_chat: FakeChat, sleeps: Sleeps) -> None:
    echo = f"upstream said: {secret_chat.webhook_url} {SECRET_TOKEN}".encode()
    secret_chat.add_fault("slack", ChatFault(403, echo, name="echo"))
    # build_channels passes every configured secret, so Slack also masks the Telegram token.
    channel = SlackChannel(
        secret_chat.webhook_url, timeout_s=2, retry_budget_s=0, extra_secrets=(SECRET_TOKEN,)
    )
    with pytest.raises(NotifyError) as caught:
        channel.send(TICKET)
    assert not caught.value.transient
    assert "HTTP 403 upstream said:" in str(caught.value)
    for piece in TELLTALES:
        assert piece not in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.parametrize("channel", ["slack", "telegram"])
def test_error_bodies_echoing_any_part_of_a_secret_are_masked(
    secret_chat: FakeChat,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
    channel: str,
    status: int,
) -> None:
    """The whole token, its secret half alone (after `424242:`), the chat id, the webhook URL
    and its path: each masked where the answer becomes error text."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="urllib3")  # as `pairs` configures it
    secret_chat.add_fault(channel, secret_chat.echo_fault(channel, status))  # type: ignore[arg-type]
    make = _make_slack if channel == "slack" else _make_telegram
    with pytest.raises(NotifyError) as caught:
        make(secret_chat, sleeps).send(TICKET)
    message = str(caught.value)
    assert message.startswith(f"{channel}: HTTP {status} ")
    assert "***" in message
    secret_half = SECRET_TOKEN.partition(":")[2]
    for text in (message, caplog.text):
        for piece in (*TELLTALES, secret_half, secret_half[:12], SECRET_HOOK):
            assert piece not in text, f"{piece!r} leaked in {text!r}"


def test_a_secret_cut_by_the_length_limit_leaves_no_prefix(
    secret_chat: FakeChat, sleeps: Sleeps
) -> None:
    secret_half = SECRET_TOKEN.partition(":")[2]
    body = {"ok": False, "error_code": 401, "description": "x" * 190 + " " + secret_half}
    fault = ChatFault(401, json.dumps(body).encode(), content_type="application/json")
    secret_chat.add_fault("telegram", fault)
    with pytest.raises(NotifyError) as caught:
        _make_telegram(secret_chat, sleeps).send(TICKET)
    assert secret_half[:4] not in str(caught.value)
