"""Typed, frozen configuration: `config.yaml` + `.env` loaded and validated once.

One frozen dataclass per pipeline stage (`sections`). Every key is checked (`validate`: type,
range, choices, unknown keys); a bad one raises `ConfigError` naming the key, the bad value and
what is allowed. Nothing here does I/O beyond reading the two files (`load`), and nothing
imports ccxt. Import the names from here: `from pairscan.config import Config, load_config`.
"""

from pairscan.config.load import (
    DEFAULT_CONFIG_NAME,
    config_label,
    env_secret_values,
    load_config,
)
from pairscan.config.sections import (
    DEMO_EXCHANGE_ID,
    BacktestConfig,
    CacheConfig,
    Config,
    ExchangeConfig,
    NotifyConfig,
    Secrets,
    SignalsConfig,
    SizingConfig,
    StatsConfig,
    TelegramConfig,
    UniverseConfig,
)
from pairscan.config.validate import describe_keys, show

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEMO_EXCHANGE_ID",
    "BacktestConfig",
    "CacheConfig",
    "Config",
    "ExchangeConfig",
    "NotifyConfig",
    "Secrets",
    "SignalsConfig",
    "SizingConfig",
    "StatsConfig",
    "TelegramConfig",
    "UniverseConfig",
    "config_label",
    "describe_keys",
    "env_secret_values",
    "load_config",
    "show",
]
