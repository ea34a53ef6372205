"""Typed, frozen configuration: `config.yaml` + `.env` loaded and validated once.

One frozen dataclass per pipeline stage. Every key is checked here (type, range, choices,
unknown keys); a bad one raises `ConfigError` naming the key, the bad value and what is
allowed. Nothing here does I/O beyond reading the two files, and nothing imports ccxt.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values

from pairscan.errors import ConfigError

DEFAULT_CONFIG_NAME = "config.yaml"


def _meta(help_text: str, **limits: Any) -> dict[str, Any]:
    return {"help": help_text, **limits}


# The embedded recorded market (`pairscan.demo`): an exchange id like any ccxt one.
DEMO_EXCHANGE_ID = "demo"


@dataclass(frozen=True)
class ExchangeConfig:
    """Stage 1 (fetch): which exchange, and how hard to retry it."""

    id: str = field(default="binance", metadata=_meta("ccxt exchange id, or 'demo'"))
    ccxt_config: Mapping[str, Any] = field(
        default_factory=dict, metadata=_meta("extra ccxt constructor options"), repr=False
    )
    max_retries: int = field(default=5, metadata=_meta("retries per request", min=0, max=20))
    retry_base_delay_s: float = field(
        default=1.0, metadata=_meta("first backoff delay, seconds", min=0.0, max=60.0)
    )
    retry_max_delay_s: float = field(
        default=30.0, metadata=_meta("cap on one backoff delay, seconds", min=0.0, max=600.0)
    )
    candle_limit: int | None = field(
        default=None,
        metadata=_meta("candles per request; null = exchange maximum", min=1, max=5000),
    )


@dataclass(frozen=True)
class UniverseConfig:
    """Which symbols to track: an explicit list, else the top N by 24h quote volume."""

    symbols: tuple[str, ...] = field(default=(), metadata=_meta("ccxt unified symbols"))
    top_n: int = field(
        default=20, metadata=_meta("markets kept by 24h quote volume", min=1, max=2000)
    )
    quote: str = field(default="USDT", metadata=_meta("quote currency for top_n"))
    market_type: Literal["auto", "spot", "swap"] = field(
        default="auto", metadata=_meta("market type for top_n")
    )
    exclude: tuple[str, ...] = field(default=(), metadata=_meta("symbols never selected"))
    stablecoins: tuple[str, ...] = field(
        default=(
            "USDT",
            "USDC",
            "FDUSD",
            "TUSD",
            "BUSD",
            "DAI",
            "USDP",
            "USDD",
            "PYUSD",
            "USDE",
            "USD1",
            "RLUSD",
            "EURI",
            "AEUR",
            "EUR",
            "GUSD",
            "SUSD",
            "UST",
            "USTC",
        ),
        metadata=_meta("bases treated as stablecoins (stable/stable markets are skipped)"),
    )


@dataclass(frozen=True)
class CacheConfig:
    """Stage 2 (cache): where and how candles and funding rates are stored."""

    backend: Literal["parquet", "sqlite"] = field(default="parquet", metadata=_meta("store"))
    timeframe: str = field(
        default="1h",
        metadata=_meta(
            "a ccxt timeframe such as 1m, 5m, 1h, 4h, 1d", pattern=r"[1-9][0-9]*[smhdwMy]"
        ),
    )
    history_days: int = field(
        default=365, metadata=_meta("days fetched for a symbol not yet cached", min=1, max=3650)
    )
    refetch_bars: int = field(
        default=2, metadata=_meta("last cached bars fetched again (revisions)", min=0, max=100)
    )
    max_ffill_bars: int = field(
        default=3, metadata=_meta("longest gap forward-filled when aligning, bars", min=0, max=1000)
    )
    funding: bool = field(default=True, metadata=_meta("cache funding rates of perpetuals"))
    adv_days: int = field(default=30, metadata=_meta("ADV window, days", min=1, max=365))
    vwap_bars: int = field(
        default=24, metadata=_meta("rolling VWAP window, bars", min=1, max=10000)
    )
    spread_window_bars: int = field(
        default=168, metadata=_meta("spread estimator averaging window, bars", min=2, max=10000)
    )
    spread_estimator: Literal["abdi_ranaldo", "corwin_schultz"] = field(
        default="corwin_schultz", metadata=_meta("high/low bid-ask spread estimator")
    )
    stale_after_bars: int = field(
        default=2, metadata=_meta("a series older than this many bars is stale", min=1, max=10000)
    )


@dataclass(frozen=True)
class StatsConfig:
    """Stage 3 (stats): hedge ratio, z-score and pair-selection settings (bars = candles of
    `cache.timeframe`)."""

    hedge: Literal["ols", "kalman"] = field(default="ols", metadata=_meta("hedge-ratio method"))
    window_bars: int = field(
        default=720, metadata=_meta("rolling OLS window, bars", min=3, max=100_000)
    )
    z_window_bars: int = field(
        default=168, metadata=_meta("spread z-score window, bars", min=3, max=100_000)
    )
    kalman_delta: float = field(
        default=1e-7, metadata=_meta("Kalman process noise fraction", min=1e-12, max=0.5)
    )
    kalman_obs_var: float = field(
        default=1e-5, metadata=_meta("Kalman observation noise variance", min=1e-12, max=10.0)
    )
    formation_days: int = field(
        default=90, metadata=_meta("history a pair is selected on, days", min=2, max=3650)
    )
    reselect_every_hours: int = field(
        default=168, metadata=_meta("how often pairs are selected again, hours", min=1, max=8760)
    )
    min_return_corr: float = field(
        default=0.5, metadata=_meta("prefilter: correlation of bar returns", min=-1.0, max=1.0)
    )
    min_adv_quote: float = field(
        default=1e6,
        metadata=_meta("liquidity floor: ADV of both legs, quote currency", min=0.0, max=1e15),
    )
    max_qvalue: float = field(
        default=0.05, metadata=_meta("cointegration BH q-value ceiling", min=0.0, max=1.0)
    )
    coint_maxlag: int | None = field(
        default=None, metadata=_meta("ADF lags; null = 12*(n/100)^(1/4)", min=0, max=1000)
    )
    coint_autolag: Literal["aic", "bic", "none"] = field(
        default="aic", metadata=_meta("ADF lag selection")
    )
    min_hedge_ratio: float = field(
        default=0.2,
        metadata=_meta(
            "smallest hedge ratio (log-price beta) of a pair, and of its entries",
            min=1e-6,
            max=100.0,
        ),
    )
    max_hedge_ratio: float = field(
        default=5.0,
        metadata=_meta("largest hedge ratio (log-price beta) of a pair", min=1e-6, max=1000.0),
    )
    half_life_min_bars: float = field(
        default=4.0, metadata=_meta("shortest accepted half-life, bars", min=0.0, max=1e6)
    )
    half_life_max_bars: float = field(
        default=336.0, metadata=_meta("longest accepted half-life, bars", min=0.0, max=1e6)
    )
    max_hurst: float = field(
        default=0.5, metadata=_meta("Hurst exponent ceiling (0.5 = random walk)", min=0.0, max=1.0)
    )
    hurst_max_lag: int = field(
        default=20, metadata=_meta("largest lag of the Hurst estimate, bars", min=3, max=10_000)
    )
    max_pairs: int = field(
        default=50, metadata=_meta("pairs kept, best ranked first", min=1, max=100_000)
    )


@dataclass(frozen=True)
class SignalsConfig:
    """Stage 4 (signals): the per-pair state machine's thresholds, in z-score units of the
    spread, and its time rules in bars of `cache.timeframe`."""

    entry_z: float = field(
        default=2.0, metadata=_meta("open when |z| reaches this", min=0.0, max=100.0)
    )
    exit_z: float = field(
        default=0.5,
        metadata=_meta("close when z is back within this of zero", min=0.0, max=100.0),
    )
    stop_z: float = field(
        default=4.0, metadata=_meta("stop out when |z| reaches this", min=0.0, max=1000.0)
    )
    max_holding_bars: int | None = field(
        default=None, metadata=_meta("time stop, bars; null = off", min=1, max=1_000_000)
    )
    max_holding_half_lives: float | None = field(
        default=3.0,
        metadata=_meta("time stop in half-lives at entry; null = off", min=0.1, max=1000.0),
    )
    cooldown_bars: int = field(
        default=24, metadata=_meta("bars without a new entry after a stop", min=0, max=100_000)
    )
    stale_bars: int = field(
        default=3,
        metadata=_meta("close when a leg has had no new bar for this many bars", min=1, max=10_000),
    )


@dataclass(frozen=True)
class SizingConfig:
    """Stage 5 (sizing): volatility targeting and caps, as fractions of `capital_quote`."""

    capital_quote: float = field(
        default=10_000.0,
        metadata=_meta("equity the book is sized on, quote currency", min=1.0, max=1e15),
    )
    target_vol: float = field(
        default=0.10,
        metadata=_meta("annualised P&L vol per pair, fraction of capital", min=1e-4, max=10.0),
    )
    vol_window_bars: int = field(
        default=720, metadata=_meta("spread-return vol window, bars", min=10, max=100_000)
    )
    max_pair_gross: float = field(
        default=1.0, metadata=_meta("gross notional cap per pair, x capital", min=0.0, max=100.0)
    )
    max_leverage: float = field(
        default=3.0, metadata=_meta("gross notional cap of the book, x capital", min=0.0, max=100.0)
    )
    kelly_fraction: float = field(
        default=0.5,
        metadata=_meta("fraction of the Kelly bet allowed (0.5 = half-Kelly)", min=0.0, max=1.0),
    )
    min_order_quote: float = field(
        default=0.0,
        metadata=_meta("smallest leg, quote currency, besides the exchange's", min=0.0, max=1e12),
    )
    margin_leverage: float = field(
        default=1.0, metadata=_meta("account leverage margin is computed with", min=1.0, max=125.0)
    )


@dataclass(frozen=True)
class BacktestConfig:
    """Backtest costs and fills (the strategy itself is the `stats`, `signals` and `sizing`
    sections, shared with the scan)."""

    fee_bps: float | None = field(
        default=None,
        metadata=_meta(
            "taker fee per fill, bps of notional; null = the market's own taker fee",
            min=0.0,
            max=1000.0,
        ),
    )
    slippage_bps: float | None = field(
        default=2.0,
        metadata=_meta(
            "price slippage per fill, bps; null = half the estimated bid-ask spread",
            min=0.0,
            max=1000.0,
        ),
    )
    fill: Literal["next_open", "close"] = field(
        default="next_open", metadata=_meta("when a decision at a bar's close fills")
    )


@dataclass(frozen=True)
class TelegramConfig:
    """Telegram Bot API settings (the token and chat id are secrets, from the environment)."""

    api_base: str = field(
        default="https://api.telegram.org",
        metadata=_meta("Bot API base URL (a proxy or a local server)", pattern=r"https?://\S+"),
    )


@dataclass(frozen=True)
class NotifyConfig:
    """Stage 6 (tickets and notify): where tickets go and how hard to try."""

    channels: tuple[Literal["console", "slack", "telegram"], ...] = field(
        default=("console",),
        metadata=_meta("channels tickets are sent to: console, slack, telegram"),
    )
    timeout_s: float = field(
        default=10.0, metadata=_meta("HTTP timeout per request, seconds", min=0.5, max=120.0)
    )
    retry_budget_s: float = field(
        default=30.0,
        metadata=_meta(
            "most a run waits on one channel's 429/5xx retries, seconds", min=0.0, max=600.0
        ),
    )
    digest_hour_utc: int | None = field(
        default=8,
        metadata=_meta("hour (UTC) of the daily paper-book digest; null = off", min=0, max=23),
    )
    telegram: TelegramConfig = field(default_factory=TelegramConfig)


@dataclass(frozen=True)
class Secrets:
    """Values read from the environment or `.env`; never printed (repr hides them)."""

    exchange_api_key: str | None = field(default=None, repr=False)
    exchange_api_secret: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = field(default=None, repr=False)

    def values(self) -> tuple[str, ...]:
        """Every non-empty secret, for redaction of logs and error messages."""
        found = (getattr(self, f.name) for f in dataclasses.fields(self))
        return tuple(v for v in found if v)


_ENV_NAMES = {
    "exchange_api_key": "EXCHANGE_API_KEY",
    "exchange_api_secret": "EXCHANGE_API_SECRET",
    "slack_webhook_url": "SLACK_WEBHOOK_URL",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_chat_id": "TELEGRAM_CHAT_ID",
}


@dataclass(frozen=True)
class Config:
    """The whole run configuration; build it with `load_config`, never by hand in jobs."""

    data_dir: Path = field(default=Path("data"), metadata=_meta("root of all on-disk state"))
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    universe: UniverseConfig = field(default_factory=UniverseConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    source: str = field(default="defaults", compare=False)

    def secret_values(self) -> tuple[str, ...]:
        """Secrets to redact: `.env` values plus credentials inside `exchange.ccxt_config`."""
        extra = [
            str(v)
            for k, v in self.exchange.ccxt_config.items()
            if k in {"apiKey", "secret", "password", "uid", "privateKey", "token"} and v
        ]
        return (*self.secrets.values(), *extra)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str | None] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, validate and freeze the configuration.

    `path=None` reads `./config.yaml` when it exists, else uses the documented defaults.
    `env` defaults to `.env` (beside the config file, then the working directory) overlaid
    by `os.environ`. `overrides` maps dotted keys (`"exchange.id"`) to values from the CLI;
    they pass the same validation as the file. A relative `data_dir` is resolved against
    the config file's folder, so cron jobs work from any working directory.
    """
    file_path, raw = _read_yaml(path)
    label = file_path.name if file_path else "config"
    data = dict(raw)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    config: Config = _build(Config, data, label, prefix="")
    _check_relations(config, label)
    base_dir = file_path.parent if file_path else Path.cwd()
    data_dir = config.data_dir if config.data_dir.is_absolute() else base_dir / config.data_dir
    secrets = _read_secrets(env, file_path)
    return dataclasses.replace(
        config,
        data_dir=data_dir.resolve(),
        universe=_natural_universe(config),
        secrets=secrets,
        source=str(file_path) if file_path else "defaults",
    )


