"""`load_config` on real YAML and `.env` files in a temp folder: defaults, one-line errors,
CLI overrides, path resolution and secrets."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from pairscan.config import CacheConfig, Config, describe_keys, load_config
from pairscan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SECTIONS = [
    f.name for f in dataclasses.fields(Config) if f.name not in {"data_dir", "source", "secrets"}
]
SECRET_VARS = (
    "EXCHANGE_API_KEY",
    "EXCHANGE_API_SECRET",
    "SLACK_WEBHOOK_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
)


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- defaults --------------------------------------------------------------------------------


def test_defaults_when_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    defaults = Config()
    for section in SECTIONS:
        assert getattr(config, section) == getattr(defaults, section), section
    assert config.data_dir == tmp_path.resolve() / "data"  # relative to the working directory
    assert config.source == "defaults"
    assert config.secret_values() == ()


def test_config_yaml_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "config.yaml", "cache:\n  backend: sqlite\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.cache.backend == "sqlite"
    assert config.source == str(tmp_path / "config.yaml")


def test_the_repositorys_config_yaml_documents_the_defaults() -> None:
    config = load_config(REPO / "config.yaml", env={})
    defaults = Config()
    for section in SECTIONS:
        assert getattr(config, section) == getattr(defaults, section), section
    assert config.data_dir == (REPO / "data").resolve()


def _leaf_keys(doc: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in doc.items():
        # `ccxt_config` is a free-form mapping, and `stats: {}` etc. are sections with no keys.
        if isinstance(value, dict) and key != "ccxt_config":
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_describe_keys_matches_config_yaml_and_every_key_is_in_the_readme() -> None:
    described = [key for key, _, _ in describe_keys()]
    assert len(described) == len(set(described))
    documented = _leaf_keys(yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8")))
    assert set(described) == documented
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [key for key in described if f"`{key}`" not in readme]
    assert missing == [], f"README.md's configuration table lacks {missing}"
    assert all(help_text for _, _, help_text in describe_keys())


def test_every_described_key_accepts_its_config_yaml_value_as_an_override() -> None:
    doc = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    overrides: dict[str, Any] = {}
    for key, _, _ in describe_keys():
        value: Any = doc
        for part in key.split("."):
            value = value[part]
        overrides[key] = value
    config = load_config(None, env={}, overrides=overrides)
    for section in SECTIONS:
        assert getattr(config, section) == getattr(Config(), section), section


def test_full_config_file_is_read(tmp_path: Path) -> None:
    text = """
data_dir: /srv/pairscan
exchange:
  id: binanceusdm
  ccxt_config: {timeout: 20000, options: {defaultType: swap}}
  max_retries: 0
  retry_base_delay_s: 2
  retry_max_delay_s: 60.5
  candle_limit: 1500
universe:
  symbols: [BTC/USDT:USDT, ETH/USDT:USDT]
  top_n: 5
  quote: USDC
  market_type: swap
  exclude: ["DOGE/USDT:USDT"]
  stablecoins: [USDT, USDC]
cache:
  backend: sqlite
  timeframe: 4h
  history_days: 30
  refetch_bars: 0
  max_ffill_bars: 0
  funding: false
  adv_days: 7
  vwap_bars: 12
  spread_window_bars: 48
  spread_estimator: corwin_schultz
  stale_after_bars: 3
