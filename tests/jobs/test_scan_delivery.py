"""`pairs scan` delivery guarantees end to end (issue 11: fail loudly, lose nothing, leak
nothing), with the real CLI (CliRunner), real ccxt against the local Binance-protocol server,
real HTTP to the local Slack/Telegram server and a real SQLite outbox:

- only the service's success answer marks a ticket delivered; a 200 that is not it is
  retried next run;
- an answer slower than `notify.timeout_s` after the service took the message: not resent in
  the run, resent once by the next run (the one duplicate), never again;
- a channel down at digest time gets that digest at its next run, once;
- error bodies echoing the token, its secret half, the chat id and the webhook reach no
  output, log, file or database byte.

The replay is test_scan_e2e's: runs 1 and 3 each make one ticket, run 2 none.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import Result

from tests.fakes.binance import FakeBinance
from tests.fakes.chat import FakeChat, start_fake_chat
from tests.jobs.test_scan_e2e import (
    EXCHANGE,
    SECRET_NAMES,
    Scan,
    assert_ok,
    bar,
    delivered_ids,
    make_scan,
)

DIGEST = "Paper book digest"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    """No config.yaml, .env or secrets of the developer's shell; logging restored after."""
    monkeypatch.chdir(tmp_path)
    for name in (*SECRET_NAMES, "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)


def tickets_at(scan: Scan, k: int) -> list[str]:
    return [t["id"] for t in scan.outbox() if t["bar_ms"] == bar(k)]


def digests(chat: FakeChat, channel: str) -> int:
    """Digests the chat has (accepted by the service itself)."""
    return sum(DIGEST in json.dumps(p) for p in chat.delivered(channel))


# ---- success criteria and the duplicate window ---------------------------------------------


def test_unclear_answers_are_never_marked_delivered_and_cost_at_most_one_duplicate(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    # A retry budget to spare: what stops the resend is the rule, not the budget.
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat, retry_budget_s=30.0)
    chat = fake_chat
    assert_ok(scan.run(0))

    # Run 1: Slack takes the ticket at once but answers after the 2 s timeout.
    chat.add_fault("slack", "taken_slow", sleep_s=8.0)
    result = scan.run(1)
    assert_ok(result, 1)
    (ticket,) = tickets_at(scan, 1)
    assert "error: slack: no answer within 2 s of sending; not resent in this run" in (
        result.stdout
    ), result.output
    assert "duplicate" in result.output
    assert len(chat.requests("slack")) == 1  # not resent in the run
    assert delivered_ids(chat, "slack", {ticket}) == [ticket]  # but the chat has it
    assert scan.deliveries()[ticket] == {"console", "telegram"}  # and it is not marked

    # Run 2 (no new ticket) resends it: the one duplicate. Then it is marked.
    assert_ok(scan.run(2))
    assert delivered_ids(chat, "slack", {ticket}) == [ticket, ticket]
    assert scan.deliveries()[ticket] == {"console", "slack", "telegram"}

    # Run 3: Telegram answers 200 without the sent message (a proxy, say): not delivered,
    # not resent in the run, and Slack is not held up by it.
    chat.add_fault("telegram", "200_no_result")
    result = scan.run(3)
    assert_ok(result, 1)
    (third,) = tickets_at(scan, 3)
    assert "error: telegram: HTTP 200 no sent message in the answer" in result.stdout
    assert [r.status for r in chat.requests("telegram")][-1:] == [200]
    assert delivered_ids(chat, "telegram", {third}) == []
    assert scan.deliveries()[third] == {"console", "slack"}

    # Run 4 delivers it; nothing else is ever sent twice.
    assert_ok(scan.run(4))
    ids = scan.outbox_ids()
    assert scan.deliveries() == {i: {"console", "slack", "telegram"} for i in ids}
    for channel, twice in (("slack", [ticket]), ("telegram", [])):
        got = delivered_ids(chat, channel, set(ids))
        assert list(dict.fromkeys(got)) == ids, channel
        assert [i for i, n in Counter(got).items() if n > 1] == twice, channel


# ---- the digest, per channel ------------------------------------------------------------------


def test_a_channel_down_at_digest_time_gets_the_digest_at_its_next_run_once(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    # The digest is due at the first run whose bar is at or after 04:00 UTC: run 1.
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat, digest_hour_utc=4)
    chat = fake_chat
    assert_ok(scan.run(0))
    assert (digests(chat, "slack"), digests(chat, "telegram")) == (0, 0)

    chat.set_down("slack")
    result = scan.run(1)
    assert_ok(result, 1)
    assert DIGEST in result.stdout  # the console has it
    assert "error: digest: slack: not tried, gave up earlier in this run" in result.stdout
    assert (digests(chat, "slack"), digests(chat, "telegram")) == (0, 1)

    chat.set_down("slack", False)
    result = scan.run(2)
    assert_ok(result)
    assert DIGEST not in result.stdout  # the console had it
    assert (digests(chat, "slack"), digests(chat, "telegram")) == (1, 1)
    # The missed ticket went first, then the digest.
    (ticket,) = tickets_at(scan, 1)
    slack = chat.delivered("slack")
    assert ticket in json.dumps(slack[0])
    assert DIGEST in json.dumps(slack[1])

    result = scan.run(3)
    assert_ok(result)
    assert DIGEST not in result.stdout
    assert (digests(chat, "slack"), digests(chat, "telegram")) == (1, 1)


# ---- secrets ----------------------------------------------------------------------------------

SECRET_TOKEN = "5550001234:AAsecretHalfOfTheBotToken-x9Qw7Zk"
SECRET_HALF = SECRET_TOKEN.partition(":")[2]
SECRET_CHAT_ID = "-1005550009876"
SECRET_HOOK = "/services/T0HOOKTEAM/B0HOOKBOT/hookKeyZ8y7x6w5v4u3"
LEAKS = (
    SECRET_TOKEN,
    SECRET_HALF,
    SECRET_HALF[:10],
    SECRET_HALF[-10:],
    SECRET_CHAT_ID,
    SECRET_CHAT_ID.lstrip("-"),
    SECRET_HOOK,
    SECRET_HOOK.lstrip("/"),
    "hookKeyZ8y7x6w5v4u3",
)


def assert_no_secret(text: str, where: str) -> None:
    for piece in LEAKS:
        leaks = [line for line in text.splitlines() if piece in line]
        assert not leaks, f"{piece!r} leaked in {where}:\n" + "\n".join(leaks[:3])


def test_error_bodies_echoing_secrets_leak_them_nowhere(
    fake_binance: FakeBinance, tmp_path: Path, isolated: None
) -> None:
    with start_fake_chat(
        token=SECRET_TOKEN, chat_id=SECRET_CHAT_ID, webhook_path=SECRET_HOOK
    ) as chat:
        scan = make_scan(tmp_path / "run", fake_binance, chat, digest_hour_utc=4)
        verbose = ("-vv", "--log-json")
        results: list[Result] = []

        def run(k: int, code: int) -> Result:
            result = scan.run(k, global_args=verbose)
            results.append(result)
            assert_ok(result, code)
            return result

        run(0, 0)
        # 401 and 403 (the ticket, then the digest) echoing every secret, then 400 twice.
        for status in (401, 403):
            chat.add_fault("telegram", chat.echo_fault("telegram", status))
            chat.add_fault("slack", chat.echo_fault("slack", status))
        failed = run(1, 1)
        for line in ("error: telegram: HTTP 401 Unauthorized: token ***", "error: slack: HTTP 401"):
            assert line in failed.stdout, failed.output
        assert "error: digest: telegram: HTTP 403 Forbidden: token ***" in failed.stdout
        chat.add_fault("telegram", chat.echo_fault("telegram", 400), times=2)
        chat.add_fault("slack", chat.echo_fault("slack", 400), times=2)
        failed = run(2, 1)
        assert "error: telegram: HTTP 400 Bad Request: token ***" in failed.stdout
        assert chat.pending_faults == 0  # every echo was served
        run(3, 0)
        ids = scan.outbox_ids()
        assert len(ids) == 2
        for channel in ("slack", "telegram"):
            assert delivered_ids(chat, channel, set(ids)) == ids
            assert digests(chat, channel) == 1
        for args in (("scan", "--status", "--json"), ("scan", "--status"), ("state", "show")):
            status = scan.cli("-vv", *args)
            assert_ok(status)
            results.append(status)

    for k, result in enumerate(results):
        assert "Traceback" not in result.output
        assert_no_secret(result.stdout, f"stdout of invocation {k}")
        assert_no_secret(result.stderr, f"stderr of invocation {k}")
    # Every file the runs wrote: the runs log, the --log-json file, the ticket exports, and
    # the bytes of the state database (its failures table quotes the services' answers).
    names = {p.name for p in scan.data.rglob("*") if p.is_file()}
    assert {f"{EXCHANGE}-runs.jsonl", "pairs.jsonl", "tickets.jsonl", "tickets.csv"} <= names
    assert f"{EXCHANGE}.sqlite" in names
    for path in sorted(scan.data.rglob("*")):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode("latin-1"), str(path))
    failures = scan.db.read_bytes().decode("latin-1")
    assert "Unauthorized: token ***" in failures  # the failure was recorded, masked
