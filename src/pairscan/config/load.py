"""Loading the configuration: `config.yaml` and `.env` read, overrides applied, every key
validated (`validate.build`), the rules tying two keys checked, and the result frozen."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from pairscan.config.sections import DEMO_EXCHANGE_ID, Config, Secrets, UniverseConfig
from pairscan.config.validate import build, show
from pairscan.errors import ConfigError

DEFAULT_CONFIG_NAME = "config.yaml"

# Secrets field -> the environment variable (or `.env` key) it is read from.
_ENV_NAMES = {
    "exchange_api_key": "EXCHANGE_API_KEY",
    "exchange_api_secret": "EXCHANGE_API_SECRET",
    "slack_webhook_url": "SLACK_WEBHOOK_URL",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_chat_id": "TELEGRAM_CHAT_ID",
}


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
    config: Config = build(Config, data, label, prefix="")
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
        return  # the file's section is not a mapping: `validate.build` reports that, naming the key
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