def _natural_universe(config: Config) -> UniverseConfig:
    """`universe.market_type: auto` on the demo market means its ten perpetuals: it records
    Binance spot and USD-M perpetuals of the same coins, and a spread needs a short leg, which
    perpetuals give without a borrow. Spot stays reachable (`--symbols BTC/USDT,...` or
    `market_type: spot`). On a ccxt exchange `auto` is decided from its market list."""
    universe = config.universe
    if config.exchange.id == DEMO_EXCHANGE_ID and universe.market_type == "auto":
        return dataclasses.replace(universe, market_type="swap")
    return universe


# ccxt constructor options whose type ccxt relies on: a wrong one would only fail at the first
# request, looking like an exchange fault (retried, then exit 1) instead of a config error.
_CCXT_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "timeout": ((int, float), "a number of milliseconds > 0"),
    "rateLimit": ((int, float), "a number of milliseconds >= 0"),
    "enableRateLimit": ((bool,), "true or false"),
    "verbose": ((bool,), "true or false"),
    "sandbox": ((bool,), "true or false"),
    "options": ((dict,), "a mapping"),
    "urls": ((dict,), "a mapping"),
    "headers": ((dict,), "a mapping of strings"),
    "proxies": ((dict,), "a mapping"),
    "httpProxy": ((str,), "a URL string"),
    "httpsProxy": ((str,), "a URL string"),
    "socksProxy": ((str,), "a URL string"),
    "userAgent": ((str,), "a string"),
    "hostname": ((str,), "a string"),
}


