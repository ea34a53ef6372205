"""`pairs scan` end to end, with real parts only: the CLI (click's CliRunner, or a subprocess
where a kill or an overlap needs a real process), real ccxt against the local Binance-protocol
server, real Slack-webhook and Telegram-Bot-API HTTP against the local chat server, real parquet
files and a real SQLite outbox. The exchange's clock is advanced hour by hour over the recorded
demo market, and `--now` follows it.

The replay starts at 2026-04-13 04:05 UTC (the scan decides the bar of 03:00): the week of
2026-04-13 selects six pairs after three weeks that selected none, so an empty state is what
hourly runs would hold, and the first 35 hours open five positions and close four of them.

Cases: the happy path (exactly once per channel, --status, state show, the export; three weeks
behind `slow`), Slack down for three runs, Telegram 429 and 400 "can't parse entities", a 5xx
for one symbol's klines, SIGKILL mid-run then rerun, two overlapping runs, secrets with every
failure at -vv --log-json, and --dry-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pairscan.cli import pairs
from pairscan.market import MS_PER_HOUR, parse_utc
from tests.fakes.binance import ExchangeState, FakeBinance, Fault, start_fake_binance
from tests.fakes.chat import ChatFault, FakeChat, start_fake_chat

PERPS = [
    f"{b}/USDT:USDT"
    for b in ("ADA", "AVAX", "BCH", "BTC", "DOGE", "ETH", "LINK", "LTC", "SOL", "XRP")
]
EXCHANGE = "binanceusdm"
FAPI_KLINES = "/fapi/v1/klines"
FIRST_BAR = parse_utc("2026-04-13T03:00Z")
# Runs start 5 minutes past the hour, deciding the bar that closed then.
RUN_OFFSET_MS = MS_PER_HOUR + 5 * 60_000
# Selection needs stats.formation_days (90) before the boundary of 2026-04-13 00:00.
HISTORY_DAYS = 92
# Runs 0..REFERENCE_RUNS-1 of the uninterrupted replay: nine tickets (five opens, four closes),
# one position still open at the end.
REFERENCE_RUNS = 35
DIGEST_HOUR = 8
CHANNELS = ("console", "slack", "telegram")
TICKET_ID = re.compile(r"\b[0-9a-f]{20}\b")
RUN_TIMEOUT_S = 60


def bar(k: int) -> int:
    """Open time of the bar decided by run k (UTC ms)."""
    return FIRST_BAR + k * MS_PER_HOUR


def clock(k: int) -> int:
    """The clock of run k: five minutes after its bar closed."""
    return bar(k) + RUN_OFFSET_MS


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


# ---- the set-up: servers, config, one run --------------------------------------------------


def write_config(
    folder: Path,
    fake: FakeBinance,
    chat: FakeChat,
    *,
    retry_budget_s: float = 0.0,
    digest_hour_utc: int | None = None,
) -> Path:
    doc = {
        "data_dir": "data",
        "exchange": {
            "id": EXCHANGE,
            "ccxt_config": fake.ccxt_config(market_types=("linear",)),
            "max_retries": 2,
            "retry_base_delay_s": 0,
        },
        "universe": {"symbols": PERPS},
        "cache": {"history_days": HISTORY_DAYS},
        "notify": {
            "channels": list(CHANNELS),
            "timeout_s": 2.0,
            "retry_budget_s": retry_budget_s,
            "digest_hour_utc": digest_hour_utc,
            "telegram": {"api_base": chat.api_base},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@dataclasses.dataclass
class Scan:
    """One data directory driven through the CLI against the two fakes."""

    folder: Path
    fake: FakeBinance
    chat: FakeChat
    config: Path
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def db(self) -> Path:
        return self.data / "state" / f"{EXCHANGE}.sqlite"

    def args(self, k: int, *scan_args: str, global_args: Sequence[str] = ()) -> list[str]:
        return [
            "--config",
            str(self.config),
            "--now",
            iso(clock(k)),
            *global_args,
            "scan",
            *scan_args,
        ]

    def run(self, k: int, *scan_args: str, global_args: Sequence[str] = ()) -> Result:
        """Run k in this process (CliRunner), the exchange's clock set to the run's."""
        self.fake.state.now_ms = clock(k)
        return CliRunner().invoke(
            pairs, self.args(k, *scan_args, global_args=global_args), env=self.env
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(pairs, ["--config", str(self.config), *args], env=self.env)

    def start(self, k: int, *scan_args: str, name: str) -> Child:
        """Run k as a `python -m pairscan` process, as cron starts it."""
        self.fake.state.now_ms = clock(k)
        out, err = self.folder / f"{name}.stdout", self.folder / f"{name}.stderr"
        env = {n: v for n, v in os.environ.items() if n not in SECRET_NAMES}
        env.update(self.env, NO_COLOR="1")
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pairscan", *self.args(k, *scan_args)],
                cwd=self.folder,
                env=env,
                stdout=stdout,
                stderr=stderr,
            )
        return Child(proc, out, err, len(self.fake.state.requests_for()))

    # ---- what the data directory holds

    def outbox(self) -> list[dict[str, Any]]:
        """Every ticket (its JSON), in outbox order."""
        if not self.db.exists():
            return []
        with _read(self.db) as con:
            rows = con.execute("SELECT payload FROM tickets ORDER BY seq").fetchall()
        return [json.loads(p) for (p,) in rows]

    def outbox_ids(self) -> list[str]:
        return [t["id"] for t in self.outbox()]

    def deliveries(self) -> dict[str, set[str]]:
        """Ticket id -> channels it is marked delivered to."""
        out: dict[str, set[str]] = {}
        if not self.db.exists():
            return out
        with _read(self.db) as con:
            for ticket, channel in con.execute("SELECT ticket_id, channel FROM deliveries"):
                out.setdefault(ticket, set()).add(channel)
        return out

    def last_bar(self) -> int | None:
        result = self.cli("state", "show", "--json")
        assert result.exit_code == 0, result.output
        value = json.loads(result.stdout)["last_bar_ms"]
        return None if value is None else int(value)

    def integrity(self) -> None:
        with _read(self.db) as con:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


SECRET_NAMES = ("SLACK_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


@contextlib.contextmanager
def _read(db: Path) -> Iterator[sqlite3.Connection]:
    """A short read-only connection to the state database."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        yield con
    finally:
        con.close()


