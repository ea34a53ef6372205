"""Secrets from the environment or `.env` never reach stdout, stderr or an error message.

`pairs -vv cache update` runs against the local Binance-protocol server while it answers with
error bodies that echo every secret (retried 5xx, permanent 4xx, garbage 200s, a failing
exchangeInfo), and with bad configs; the failures must still be reported (exit code, exchange,
endpoint, symbol) with the secrets masked. Mostly subprocesses, as cron runs them; one case
in-process with CliRunner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pairscan.cli import pairs
from pairscan.market import parse_utc
from tests.fakes.binance import FakeBinance, Fault

KLINES = "/api/v3/klines"
FUNDING = "/fapi/v1/fundingRate"
EXCHANGE_INFO = "/api/v3/exchangeInfo"
NOW = parse_utc("2026-05-16")  # the end of the recording
SECRETS = {
    "EXCHANGE_API_KEY": "KEY-1234567890abcdef",
    "EXCHANGE_API_SECRET": "SECRET-9f8e7d6c5b4a3210",
    "TELEGRAM_BOT_TOKEN": "123456:ABC-secret-token",
    "TELEGRAM_CHAT_ID": "-1009876543210",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T000/B000/XXXXSECRET",
}
# Pieces that give a secret away even when a message shows only part of it (a cut-off body).
TELLTALES = (
    "KEY-1234",
    "1234567890ab",
    "SECRET-9f8e",
    "9f8e7d6c5b",
    "ABC-secret",
    "secret-token",
    "9876543210",
    "XXXXSECRET",
    "services/T000",
)
ECHO = "upstream echo: " + " ".join(SECRETS.values())
REDACTED = "***"
MAX_RETRIES = 2
ATTEMPTS = MAX_RETRIES + 1


def assert_no_secret(text: str) -> None:
    for piece in (*SECRETS.values(), *TELLTALES):
        leaks = [line for line in text.splitlines() if piece in line]
        assert not leaks, f"{piece!r} leaked in:\n" + "\n".join(leaks)


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    fake_binance.state.now_ms = NOW
    return fake_binance


def write_config(folder: Path, doc: dict[str, Any] | str, source: str) -> Path:
    """config.yaml in `folder`, and a `.env` beside it holding the secrets when
    `source == "dotenv"`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    path.write_text(text, encoding="utf-8")
    if source == "dotenv":
        lines = [f'{name}="{value}"' for name, value in SECRETS.items()]
        (folder / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def exchange_doc(fake: FakeBinance, symbols: list[str]) -> dict[str, Any]:
    return {
        "data_dir": "data",
        "exchange": {
            "id": "binance",
            "ccxt_config": fake.ccxt_config(),
            "max_retries": MAX_RETRIES,
            "retry_base_delay_s": 0,
        },
        "universe": {"symbols": symbols},
        "cache": {"history_days": 2},
    }


def run_cli(
    tmp_path: Path, config: Path, source: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m pairscan -vv --config CONFIG ARGS` from an empty folder, with the secrets in
    the environment when `source == "environment"` (else only in the `.env` file)."""
    env = {name: value for name, value in os.environ.items() if name not in SECRETS}
    env["NO_COLOR"] = "1"
    if source == "environment":
        env.update(SECRETS)
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    # subprocess.run kills the child if the timeout expires or anything else goes wrong.
    return subprocess.run(
        [sys.executable, "-m", "pairscan", "-vv", "--config", str(config), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ---- exchange failures --------------------------------------------------------------------

FAILING = {  # symbol -> (endpoint named in the message, path, fault, retried?)
    "ETH/USDT": ("fetch_ohlcv", KLINES, Fault.http(500, {"code": -1001, "msg": ECHO}), True),
    "SOL/USDT": ("fetch_ohlcv", KLINES, Fault.http(503, ECHO), True),
    "XRP/USDT": ("fetch_ohlcv", KLINES, Fault.http(400, {"code": -1100, "msg": ECHO}), False),
    "BTC/USDT:USDT": (
        "fetch_funding_rate_history",
        FUNDING,
        Fault.http(502, {"code": -1001, "msg": ECHO}),
        True,
    ),
}
SYMBOLS = ["BTC/USDT", *FAILING]


@pytest.mark.parametrize(
    ("source", "output"),
    [("environment", "json"), ("dotenv", "table")],
)
def test_exchange_errors_echoing_secrets_are_reported_without_them(
    fake: FakeBinance, tmp_path: Path, source: str, output: str
) -> None:
    for symbol, (_, path, fault, retried) in FAILING.items():
        fake.state.add_fault(path, fault, times=ATTEMPTS if retried else 1, symbol=symbol)
    config = write_config(tmp_path / "conf", exchange_doc(fake, SYMBOLS), source)
    args = ["--now", str(NOW), "cache", "update", *(["--json"] if output == "json" else [])]

    done = run_cli(tmp_path, config, source, *args)
    assert_no_secret(done.stdout + done.stderr)
    assert done.returncode == 1, done.stderr  # some symbols updated: partial
    assert "Traceback" not in done.stderr
    assert fake.state.pending_faults == 0  # every echo was served
    for symbol, (endpoint, _, _, retried) in FAILING.items():
        what = f"binance {endpoint} {symbol}"
        failed = f"{what} failed after {ATTEMPTS} attempts: " if retried else f"{what} failed: "
        (error,) = [line for line in done.stderr.splitlines() if failed in line]
        assert " ERROR " in error
        assert REDACTED in error  # the echoed secrets reached the message, masked
        warnings = [line for line in done.stderr.splitlines() if f"{what}: " in line]
        assert len(warnings) == (MAX_RETRIES if retried else 0), done.stderr
        assert all(" WARNING " in line and REDACTED in line for line in warnings)
    if output == "json":
        summary = json.loads(done.stdout)
        assert summary["failed"] == list(FAILING)
        for row in summary["symbols"]:
            if row["symbol"] not in FAILING:
                assert row["error"] is None
                continue
            endpoint = FAILING[row["symbol"]][0]
            assert row["error"].startswith(f"binance {endpoint} {row['symbol']} failed")
            assert REDACTED in row["error"]
    else:
        assert f"{len(SYMBOLS)} symbols, {len(FAILING)} failed" in done.stdout


def test_failing_exchange_info_echoing_secrets_is_one_line_without_them(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.state.add_fault(EXCHANGE_INFO, Fault.http(503, {"code": -1001, "msg": ECHO}), times=9)
    config = write_config(tmp_path / "conf", exchange_doc(fake, SYMBOLS), "environment")

    done = run_cli(tmp_path, config, "environment", "--now", str(NOW), "cache", "update")
    assert_no_secret(done.stdout + done.stderr)
    assert done.returncode == 4, done.stderr  # nothing updated: the run failed
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: binance load_markets failed after {ATTEMPTS} attempts: ")
    assert REDACTED in errors[0]
    assert "Traceback" not in done.stderr


def test_garbage_body_cut_short_in_a_message_shows_no_part_of_a_secret(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """A 200 page that is not JSON is quoted in the error, cut short; a secret straddling the
    cut must not leave its first characters behind."""
    page = "<html><body>maintenance; contact ops, key " + SECRETS["EXCHANGE_API_KEY"]
    page += f" {ECHO}</body></html>"
    fake.state.add_fault(KLINES, Fault.http(200, page), times=ATTEMPTS, symbol="ETH/USDT")
    config = write_config(tmp_path / "conf", exchange_doc(fake, ["ETH/USDT"]), "dotenv")

    done = run_cli(tmp_path, config, "dotenv", "--now", str(NOW), "cache", "update", "--json")
    assert done.returncode == 4, done.stderr  # nothing updated: the run failed
    (row,) = json.loads(done.stdout)["symbols"]
    assert row["error"].startswith(f"binance fetch_ohlcv ETH/USDT failed after {ATTEMPTS} attempts")
    assert "200 response is not JSON" in row["error"]
    assert_no_secret(done.stdout + done.stderr)


# ---- bad configs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        pytest.param(
            "cache:\n  backend: parket\n",
            'error: config.yaml: cache.backend must be one of parquet, sqlite (got "parket")',
            id="bad-value",
        ),
        pytest.param(
            f"notify:\n  slack_webhook_url: {SECRETS['SLACK_WEBHOOK_URL']}\n",
            "error: config.yaml: notify.slack_webhook_url is not a known key",
            id="secret-under-an-unknown-key",
        ),
        pytest.param(
            f"exchange:\n  ccxt_config: {SECRETS['EXCHANGE_API_KEY']}\n",
            "error: config.yaml: exchange.ccxt_config must be a mapping (got ",
            id="secret-as-a-bad-value",
        ),
    ],
)
def test_bad_config_is_one_line_without_secrets(tmp_path: Path, text: str, starts: str) -> None:
    config = write_config(tmp_path / "conf", text, "dotenv")

    done = run_cli(tmp_path, config, "environment", "cache", "update")
    assert_no_secret(done.stdout + done.stderr)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(starts), lines[0]


# ---- in-process -------------------------------------------------------------------------------


@pytest.mark.usefixtures("restore_logging")
def test_credentials_in_ccxt_config_are_masked_too(
    fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exchange.ccxt_config` may carry ccxt credentials; an answer echoing them and the
    environment's secrets is reported with all of them masked."""
    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    credentials = {"apiKey": "CCXT-KEY-a1b2c3d4e5f6", "secret": "CCXT-SECRET-f6e5d4c3b2a1"}
    doc = exchange_doc(fake, SYMBOLS)
    doc["exchange"]["ccxt_config"] = {**fake.ccxt_config(), **credentials}
    config = write_config(tmp_path / "conf", doc, "environment")
    body = {"code": -2015, "msg": f"Invalid API-key {' '.join(credentials.values())} {ECHO}"}
    fake.state.add_fault(None, Fault.http(401, body), times=50)

    result = CliRunner().invoke(
        pairs, ["-vv", "--config", str(config), "--now", str(NOW), "cache", "update"]
    )
    output = result.stdout + result.stderr
    assert_no_secret(output)
    for value in credentials.values():
        assert value not in output
    assert result.exit_code == 4, output  # nothing updated: the run failed
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: binance load_markets failed: ")
    assert REDACTED in errors[0]