def _check_ccxt_config(ccxt_config: Mapping[str, Any], label: str) -> None:
    for key, value in ccxt_config.items():
        if key not in _CCXT_TYPES:
            continue
        types_, allowed = _CCXT_TYPES[key]
        ok = isinstance(value, types_) and not (isinstance(value, bool) and bool not in types_)
        if ok and types_ == (int, float):
            # NaN fails both comparisons; a timeout of 0 would fail every request.
            low_ok = float(value) > 0 if key == "timeout" else float(value) >= 0
            ok = low_ok and float(value) < float("inf")
        if not ok:
            raise ConfigError(
                f"{label}: exchange.ccxt_config.{key} must be {allowed} (got {show(value)})"
            )


def _check_relations(config: Config, label: str) -> None:
    """Rules that tie two keys together; each message names both keys."""
    _check_ccxt_config(config.exchange.ccxt_config, label)
    stats = config.stats
    if stats.half_life_min_bars > stats.half_life_max_bars:
        raise ConfigError(
            f"{label}: stats.half_life_min_bars must not exceed stats.half_life_max_bars "
            f"(got {stats.half_life_min_bars:g} > {stats.half_life_max_bars:g})"
        )
    if stats.min_hedge_ratio >= stats.max_hedge_ratio:
        raise ConfigError(
            f"{label}: stats.min_hedge_ratio must be below stats.max_hedge_ratio "
            f"(got {stats.min_hedge_ratio:g} >= {stats.max_hedge_ratio:g}); e.g. 0.2 and 5"
        )
    sig = config.signals
    if not sig.stop_z > sig.entry_z > sig.exit_z:
        raise ConfigError(
            f"{label}: signals needs stop_z > entry_z > exit_z >= 0 (got stop_z {sig.stop_z:g}, "
            f"entry_z {sig.entry_z:g}, exit_z {sig.exit_z:g}); e.g. 4, 2, 0.5"
        )