@dataclasses.dataclass
class Child:
    """A `pairs scan` subprocess and its output files."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    first_request: int  # where its requests begin in the exchange's log

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8") + self.stderr.read_text(encoding="utf-8")

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=RUN_TIMEOUT_S)
        finally:
            self.reap()

    def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def make_scan(folder: Path, fake: FakeBinance, chat: FakeChat, **config: Any) -> Scan:
    return Scan(folder, fake, chat, write_config(folder, fake, chat, **config), chat.env())


def ticket_ids_in(payload: Any, known: set[str]) -> list[str]:
    """Ticket ids named in one message (a Slack payload names its ticket twice: the text
    and the blocks)."""
    return list(dict.fromkeys(i for i in TICKET_ID.findall(json.dumps(payload)) if i in known))


def delivered_ids(chat: FakeChat, channel: str, known: set[str]) -> list[str]:
    """Ticket ids of the messages `channel` accepted, in order (a digest names none)."""
    return [i for payload in chat.delivered(channel) for i in ticket_ids_in(payload, known)]


def open_in(outbox: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs an entry ticket opened and no later ticket closed, in order of entry."""
    held: dict[tuple[str, str], None] = {}
    for t in outbox:
        pair = (t["y_symbol"], t["x_symbol"])
        if t["action"] == "close":
            held.pop(pair, None)
        else:
            held[pair] = None
    return list(held)


def assert_ok(result: Result, code: int = 0) -> None:
    assert result.exit_code == code, result.output + (
        ""
        if result.exception is None or isinstance(result.exception, SystemExit)
        else repr(result.exception)
    )


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    """No config.yaml, .env or secrets of the developer's shell; logging restored after."""
    monkeypatch.chdir(tmp_path)
    for name in (*SECRET_NAMES, "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def scan(fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None) -> Scan:
    return make_scan(tmp_path / "run", fake_binance, fake_chat)


# ---- the uninterrupted replay, shared by the tests that compare against it -------------------


@dataclasses.dataclass
class Reference:
    """The uninterrupted hourly replay of runs 0..REFERENCE_RUNS-1 (digest at 08:00 UTC)."""

    scan: Scan
    results: list[Result]
    outbox: list[dict[str, Any]]
    states: list[dict[str, Any]]  # `pairs state show --json` after each run
    rerun: Result  # the last hour run again
    chat_before_rerun: int

    def tickets_up_to(self, k: int) -> list[str]:
        return [t["id"] for t in self.outbox if t["bar_ms"] <= bar(k)]

    def tickets_at(self, k: int) -> list[str]:
        return [t["id"] for t in self.outbox if t["bar_ms"] == bar(k)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("ccxt", "urllib3")}
    folder = tmp_path_factory.mktemp("reference")
    with (
        pytest.MonkeyPatch.context() as mp,
        start_fake_binance(ExchangeState.demo()) as fake,
        start_fake_chat() as chat,
    ):
        mp.chdir(folder)
        for name in (*SECRET_NAMES, "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"):
            mp.delenv(name, raising=False)
        scan = make_scan(folder / "run", fake, chat, digest_hour_utc=DIGEST_HOUR)
        results, states = [], []
        try:
            for k in range(REFERENCE_RUNS):
                results.append(scan.run(k))
                shown = scan.cli("state", "show", "--json")
                states.append(json.loads(shown.stdout))
            before = len(chat.received)
            rerun = scan.run(REFERENCE_RUNS - 1)
            yield Reference(scan, results, scan.outbox(), states, rerun, before)
        finally:
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)
            for name, old in noisy.items():
                logging.getLogger(name).setLevel(old)


