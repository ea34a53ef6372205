"""The configuration's sections: one frozen dataclass per pipeline stage, and `Config` of them.

Each key carries its default, its help line and its allowed range (`field(metadata=...)`);
`validate` checks a mapping against them, `load` reads the files. Nothing here reads a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


def _meta(help_text: str, **limits: Any) -> dict[str, Any]:
    """A field's help line and limits (min, max, pattern), read by `validate`."""
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
