"""Stage 5 (sizing): volatility targeting, pair / Kelly / book caps, exchange lot rounding.

Pure numerics shared by `scan` and `backtest`; never imports ccxt, requests, sqlite3, pyarrow,
click or the cache/fetch/state stages. Market filters arrive as `pairscan.market.MarketInfo`.

Position and P&L. The spread is in log prices, s = log y - alpha - beta log x (hedge ratio from
`pairscan.stats`). A long-spread position holds N_y of y long and N_x = beta N_y of x short
(notionals in the quote currency; short spread: both signs flipped). Over one bar its P&L is
N_y r_y - N_x r_x = N_y (r_y - beta r_x) = N_y ds, with r the bars' log returns (to first order:
a notional N earns N (e^r - 1) ~ N r). beta is an elasticity of y to x, so the hedge that
cancels x's move is beta times y's *notional*, not beta units of x: qty_x = beta N_y / price_x.
Negative beta: N_x = beta N_y is negative, so the "short" x leg becomes a long one and both
legs have y's side; the formula is unchanged and the pair's gross is N_y (1 + |beta|).

Volatility target. With sigma the per-bar std of ds (`spread_vol`: r_y - beta_t r_x over the
last `vol_window_bars`), the position's annualised P&L vol is N_y sigma sqrt(bars_per_year),
bars_per_year = 365 x 86,400,000 / timeframe_ms (crypto trades 24/7; 8,760 one-hour bars). So

    N_y = target_vol x capital / (sigma x sqrt(bars_per_year)),   N_x = beta x N_y.

Assumptions: returns i.i.d. over the window (sqrt-time scaling), the hedge held at beta_t for
the position's life, first-order P&L. NaN, zero or infinite sigma drops the pair (no size).

Caps (`SizingConfig`), applied in this order, each scaling both legs together:
- pair gross: N_y (1 + |beta|) <= max_pair_gross x capital;
- Kelly: from an edge estimate, mean mu and variance v of the pair's *per-bar* return on gross
  notional (bar P&L / gross; per-trade figures give the same mu/v ratio if bars are i.i.d.),
  the full-Kelly leverage is f* = mu / v and gross <= kelly_fraction x f* x capital
  (half-Kelly by default). No estimate (None/NaN): no Kelly cap. mu <= 0: the pair is dropped;
- book leverage (`apply_book_caps`): the gross of open plus new positions <= max_leverage x
  capital; open positions are never resized, new tickets are taken best-ranked first and the
  first that does not fit is scaled down, the rest dropped.

Rounding. Quantities are N / (price x contract_size), in contracts on derivatives (Binance
linear perps and spot: contract_size 1), floored to the market's amount step (never up: never
beyond the risk budget), y first and x hedged on the rounded y. Each leg must then be > 0, >=
the exchange's min_amount, and its notional >= max(min_notional, min_order_quote); otherwise
the whole ticket is dropped with a reason naming the leg, symbol and numbers (never one leg).

Risk per ticket (`PairSize`): signed notional per leg, achieved hedge -N_x / N_y, expected
1-day P&L std |N_y| sigma sqrt(bars per day), 1-day normal VaR at 95 / 99 % (1.645 / 2.326
sigma), margin use gross / margin_leverage. The daily vol uses the target beta; the residual
hedge error from rounding is shown by achieved_hedge, not added to the vol.
"""

from pairscan.sizing.kernels import SizeCode, SizeCodeT
from pairscan.sizing.pair import (
    SIDE_LONG,
    SIDE_SHORT,
    PairSize,
    apply_book_caps,
    floor_to_step,
    size_pair,
)
from pairscan.sizing.target import bars_per_year, spread_vol, target_notional

__all__ = [
    "SIDE_LONG",
    "SIDE_SHORT",
    "PairSize",
    "SizeCode",
    "SizeCodeT",
    "apply_book_caps",
    "bars_per_year",
    "floor_to_step",
    "size_pair",
    "spread_vol",
    "target_notional",
]