# ---- 1. the happy path -----------------------------------------------------------------------


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_hourly_replay_delivers_every_ticket_once_to_every_channel(reference: Reference) -> None:
    scan, chat = reference.scan, reference.scan.chat
    for k, result in enumerate(reference.results):
        assert_ok(result)
        assert "error" not in result.output, (k, result.output)
    outbox = reference.outbox
    ids = [t["id"] for t in outbox]
    actions = Counter(t["action"] for t in outbox)
    assert len(ids) == len(set(ids)) == 9, outbox
    assert actions == {"open_long": 5, "close": 4}, actions
    known = set(ids)

    # Every ticket exactly once to each chat, in outbox order; every request accepted (the fake
    # parses the MarkdownV2 and checks Slack's limits), none retried.
    for channel in ("slack", "telegram"):
        assert delivered_ids(chat, channel, known) == ids, channel
    assert all(r.status == 200 for r in chat.received), [
        (r.channel, r.status, r.fault) for r in chat.received if r.status != 200
    ]
    assert scan.deliveries() == {i: set(CHANNELS) for i in ids}
    # Telegram shows each ticket's pair after parsing its entities.
    shown = [s for s in chat.shown("telegram") if "digest" not in s]
    assert len(shown) == len(outbox)
    for text, ticket in zip(shown, outbox, strict=True):
        assert ("CLOSE" if ticket["action"] == "close" else "OPEN") in text, text
        assert ticket["y_symbol"] in text, text
        assert ticket["x_symbol"] in text, text

    # The console: each ticket is printed by the run that decided it, and by no other.
    for k, result in enumerate(reference.results):
        printed = set(TICKET_ID.findall(result.stdout)) & known
        assert printed == set(reference.tickets_at(k)), (k, result.stdout)

    # One digest a day per chat, at the first run whose bar is at or after 08:00 UTC.
    for channel in ("slack", "telegram"):
        digests = [p for p in chat.delivered(channel) if "Paper book digest" in json.dumps(p)]
        assert len(digests) == 2, channel
    for payload in chat.delivered("slack"):
        assert len(ticket_ids_in(payload, known)) == (0 if "digest" in json.dumps(payload) else 1)

    # The export has each ticket once, in outbox order.
    export = scan.data / "tickets" / EXCHANGE
    lines = [json.loads(x) for x in (export / "tickets.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ids
    assert [x["seq"] for x in lines] == list(range(1, len(ids) + 1))
    rows = (export / "tickets.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ids
    scan.integrity()

    # A rerun of the last hour decides nothing again and sends nothing.
    assert_ok(reference.rerun)
    assert "already decided; only undelivered tickets were retried" in reference.rerun.stdout
    assert len(chat.received) == reference.chat_before_rerun
    assert scan.outbox_ids() == ids


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_status_and_state_show_reflect_the_runs(reference: Reference) -> None:
    scan = reference.scan
    last = bar(REFERENCE_RUNS - 1)
    result = scan.cli("scan", "--status", "--json")
    assert_ok(result)
    status = json.loads(result.stdout)
    runs = status["runs"]
    # Newest first: the rerun of the last hour, then the hourly runs.
    assert [r["bar_ms"] for r in runs] == [
        last,
        *(bar(k) for k in range(REFERENCE_RUNS - 1, REFERENCE_RUNS - 10, -1)),
    ]
    assert runs[0]["status"] == "already_processed"
    assert all(r["status"] == "ok" for r in runs[1:])
    assert all(not r["symbol_errors"] and not r["channel_errors"] for r in runs)
    by_bar = {r["bar_ms"]: r for r in runs[1:]}
    for k in range(REFERENCE_RUNS - 9, REFERENCE_RUNS):
        assert by_bar[bar(k)]["tickets"] == reference.tickets_at(k)
        assert by_bar[bar(k)]["delivered"] == {c: len(reference.tickets_at(k)) for c in CHANNELS}
    assert status["state"]["last_bar_ms"] == last
    log = scan.data / "state" / f"{EXCHANGE}-runs.jsonl"
    assert len(log.read_text().splitlines()) == REFERENCE_RUNS + 1

    table = scan.cli("scan", "--status")
    assert_ok(table)
    assert "last scans (10)" in table.stdout
    assert "2026-04-14 13:00Z" in table.stdout

    shown = scan.cli("state", "show", "--json")
    assert_ok(shown)
    state = json.loads(shown.stdout)
    assert state["last_bar_ms"] == last
    open_pairs = open_in(reference.outbox)
    assert [(p["y_symbol"], p["x_symbol"]) for p in state["open_positions"]] == open_pairs
    assert open_pairs == [("LTC/USDT:USDT", "SOL/USDT:USDT")]
    assert [p["side"] for p in state["open_positions"]] == ["LONG"]


@pytest.mark.slow  # ~60 s: 336 hourly runs
def test_two_weeks_hour_by_hour_deliver_every_ticket_once(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat, digest_hour_utc=DIGEST_HOUR)
    # Two weeks: three weekly re-selections and fourteen digests, every hour a real run.
    runs = 14 * 24
    for k in range(runs):
        assert_ok(scan.run(k))
    ids = scan.outbox_ids()
    assert len(ids) == len(set(ids)) >= 9
    for channel in ("slack", "telegram"):
        assert delivered_ids(fake_chat, channel, set(ids)) == ids, channel
        digests = [p for p in fake_chat.delivered(channel) if "Paper book digest" in json.dumps(p)]
        assert len(digests) == 14, channel  # one a day, 2026-04-13 .. 2026-04-26
    assert all(r.status == 200 for r in fake_chat.received)
    assert scan.deliveries() == {i: set(CHANNELS) for i in ids}
    export = scan.data / "tickets" / EXCHANGE / "tickets.jsonl"
    assert [json.loads(x)["id"] for x in export.read_text().splitlines()] == ids
    scan.integrity()
    assert scan.last_bar() == bar(runs - 1)
    # Re-selected on the weekly grid, each selection stored once.
    with _read(scan.db) as con:
        boundaries = [b for (b,) in con.execute("SELECT boundary_ms FROM selections ORDER BY 1")]
    week = 168 * MS_PER_HOUR
    assert boundaries == [parse_utc("2026-04-13") + i * week for i in range(3)]
    state = json.loads(scan.cli("state", "show", "--json").stdout)
    assert [(p["y_symbol"], p["x_symbol"]) for p in state["open_positions"]] == open_in(
        scan.outbox()
    )


# ---- 2, 3. a channel failing --------------------------------------------------------------


def failures(scan: Scan) -> list[tuple[str, str, str]]:
    with _read(scan.db) as con:
        rows = con.execute(
            "SELECT ticket_id, channel, error FROM delivery_failures ORDER BY rowid"
        ).fetchall()
    return [(str(t), str(c), str(e)) for t, c, e in rows]


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_slack_down_for_three_runs_then_up_gets_every_ticket_once_in_order(
    scan: Scan, reference: Reference
) -> None:
    chat = scan.chat
    down = {1, 2, 3}  # runs 1 and 3 make tickets; run 2 only retries
    for k in range(7):
        chat.set_down("slack", k in down)
        result = scan.run(k)
        ids = scan.outbox_ids()
        known = set(ids)
        assert ids == reference.tickets_up_to(k)
        if k in down:
            assert_ok(result, 1)
            assert "error: slack: HTTP 503" in result.stdout, result.output
            assert delivered_ids(chat, "slack", known) == []
        else:
            assert_ok(result)
            assert delivered_ids(chat, "slack", known) == ids
        # Telegram and the console never wait for Slack.
        assert delivered_ids(chat, "telegram", known) == ids
        assert {i for i, c in scan.deliveries().items() if "console" in c} == known
    assert len(ids) == 5
    slack = chat.requests("slack")
    assert [r.status for r in slack] == [503, 503, 503, *[200] * len(ids)]
    assert [(c, e.split(" ")[1]) for _, c, e in failures(scan)] == [("slack", "HTTP")] * 3
    assert scan.deliveries() == {i: set(CHANNELS) for i in ids}


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_telegram_429_is_waited_out_and_a_parse_error_is_retried_next_run(
    fake_binance: FakeBinance,
    fake_chat: FakeChat,
    tmp_path: Path,
    isolated: None,
    reference: Reference,
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat, retry_budget_s=2.0)
    chat = fake_chat
    assert_ok(scan.run(0))

    # 429 with retry_after 1 s, within the 2 s budget: waited out, delivered once.
    chat.add_fault("telegram", "429", retry_after=1)
    waited = scan.run(1)
    assert_ok(waited)
    (ticket,) = reference.tickets_at(1)
    first, second = chat.requests("telegram")
    assert (first.status, second.status) == (429, 200)
    assert first.payload == second.payload
    # The retry waited what the service asked. The sleep itself is asserted in tests/notify
    # through an injected sleep: a stopwatch here would measure the machine's load.
    assert "retry 1 in 1.0 s" in waited.output, waited.output
    assert delivered_ids(chat, "telegram", {ticket}) == [ticket]

    # 400 "can't parse entities": reported, exit 1, the ticket stays pending for Telegram only.
    assert_ok(scan.run(2))
    chat.add_fault("telegram", "400_parse")
    result = scan.run(3)
    assert_ok(result, 1)
    assert "error: telegram: HTTP 400 Bad Request: can't parse entities" in result.stdout
    (parse_failed,) = reference.tickets_at(3)
    assert scan.deliveries()[parse_failed] == {"console", "slack"}
    assert failures(scan)[-1][:2] == (parse_failed, "telegram")
    # ... and goes out first in the next run, before that run's own ticket.
    assert_ok(scan.run(4))
    ids = scan.outbox_ids()
    assert ids == reference.tickets_up_to(4)
    assert delivered_ids(chat, "telegram", set(ids)) == ids
    assert delivered_ids(chat, "slack", set(ids)) == ids

    # A 429 asking for longer than the budget: not waited, both of the run's tickets pending.
    assert_ok(scan.run(5))
    chat.add_fault("telegram", "429", retry_after=30)
    sent = len(chat.requests("telegram"))
    result = scan.run(6)
    assert_ok(result, 1)
    # Given up at once: the 429 was not retried, and the run's other ticket was not tried.
    assert [r.status for r in chat.requests("telegram")[sent:]] == [429]
    # What is left of the budget is 2 s minus the time the 429 took to arrive: only its
    # bounds are certain.
    refused = re.search(
        r"asked to wait 30 s, more than the ([-+.e0-9]+) s left of the 2 s retry budget",
        result.stdout,
    )
    assert refused is not None, result.stdout
    assert 0.0 <= float(refused[1]) <= 2.0, refused[0]
    assert [c for t, c in scan.deliveries().items() if t in reference.tickets_at(6)] == [
        {"console", "slack"}
    ] * 2
    assert_ok(scan.run(7))
    ids = scan.outbox_ids()
    assert ids == reference.tickets_up_to(7)
    for channel in ("slack", "telegram"):
        assert delivered_ids(chat, channel, set(ids)) == ids, channel


# ---- 4. the exchange failing for one symbol ---------------------------------------------------


def cached_last(scan: Scan, symbol: str) -> int:
    from pairscan.cache import open_store

    with open_store("parquet", scan.data / "cache") as store:
        last = store.last_timestamp(EXCHANGE, symbol, "1h")
    assert last is not None
    return last


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_exchange_5xx_for_one_symbol_fails_it_alone_and_the_next_run_recovers(
    scan: Scan, reference: Reference
) -> None:
    failing = "SOL/USDT:USDT"
    for k in range(6):
        assert_ok(scan.run(k))
    # Every klines request for SOL fails during run 6 (retries included).
    scan.fake.state.add_fault(FAPI_KLINES, Fault.server_error(), times=100, symbol=failing)
    result = scan.run(6)
    scan.fake.state.clear_faults()
    assert_ok(result, 1)
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stdout
    assert f"{failing}: {EXCHANGE} fetch_ohlcv {failing} failed after 3 attempts" in errors[0]
    assert "Traceback" not in result.output
    for symbol in PERPS:
        assert cached_last(scan, symbol) == (bar(5) if symbol == failing else bar(6)), symbol
    # The bar was decided; pairs without the failed symbol made their tickets.
    assert scan.last_bar() == bar(6)
    want = [
        t["id"]
        for t in reference.outbox
        if t["bar_ms"] == bar(6) and failing not in (t["y_symbol"], t["x_symbol"])
    ]
    assert len(want) == 2
    got = [t["id"] for t in scan.outbox() if t["bar_ms"] == bar(6)]
    assert [i for i in got if i in want] == want
    ids = scan.outbox_ids()
    for channel in ("slack", "telegram"):
        assert delivered_ids(scan.chat, channel, set(ids)) == ids

    # The next run fetches the missed bar too and is whole again.
    assert_ok(scan.run(7))
    assert all(cached_last(scan, s) == bar(7) for s in PERPS)
    assert scan.outbox_ids() == reference.tickets_up_to(7)


# ---- 8. --dry-run -----------------------------------------------------------------------------


def files_of(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> SHA-256 of its bytes)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_dry_run_prints_the_tickets_and_writes_and_sends_nothing(
    scan: Scan, reference: Reference
) -> None:
    # On a fresh data directory: the first run's history is fetched, but kept nowhere.
    (first,) = reference.tickets_at(1)
    fresh = scan.run(1, "--dry-run")
    assert_ok(fresh)
    assert fresh.stdout.startswith("scan --dry-run (nothing written or sent)"), fresh.stdout
    assert first in fresh.stdout
    assert not scan.data.exists()
    assert scan.chat.received == []

    for k in range(3):
        assert_ok(scan.run(k))
    before, sent = files_of(scan.data), len(scan.chat.received)
    assert f"state/{EXCHANGE}.sqlite" in before
    assert f"tickets/{EXCHANGE}/tickets.jsonl" in before
    (third,) = reference.tickets_at(3)
    dry = scan.run(3, "--dry-run", "--json")
    assert_ok(dry)
    report = json.loads(dry.stdout)
    assert (report["status"], report["bar_ms"]) == ("dry_run", bar(3))
    assert [t["id"] for t in report["tickets"]] == [third]
    # Not a byte changed: cache, state and outbox, export, run log; nothing sent.
    assert files_of(scan.data) == before
    assert len(scan.chat.received) == sent
    assert scan.outbox_ids() == reference.tickets_up_to(2)

    # The real run then makes the ticket the dry run printed.
    assert_ok(scan.run(3))
    assert scan.outbox_ids() == reference.tickets_up_to(3)


# ---- 6. two overlapping runs ------------------------------------------------------------------


def wait_until(
    check: Callable[[], bool], child: Child | None, what: str, timeout_s: float = 30
) -> None:
    """Poll `check` until true; fail if `child` ends first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if child is not None and child.proc.poll() is not None:
            pytest.fail(f"run ended (exit {child.proc.returncode}) before {what}\n{child.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout_s} s: {what}")
        time.sleep(0.002)


@pytest.mark.slow  # the shared 35-hour replay (`reference`) and more scans
def test_a_second_run_while_one_holds_the_lock_exits_3_naming_it_and_writes_nothing(
    scan: Scan, reference: Reference
) -> None:
    fake, chat = scan.fake.state, scan.chat
    assert_ok(scan.run(0))
    # The holder's first request hangs for 15 s: it holds the lock and has written nothing yet
    # while the second run and a dry run (a few seconds even on a busy machine) are checked.
    fake.add_fault(None, Fault.slow(15.0))
    holder = scan.start(1, name="holder")
    try:
        wait_until(lambda: fake.pending_faults == 0, holder, "the holder's first request")
        before, requests, sent = files_of(scan.data), len(fake.requests_for()), len(chat.received)
        assert (scan.data / "state" / f"{EXCHANGE}.lock").read_text().strip() == str(
            holder.proc.pid
        )

        second = scan.run(1)
        assert_ok(second, 3)
        lock = scan.data / "state" / f"{EXCHANGE}.lock"
        assert second.stderr == (
            f"error: another pairs scan (pid {holder.proc.pid}) is running on this data "
            f"directory (lock {lock}); this run did nothing\n"
        )
        assert second.stdout == ""
        assert len(fake.requests_for()) == requests  # not even the exchange was asked
        assert files_of(scan.data) == before
        assert len(chat.received) == sent

        # A dry run takes no lock: it does not stand in the hourly run's way, nor wait for it.
        dry = scan.run(1, "--dry-run")
        assert_ok(dry)
        assert reference.tickets_at(1)[0] in dry.stdout
        assert files_of(scan.data) == before

        assert holder.wait() == 0, holder.output()
    finally:
        holder.reap()
    ids = scan.outbox_ids()
    assert ids == reference.tickets_up_to(1)
    for channel in ("slack", "telegram"):
        assert delivered_ids(chat, channel, set(ids)) == ids
    runs = [
        json.loads(x)
        for x in (scan.data / "state" / f"{EXCHANGE}-runs.jsonl").read_text().splitlines()
    ]
    assert [r["bar_ms"] for r in runs] == [bar(0), bar(1)]


# ---- 5. kill -9 mid-run, then rerun -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kill:
    """Kill run k `delay_s` after the exchange saw its first request (None: `mid_send`, kill
    while Slack is receiving the run's ticket, after the console had it)."""

    k: int
    delay_s: float | None


def state_after(scan: Scan) -> dict[str, Any]:
    result = scan.cli("state", "show", "--json")
    assert_ok(result)
    state = json.loads(result.stdout)
    return {key: state[key] for key in ("last_bar_ms", "pairs_tracked", "open_positions")}


@pytest.mark.slow  # ~20 s: eight `pairs scan` processes
def test_sigkill_mid_run_then_rerun_loses_and_duplicates_no_ticket(
    scan: Scan, reference: Reference
) -> None:
    fake, chat = scan.fake.state, scan.chat
    rng = random.Random(20260413)
    # Every exchange answer takes 20 ms longer, so a run's phases are spread over ~0.5 s (the
    # history fetch of run 0 over ~1 s) and random kills land in different ones.
    fake.add_fault(None, Fault.slow(0.02), times=100_000)
    kills = [
        Kill(0, 0.2),  # in the history fetch
        *(Kill(k, rng.uniform(0.0, 1.2)) for k in (1, 2, 3)),
        Kill(4, None),  # between Slack's answer and mark_delivered
        *(Kill(k, rng.uniform(0.0, 1.2)) for k in (5, 6)),
    ]
    landed: list[str] = []
    mid_send_ticket = None
    for index, kill in enumerate(kills):
        k = kill.k
        if kill.delay_s is None:
            chat.add_fault("slack", "slow", sleep_s=1.0)
        child = scan.start(k, name=f"killed-{index}")
        try:
            started = functools.partial(lambda n: len(fake.requests_for()) > n, child.first_request)
            wait_until(started, child, "a request")
            if kill.delay_s is not None:
                time.sleep(kill.delay_s)
            else:
                (mid_send_ticket,) = reference.tickets_at(k)
                wait_until(
                    functools.partial(
                        lambda i: "console" in scan.deliveries().get(i, set()), mid_send_ticket
                    ),
                    child,
                    "the console delivery",
                )
                time.sleep(0.3)
            ended = child.proc.poll() is not None
            child.proc.send_signal(signal.SIGKILL)
            child.proc.wait(timeout=10)
        finally:
            child.reap()
        if kill.delay_s is None:
            # Slack's (delayed) answer is logged as delivered; the scan never marked it.
            wait_until(
                lambda: any(r.fault == "slack_slow" for r in chat.requests("slack")),
                None,
                "Slack's delayed answer",
            )
        if scan.db.exists():
            scan.integrity()
        last = scan.last_bar()
        previous = None if k == 0 else bar(k - 1)
        assert last in (previous, bar(k)), (kill, last)
        landed.append("ended" if ended else "after commit" if last == bar(k) else "before commit")
        # No ticket lost, none made twice: the outbox is the reference's up to the state's bar.
        ids = scan.outbox_ids()
        assert ids == (
            [] if last is None else [t["id"] for t in reference.outbox if t["bar_ms"] <= last]
        )
        assert set(scan.deliveries()) <= set(ids)

        rerun = scan.run(k)
        assert_ok(rerun)
        assert scan.outbox_ids() == reference.tickets_up_to(k)

    print("kills landed:", list(zip(kills, landed, strict=True)))
    assert (landed[0], landed[4]) == ("before commit", "after commit"), landed
    assert "before commit" in landed[1:], landed
    ids = scan.outbox_ids()
    assert ids == reference.tickets_up_to(6)
    assert len(ids) == 5
    assert scan.deliveries() == {i: set(CHANNELS) for i in ids}
    assert state_after(scan) == {
        key: reference.states[6][key] for key in ("last_bar_ms", "pairs_tracked", "open_positions")
    }
    export = scan.data / "tickets" / EXCHANGE / "tickets.jsonl"
    assert [json.loads(x)["id"] for x in export.read_text().splitlines()] == ids
    # Each chat got every ticket, first deliveries in outbox order. A kill between a send and
    # its mark_delivered sends that ticket once more on the rerun: at-least-once delivery.
    duplicates = {}
    for channel in ("slack", "telegram"):
        got = delivered_ids(chat, channel, set(ids))
        assert list(dict.fromkeys(got)) == ids, channel
        counts = Counter(got)
        assert max(counts.values()) <= 2, (channel, counts)
        duplicates[channel] = sorted(i for i, n in counts.items() if n == 2)
    print("resent after a kill:", duplicates)
    assert mid_send_ticket in duplicates["slack"]
    assert sum(len(v) for v in duplicates.values()) <= len(kills)


# ---- 7. secrets -------------------------------------------------------------------------------

SECRET_TOKEN = "777000111:SECRET-e2e-Telegram-token-Qx9"
SECRET_CHAT_ID = "-1007770001112"
SECRET_HOOK = "/services/TSECRET01/BSECRET02/e2eSecretWebhookKey99"
WRONG_TOKEN = "777000111:SECRET-e2e-WRONG-token-Zz1"
WRONG_HOOK = "/services/TSECRET01/BSECRET02/e2eSecretWRONGKey77"
# Pieces that give a secret away even when a message shows only part of one.
TELLTALES = ("SECRET", "777000111", "Qx9", "Zz1", "7770001112", "e2eSecret", "TSECRET01")


def assert_no_secret(text: str, where: str) -> None:
    for piece in TELLTALES:
        leaks = [line for line in text.splitlines() if piece in line]
        assert not leaks, f"{piece!r} leaked in {where}:\n" + "\n".join(leaks)


def test_secrets_appear_in_no_output_log_or_file_whatever_fails(
    fake_binance: FakeBinance, tmp_path: Path, isolated: None
) -> None:
    with start_fake_chat(
        token=SECRET_TOKEN, chat_id=SECRET_CHAT_ID, webhook_path=SECRET_HOOK
    ) as chat:
        scan = make_scan(tmp_path / "run", fake_binance, chat, retry_budget_s=1.0)
        good = dict(scan.env)
        wrong = {
            **good,
            "TELEGRAM_BOT_TOKEN": WRONG_TOKEN,
            "SLACK_WEBHOOK_URL": chat.base_url + WRONG_HOOK,
        }
        echo = f"echo {SECRET_TOKEN} {SECRET_CHAT_ID} {chat.webhook_url}"
        verbose = ("-vv", "--log-json")
        results: list[Result] = []

        def run(k: int, env: dict[str, str], code: int, *expected: str) -> None:
            scan.env = env
            result = scan.run(k, global_args=verbose)
            results.append(result)
            assert_ok(result, code)
            for line in expected:
                assert line in result.stdout, result.output

        run(0, good, 0)
        # A revoked token and a deleted webhook: 401 and 404.
        run(
            1,
            wrong,
            1,
            "error: telegram: HTTP 401 Unauthorized",
            "error: slack: HTTP 404 no_service",
        )
        # Connection refused (retried once within the budget, logged at every level).
        chat.stop()
        refused = "connection failed ([Errno 111] Connection refused)"
        run(2, good, 1, f"error: telegram: {refused}", f"error: slack: {refused}")
        chat.start()
        # Services answering with bodies that quote every secret.
        body = {"ok": False, "error_code": 400, "description": f"Bad Request: {echo}"}
        chat.add_fault(
            "telegram", ChatFault(400, json.dumps(body).encode(), content_type="application/json")
        )
        chat.add_fault("slack", ChatFault(500, f"rollup_error {echo}".encode()))
        run(
            3,
            good,
            1,
            "error: telegram: HTTP 400 Bad Request: echo ***",
            "error: slack: HTTP 500 rollup_error echo ***",
        )
        run(4, good, 0)

        ids = scan.outbox_ids()
        assert len(ids) == len(set(ids)) == 3
        for channel in ("slack", "telegram"):
            assert delivered_ids(chat, channel, set(ids)) == ids
        status = scan.cli("-vv", "scan", "--status")
        results.append(status)

    for k, result in enumerate(results):
        assert "Traceback" not in result.output
        assert_no_secret(result.stdout, f"stdout of run {k}")
        assert_no_secret(result.stderr, f"stderr of run {k}")
    stderr = "".join(r.stderr for r in results)
    # -vv really logged the failures, requests' own messages (which quote the URL) included.
    assert any(" DEBUG " in x and "Connection refused" in x for x in stderr.splitlines())
    log = scan.data / "logs" / "pairs.jsonl"
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert any("Connection refused" in x["message"] for x in lines)
    assert_no_secret(log.read_text(encoding="utf-8"), "pairs.jsonl")
    # Nor in any file the runs wrote (the failures table of the state database included).
    for path in sorted(scan.data.rglob("*")):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode("latin-1"), str(path))
