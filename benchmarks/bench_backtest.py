"""Benchmark of the backtest simulator against vectorbt, measured in the same run.

All pairs of 100 symbols (4,950 pairs) x 8,760 hourly bars of seeded synthetic prices (one
market factor plus mean-reverting idiosyncratic parts, so the state machine trades). pairscan:
the simulator kernel alone (two legs per pair, one shared capital, next-open fills, taker fee,
slippage, funding every 8 h, lot rounding, book leverage cap), then with the state machine and
the vol-target sizer, then with the rolling hedge ratio and z-score in front.
The peer: vectorbt `Portfolio.from_orders` on the same fills (2 columns per pair, one group
with shared cash, amounts at the open with the same fee and slippage), with its Numba and,
when installed, its Rust engine, timed on every 10th pair and scaled per pair-bar. The final
portfolio values are compared in the same run (funding off and no lot rounding there, which
vectorbt does not model); the script stops if they differ by more than 1e-9 of capital.

vectorbt is not a pairscan dependency: install it beside pairscan in a separate environment,

    python -m venv .venv-bench && .venv-bench/bin/pip install -e . vectorbt vectorbt-rust
    .venv-bench/bin/python benchmarks/bench_backtest.py      # ~1-2 min on 2 cores

Without vectorbt the script still prints pairscan's own figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from pairscan.backtest.kernels import (
    L_ENTRY_BAR,
    L_EXIT_BAR,
    L_PAIR,
    L_QTY_X,
    L_QTY_Y,
    simulate_nb,
)
from pairscan.config import SignalsConfig
from pairscan.signals import Action, machine_params, run_machine
from pairscan.sizing.kernels import entry_notional_nb
from pairscan.stats import rolling_pair_stats

N_BARS, N_SYMBOLS, WINDOW, Z_WINDOW, SEED = 8_760, 100, 720, 168, 7
PEER_EVERY = 10  # vectorbt runs on every 10th pair (495 pairs, 990 columns)
CAPITAL, FEE_BPS, SLIP_BPS = 1_000_000.0, 5.0, 2.0
REPEATS = 5


def synthetic(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Open and close (n_bars, n_symbols): one factor (0.5 %/h) plus an AR(1) part per symbol
    (phi 0.995, half-life ~140 h), so spreads of pairs revert and cross the thresholds."""
    rng = np.random.default_rng(seed)
    factor = np.cumsum(rng.normal(0.0, 0.005, N_BARS))
    load = rng.uniform(0.8, 1.2, N_SYMBOLS)
    idio = np.zeros((N_BARS, N_SYMBOLS))
    shocks = rng.normal(0.0, 0.003, (N_BARS, N_SYMBOLS))
    for t in range(1, N_BARS):
        idio[t] = 0.995 * idio[t - 1] + shocks[t]
    log_close = 4.0 + rng.uniform(-2, 2, N_SYMBOLS) + np.outer(factor, load) + idio
    close = np.exp(log_close)
    opens = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0.0, 2e-4, close.shape))
    return opens, close


def best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def vbt_orders(ledger: np.ndarray, n_pairs: int) -> np.ndarray:
    """Our fills as vectorbt order amounts: (n_bars, 2 * n_pairs), NaN where no order."""
    size = np.full((N_BARS, 2 * n_pairs), np.nan)
    for tr in ledger:
        j, entry, exit_ = int(tr[L_PAIR]), int(tr[L_ENTRY_BAR]), int(tr[L_EXIT_BAR])
        size[entry, 2 * j], size[entry, 2 * j + 1] = tr[L_QTY_Y], tr[L_QTY_X]
        if exit_ >= 0:
            size[exit_, 2 * j], size[exit_, 2 * j + 1] = -tr[L_QTY_Y], -tr[L_QTY_X]
    return size