def _read_yaml(path: str | os.PathLike[str] | None) -> tuple[Path | None, Mapping[str, Any]]:
    if path is None:
        default = Path.cwd() / DEFAULT_CONFIG_NAME
        if not default.exists():
            return None, {}
        path = default
    file_path = Path(path)
    if not file_path.is_file():
        raise ConfigError(f"{file_path}: config file not found (pass --config PATH)")
    try:
        raw = yaml.safe_load(file_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        # str(exc) spans several lines (context, source excerpt); errors are one line.
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{file_path.name}:{where} is not valid YAML ({problem})") from None
    if raw is None:
        return file_path, {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{file_path.name}: must be a mapping of sections (got {type(raw).__name__})"
        )
    return file_path, raw


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        data[head] = value
        return
    if data.get(head) is not None and not isinstance(data[head], Mapping):
        return  # the file's section is not a mapping: `_build` reports that, naming the key
    section = dict(data.get(head) or {})
    _set_dotted(section, rest, value)
    data[head] = section


def _read_secrets(env: Mapping[str, str | None] | None, file_path: Path | None) -> Secrets:
    if env is None:
        merged: dict[str, str | None] = {}
        for folder in (Path.cwd(), file_path.parent if file_path else None):
            if folder is not None and (folder / ".env").is_file():
                merged.update(dotenv_values(folder / ".env"))
        merged.update(os.environ)
        env = merged
    return Secrets(**{name: (env.get(var) or None) for name, var in _ENV_NAMES.items()})


def env_secret_values(path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Secret values from the environment and `.env`, readable even when the config file is
    not, so that an error about a bad config can still be redacted."""
    file_path = Path(path) if path is not None else Path.cwd() / DEFAULT_CONFIG_NAME
    return _read_secrets(None, file_path if file_path.is_file() else None).values()


def config_label(config: Config) -> str:
    """The config file's name for messages (`config.yaml`), or `config` for the defaults."""
    return Path(config.source).name if config.source != "defaults" else "config"


_SKIP = {"secrets", "source"}


def _build(cls: type[Any], data: Any, label: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: {where} must be a mapping (got {show(data)})")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in _SKIP}
    for key in data:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "no keys yet in this version"
            raise ConfigError(f"{label}: {prefix}{key} is not a known key (allowed: {allowed})")
    values = {}
    for name, fld in known.items():
        if name not in data:
            continue
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], label, f"{prefix}{name}.")
        else:
            values[name] = _check_value(f"{prefix}{name}", data[name], hint, fld, label)
    return cls(**values)


def _check_value(key: str, value: Any, hint: Any, fld: dataclasses.Field[Any], label: str) -> Any:
    def fail(allowed: str) -> ConfigError:
        return ConfigError(f"{label}: {key} must be {allowed} (got {show(value)})")

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(str(a) for a in args))
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint in (int, float):
        return _check_number(value, hint, fld.metadata, fail)
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise fail("a non-empty string")
        pattern = fld.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value.strip()):
            raise fail(fld.metadata["help"])
        return value.strip()
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise fail("a path")
        return Path(value).expanduser()
    if origin is tuple:
        # A lone string is refused, not split or wrapped: `symbols: BTC/USDT:USDT` is more
        # often a list gone wrong than a one-symbol universe.
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings (YAML: [A, B], or one item per line with '- ')")
        items = tuple(v.strip() for v in value)
        choices = typing.get_args(args[0]) if args and typing.get_origin(args[0]) is Literal else ()
        if choices and not set(items) <= set(choices):
            raise fail("a list of " + ", ".join(str(c) for c in choices))
        if choices and len(set(items)) != len(items):
            raise fail("a list without repeats")
        return items
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        return dict(value)
    raise fail(f"of type {hint}")  # pragma: no cover - every field type is handled above


def show(value: Any) -> str:
    """A config value as the user typed it: strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_number(value: Any, hint: type, meta: Mapping[str, Any], fail: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail("an integer" if hint is int else "a number")
    if value != value:  # NaN (YAML `.nan`) passes every range comparison
        raise fail("an integer" if hint is int else "a number")
    if hint is int and not float(value).is_integer():
        raise fail("an integer")
    number = hint(value)
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and number < low) or (high is not None and number > high):
        raise fail(f"between {low} and {high}")
    return number


def describe_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every config key, for docs and `--help` tests."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for fld in dataclasses.fields(cls):
            if fld.name in _SKIP:
                continue
            if dataclasses.is_dataclass(hints[fld.name]):
                walk(hints[fld.name], f"{prefix}{fld.name}.")
                continue
            default = (
                fld.default_factory()
                if fld.default_factory is not dataclasses.MISSING
                else fld.default
            )
            rows.append((f"{prefix}{fld.name}", repr(default), fld.metadata.get("help", "")))

    walk(Config, "")
    return rows