stats: {}
signals:
sizing: {}
"""
    config = load_config(write(tmp_path / "full.yaml", text), env={})
    assert config.data_dir == Path("/srv/pairscan")
    ex = config.exchange
    assert ex.id == "binanceusdm"
    assert ex.ccxt_config == {"timeout": 20000, "options": {"defaultType": "swap"}}
    assert (ex.max_retries, ex.candle_limit) == (0, 1500)
    assert isinstance(ex.retry_base_delay_s, float)
    assert (ex.retry_base_delay_s, ex.retry_max_delay_s) == (2.0, 60.5)
    uni = config.universe
    assert uni.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert uni.exclude == ("DOGE/USDT:USDT",)
    assert uni.stablecoins == ("USDT", "USDC")  # a comma-separated string is a list too
    assert (uni.top_n, uni.quote, uni.market_type) == (5, "USDC", "swap")
    assert config.cache == CacheConfig(
        backend="sqlite",
        timeframe="4h",
        history_days=30,
        refetch_bars=0,
        max_ffill_bars=0,
        funding=False,
        adv_days=7,
        vwap_bars=12,
        spread_window_bars=48,
        spread_estimator="corwin_schultz",
        stale_after_bars=3,
    )
    assert config.source == str(tmp_path / "full.yaml")


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "config.yaml", "# nothing set\n"), env={})
    assert config.cache == Config().cache


# ---- bad files: one line naming the key, the bad value and what is allowed --------------------

BAD = [
    pytest.param(
        "cache:\n  backend: parket\n",
        'config.yaml: cache.backend must be one of parquet, sqlite (got "parket")',
        id="choice",
    ),
    pytest.param(
        "cach: {}\n",
        "config.yaml: cach is not a known key (allowed: backtest, cache, data_dir, exchange, "
        "notify, signals, sizing, stats, universe)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "cache:\n  backnd: sqlite\n",
        "config.yaml: cache.backnd is not a known key (allowed: adv_days, backend, funding, "
        "history_days, max_ffill_bars, refetch_bars, spread_estimator, spread_window_bars, "
        "stale_after_bars, timeframe, vwap_bars)",
        id="unknown-nested-key",
    ),
    pytest.param(
        "cache:\n  history_days: '30'\n",
        'config.yaml: cache.history_days must be an integer (got "30")',
        id="string-for-int",
    ),
    pytest.param(
        "cache:\n  history_days: true\n",
        "config.yaml: cache.history_days must be an integer (got true)",
        id="bool-for-int",
    ),
    pytest.param(
        "cache:\n  history_days: 1.5\n",
        "config.yaml: cache.history_days must be an integer (got 1.5)",
        id="float-for-int",
    ),
    pytest.param(
        "cache:\n  history_days: null\n",
        "config.yaml: cache.history_days must be an integer (got null)",
        id="null-for-int",
    ),
    pytest.param(
        "exchange: [binance]\n",
        "config.yaml: exchange must be a mapping (got ['binance'])",
        id="list-for-section",
    ),
    pytest.param(
        "exchange: binance\n",
        'config.yaml: exchange must be a mapping (got "binance")',
        id="string-for-section",
    ),
    pytest.param(
        "exchange:\n  ccxt_config: [timeout]\n",
        "config.yaml: exchange.ccxt_config must be a mapping (got ['timeout'])",
        id="list-for-mapping",
    ),
    pytest.param(
        "exchange:\n  max_retries: 99\n",
        "config.yaml: exchange.max_retries must be between 0 and 20 (got 99)",
        id="range-int",
    ),
    pytest.param(
        "exchange:\n  retry_base_delay_s: -1\n",
        "config.yaml: exchange.retry_base_delay_s must be between 0.0 and 60.0 (got -1)",
        id="range-float",
    ),
    pytest.param(
        "exchange:\n  retry_max_delay_s: .nan\n",
        "config.yaml: exchange.retry_max_delay_s must be a number (got nan)",
        id="nan-float",
    ),
    pytest.param(
        "exchange:\n  candle_limit: 0\n",
        "config.yaml: exchange.candle_limit must be between 1 and 5000 (got 0)",
        id="range-optional-int",
    ),
    pytest.param(
        "exchange:\n  id: ''\n",
        'config.yaml: exchange.id must be a non-empty string (got "")',
        id="empty-string",
    ),
    pytest.param(
        "notify: {window: 3}\n",
        "config.yaml: notify.window is not a known key (allowed: channels, digest_hour_utc, "
        "retry_budget_s, telegram, timeout_s)",
        id="key-in-empty-section",
    ),
    pytest.param(
        "cache:\n  timeframe: 1hour\n",
        "config.yaml: cache.timeframe must be a ccxt timeframe such as 1m, 5m, 1h, 4h, 1d "
        '(got "1hour")',
        id="timeframe-pattern",
    ),
    pytest.param(
        "cache:\n  timeframe: 0h\n",
        "config.yaml: cache.timeframe must be a ccxt timeframe such as 1m, 5m, 1h, 4h, 1d "
        '(got "0h")',
        id="timeframe-zero",
    ),
    pytest.param(
        "cache:\n  funding: yes please\n",
        'config.yaml: cache.funding must be true or false (got "yes please")',
        id="string-for-bool",
    ),
    pytest.param(
        "universe:\n  symbols: [1, 2]\n",
        "config.yaml: universe.symbols must be a list of strings (YAML: [A, B], or one item "
        "per line with '- ') (got [1, 2])",
        id="list-of-ints",
    ),
    pytest.param(
        "universe:\n  symbols: BTC/USDT:USDT\n",
        "config.yaml: universe.symbols must be a list of strings (YAML: [A, B], or one item "
        "per line with '- ') (got \"BTC/USDT:USDT\")",
        id="scalar-for-a-list",
    ),
    pytest.param(
        "exchange:\n  ccxt_config: {timeout: abc}\n",
        "config.yaml: exchange.ccxt_config.timeout must be a number of milliseconds > 0 "
        '(got "abc")',
        id="ccxt-timeout-not-a-number",
    ),
    pytest.param(
        "exchange:\n  ccxt_config: {enableRateLimit: 'no'}\n",
        'config.yaml: exchange.ccxt_config.enableRateLimit must be true or false (got "no")',
        id="ccxt-flag-not-a-bool",
    ),
    pytest.param(
        "universe:\n  market_type: futures\n",
        'config.yaml: universe.market_type must be one of auto, spot, swap (got "futures")',
        id="market-type",
    ),
    pytest.param(
        "data_dir: 5\n",
        "config.yaml: data_dir must be a path (got 5)",
        id="int-for-path",
    ),
    pytest.param(
        "- cache\n- exchange\n",
        "config.yaml: must be a mapping of sections (got list)",
        id="non-mapping-yaml",
    ),
    pytest.param(
        "42\n",
        "config.yaml: must be a mapping of sections (got int)",
        id="scalar-yaml",
    ),
    pytest.param(
        "cache:\n  backend: parquet\n bad: [\n",
        "config.yaml: line 3 is not valid YAML (expected <block end>, but found "
        "'<block mapping start>')",
        id="invalid-yaml",
    ),
    pytest.param(
        "cache: {backend: parquet\n",
        "config.yaml: line 2 is not valid YAML (expected ',' or '}', but got '<stream end>')",
        id="unclosed-flow-mapping",
    ),
    pytest.param(
        "cache:\n\tbackend: parquet\n",
        "config.yaml: line 2 is not valid YAML (found character '\\t' that cannot start any token)",
        id="tab-indent",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_config_is_one_line_naming_key_value_and_allowed(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_message_names_the_file_given(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "cache:\n  backend: parket\n")
    with pytest.raises(
        ConfigError,
        match=r'^bad\.yaml: cache\.backend must be one of parquet, sqlite \(got "parket"\)$',
    ):
        load_config(path, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, env={})
    assert str(info.value) == f"{missing}: config file not found (pass --config PATH)"
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path, env={})  # a folder is not a config file


# ---- overrides (CLI options) ------------------------------------------------------------------


def test_overrides_win_over_the_file_and_keep_sibling_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", "cache:\n  backend: parquet\n  timeframe: 4h\n")
    config = load_config(path, env={}, overrides={"cache.backend": "sqlite", "exchange.id": "demo"})
    assert config.cache.backend == "sqlite"
    assert config.cache.timeframe == "4h"
    assert config.exchange.id == "demo"
    assert config.exchange.max_retries == 5


BAD_OVERRIDES = [
    pytest.param(
        {"cache.backend": "parket"},
        'config: cache.backend must be one of parquet, sqlite (got "parket")',
        id="choice",
    ),
    pytest.param(
        {"cache.backnd": "sqlite"},
        "config: cache.backnd is not a known key (allowed: adv_days, backend, funding, "
        "history_days, max_ffill_bars, refetch_bars, spread_estimator, spread_window_bars, "
        "stale_after_bars, timeframe, vwap_bars)",
        id="unknown-nested-key",
    ),
    pytest.param(
        {"nope.key": 1},
        "config: nope is not a known key (allowed: backtest, cache, data_dir, exchange, "
        "notify, signals, sizing, stats, universe)",
        id="unknown-section",
    ),
    pytest.param(
        {"exchange.max_retries": "3"},
        'config: exchange.max_retries must be an integer (got "3")',
        id="string-for-int",
    ),
    pytest.param(
        {"cache.timeframe": "1hour"},
        'config: cache.timeframe must be a ccxt timeframe such as 1m, 5m, 1h, 4h, 1d (got "1hour")',
        id="timeframe",
    ),
    pytest.param(
        {"notify.window": 3},
        "config: notify.window is not a known key (allowed: channels, digest_hour_utc, "
        "retry_budget_s, telegram, timeout_s)",
        id="key-in-empty-section",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_OVERRIDES)
def test_overrides_are_validated_like_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, Any],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml: the label is "config"
    with pytest.raises(ConfigError) as info:
        load_config(None, env={}, overrides=overrides)
    assert str(info.value) == message


def test_override_into_a_non_mapping_section_reports_the_file(tmp_path: Path) -> None:
    # `exchange: binance` is a common slip for `exchange: {id: binance}`; `--exchange demo`
    # used to crash on it with a ValueError traceback instead of naming the key.
    path = write(tmp_path / "config.yaml", "exchange: binance\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, overrides={"exchange.id": "demo"})
    assert str(info.value) == 'config.yaml: exchange must be a mapping (got "binance")'


# ---- paths ------------------------------------------------------------------------------------


def test_relative_data_dir_is_resolved_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "etc" / "pairscan.yaml", "data_dir: ../var/pairscan\n")
    elsewhere = tmp_path / "cron-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, env={})
    assert config.data_dir == (tmp_path / "var" / "pairscan").resolve()
    assert config.data_dir.is_absolute()


def test_absolute_and_home_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = tmp_path / "abs" / "data"
    path = write(tmp_path / "a.yaml", f"data_dir: {absolute}\n")
    assert load_config(path, env={}).data_dir == absolute.resolve()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path / "b.yaml", "data_dir: ~/pairscan\n")
    assert load_config(path, env={}).data_dir == (tmp_path / "home" / "pairscan").resolve()


def test_data_dir_override_is_resolved_against_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "conf" / "config.yaml", "data_dir: ignored\n")
    config = load_config(path, env={}, overrides={"data_dir": "cache-root"})
    assert config.data_dir == (tmp_path / "conf" / "cache-root").resolve()


# ---- secrets ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_secret_env")
def test_secrets_from_dotenv_beside_the_config_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "conf" / "config.yaml", "cache: {backend: parquet}\n")
    write(
        tmp_path / "conf" / ".env",
        "EXCHANGE_API_KEY=key-from-dotenv\n"
        "SLACK_WEBHOOK_URL=https://hooks.slack.example/T000/B000/XXXX\n"
        "TELEGRAM_CHAT_ID=chat-from-config-dotenv\n",
    )
    cwd = tmp_path / "cwd"
    write(
        cwd / ".env",
        "TELEGRAM_CHAT_ID=chat-from-cwd-dotenv\nTELEGRAM_BOT_TOKEN=token-from-cwd-dotenv\n",
    )
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("EXCHANGE_API_KEY", "key-from-environment")
    secrets = load_config(path).secrets
    assert secrets.exchange_api_key == "key-from-environment"  # the environment wins
    assert secrets.slack_webhook_url == "https://hooks.slack.example/T000/B000/XXXX"
    assert secrets.telegram_chat_id == "chat-from-config-dotenv"  # beside the config wins
    assert secrets.telegram_bot_token == "token-from-cwd-dotenv"
    assert secrets.exchange_api_secret is None


@pytest.mark.usefixtures("no_secret_env")
def test_explicit_env_mapping_ignores_dotenv_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "config.yaml", "")
    write(tmp_path / ".env", "EXCHANGE_API_KEY=from-dotenv\n")
    monkeypatch.setenv("EXCHANGE_API_SECRET", "from-environment")
    secrets = load_config(path, env={"TELEGRAM_BOT_TOKEN": "given"}).secrets
    assert secrets.exchange_api_key is None
    assert secrets.exchange_api_secret is None
    assert secrets.telegram_bot_token == "given"
    assert load_config(path, env={"EXCHANGE_API_KEY": ""}).secrets.exchange_api_key is None


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.yaml",
        "exchange:\n  ccxt_config: {apiKey: ccxt-key-0123456789, secret: ccxt-secret-abcdef}\n",
    )
    env = {name: f"value-of-{name.lower()}-42" for name in SECRET_VARS}
    config = load_config(path, env=env)
    shown = repr(config) + str(config) + repr(config.exchange) + repr(config.secrets)
    for value in (*env.values(), "ccxt-key-0123456789", "ccxt-secret-abcdef"):
        assert value not in shown
        assert value in config.secret_values()  # but redaction knows all of them
    assert config.secrets.exchange_api_key == "value-of-exchange_api_key-42"


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.cache.backend = "sqlite"  # type: ignore[misc]


def test_related_keys_are_checked_together(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("stats:\n  half_life_min_bars: 400\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        "config.yaml: stats.half_life_min_bars must not exceed stats.half_life_max_bars "
        "(got 400 > 336)"
    )


@pytest.mark.parametrize(
    ("signals", "got"),
    [
        ("entry_z: 5", "stop_z 4, entry_z 5, exit_z 0.5"),
        ("exit_z: 2", "stop_z 4, entry_z 2, exit_z 2"),
        ("{stop_z: 2, entry_z: 2}", "stop_z 2, entry_z 2, exit_z 0.5"),
    ],
)
def test_signal_thresholds_must_be_ordered(tmp_path: Path, signals: str, got: str) -> None:
    path = tmp_path / "config.yaml"
    body = f"signals: {signals}\n" if signals.startswith("{") else f"signals:\n  {signals}\n"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        f"config.yaml: signals needs stop_z > entry_z > exit_z >= 0 (got {got}); e.g. 4, 2, 0.5"
    )