def main() -> None:
    opens, close = synthetic(SEED)
    iy, ix = (a.astype(np.int64) for a in np.triu_indices(N_SYMBOLS, 1))
    n_pairs = iy.size
    pair_bars = n_pairs * N_BARS
    log_close = np.log(close)
    funding = np.zeros_like(close)
    funding[::8] = np.random.default_rng(SEED).normal(1e-4, 1e-4, funding[::8].shape)
    lots = np.zeros((4, N_SYMBOLS))
    lots[0], lots[1], lots[3] = 1.0, 1e-3, 5.0
    fee = np.full(N_SYMBOLS, FEE_BPS)
    slip = np.full(close.shape, SLIP_BPS)
    params = machine_params(SignalsConfig())
    half_life = np.full(n_pairs, 140.0)

    def stats() -> tuple[np.ndarray, np.ndarray]:
        _, beta, _, z = rolling_pair_stats(log_close[:, iy], log_close[:, ix], WINDOW, Z_WINDOW)
        return beta, z

    beta, z = stats()

    def signals_and_sizes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # What `run_backtest` does: the machine over every bar, then entries sized where it opens.
        run = run_machine(z, half_life, params)
        entry = (run.action == Action.OPEN_LONG) | (run.action == Action.OPEN_SHORT)
        no_edge = np.full((1, iy.size), np.nan)  # no Kelly cap: no formation window here
        notional = entry_notional_nb(
            log_close,
            iy,
            ix,
            entry,
            beta,
            720,
            360,
            0.02,
            CAPITAL,
            8760.0,
            0.02,
            0.5,
            no_edge,
            no_edge,
            np.full(N_BARS, -1, np.int64),
        )
        return run.action, run.reason, notional

    action, reason, notional = signals_and_sizes()
    real = np.isfinite(close)  # synthetic prices: every candle is real

    def simulate(sub: np.ndarray | slice = slice(None), costs: bool = True) -> tuple:
        return simulate_nb(
            opens,
            close,
            funding if costs else np.zeros_like(funding),
            iy[sub],
            ix[sub],
            np.ascontiguousarray(action[:, sub]),
            np.ascontiguousarray(reason[:, sub]),
            np.ascontiguousarray(beta[:, sub]),
            np.ascontiguousarray(notional[:, sub]),
            lots if costs else np.vstack([np.ones(N_SYMBOLS), np.zeros((3, N_SYMBOLS))]),
            fee,
            slip,
            CAPITAL,
            3.0,
            0.0,
            False,
            np.zeros((0, iy[sub].size), np.int64),
            np.full(N_BARS, -1, np.int64),
            real,
            np.full(N_SYMBOLS, N_BARS - 1, np.int64),
        )

    t0 = time.perf_counter()
    simulate()
    first_call = time.perf_counter() - t0
    t_sim = best(simulate)
    t_sig = best(signals_and_sizes, 3)
    t_stats = best(stats, 3)
    equity, _, _, _, n_trades, _ = simulate()
    print(f"{n_pairs} pairs x {N_BARS} bars, {n_trades} trades, final equity {equity[-1]:,.2f}")
    print(f"first call of the simulator in this process (cached compile): {first_call:.2f} s\n")

    rows = [
        ("pairscan simulator (fees, slippage, funding, lots, cap)", t_sim),
        ("pairscan state machine + sizing + simulator", t_sig + t_sim),
        ("pairscan rolling OLS z + machine + sizing + simulator", t_stats + t_sig + t_sim),
    ]
    peer_rows = peers(opens, close, iy, ix, simulate)
    base = {name: secs / (pairs * N_BARS) for name, pairs, secs in peer_rows}
    print(f"{'method':62} {'s':>7} {'pair-bars/s':>12}" + "".join(f" {'x ' + k:>14}" for k in base))
    for name, secs in rows:
        rate = pair_bars / secs
        ratios = "".join(f" {rate * per:>14.1f}" for per in base.values())
        print(f"{name:62} {secs:>7.3f} {rate:>12.3g}{ratios}")
    for name, pairs, secs in peer_rows:
        print(f"{name:62} {secs:>7.3f} {pairs * N_BARS / secs:>12.3g}   ({pairs} pairs)")


def peers(
    opens: np.ndarray,
    close: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    simulate: Callable[..., tuple],
) -> list[tuple[str, int, float]]:
    """vectorbt on every PEER_EVERY-th pair, same fills; agreement gate on final value."""
    try:
        import vectorbt as vbt
    except ImportError:
        print("(vectorbt not installed: no peer figures; see the module docstring)\n")
        return []
    sub = np.arange(0, iy.size, PEER_EVERY)
    equity, _, _, ledger, _, _ = simulate(sub, costs=False)
    size = vbt_orders(ledger, sub.size)
    cols = np.empty(2 * sub.size, np.int64)
    cols[0::2], cols[1::2] = iy[sub], ix[sub]
    px_close, px_open = close[:, cols], opens[:, cols]
    out = []
    for engine in ("numba", "rust"):

        def run(engine: str = engine) -> object:
            return vbt.Portfolio.from_orders(
                px_close,
                size,
                size_type="amount",
                direction="both",
                price=px_open,
                fees=FEE_BPS / 1e4,
                slippage=SLIP_BPS / 1e4,
                init_cash=CAPITAL,
                cash_sharing=True,
                group_by=np.zeros(cols.size, np.int64),
                engine=engine,
            )

        try:
            pf = run()
        except Exception as exc:  # the Rust engine is optional
            print(f"(vectorbt engine {engine!r} unavailable: {exc})")
            continue
        value = float(np.asarray(pf.final_value()).ravel()[0])
        gap = abs(value - equity[-1]) / CAPITAL
        print(
            f"agreement, vectorbt {engine}: final value {value:,.6f} vs pairscan {equity[-1]:,.6f} "
            f"({gap:.1e} of capital)"
        )
        if gap > 1e-9:
            raise SystemExit(f"agreement gate failed for vectorbt {engine}: {gap:.2e} of capital")
        out.append(
            (f"vectorbt from_orders, engine={engine} (same fills)", int(sub.size), best(run, 3))
        )
    print()
    return out


if __name__ == "__main__":
    main()
