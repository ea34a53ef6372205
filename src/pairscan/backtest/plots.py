"""Backtest plots (matplotlib, headless Agg backend): equity and drawdown; a pair's z-score
with its entry/exit/stop bands and the trades on it. Each function writes one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on a server or in cron; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_equity(equity: pd.DataFrame, path: Path, title: str) -> Path:
    """Equity (quote currency) above, drawdown (%) below, shared time axis."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(equity.index, equity["equity"], color="tab:blue", lw=1.2)
    top.set_ylabel("equity")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(equity.index, 100.0 * equity["drawdown"], 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pair_z(
    times: pd.DatetimeIndex,
    z: np.ndarray,
    trades: pd.DataFrame,
    bands: tuple[float, float, float],
    path: Path,
    title: str,
) -> Path:
    """z-score of one pair's spread with +-entry, +-exit and +-stop lines, entries (triangles:
    up = long spread, down = short) and exits (crosses) at their fill times."""
    entry_z, exit_z, stop_z = bands
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(times, z, color="0.3", lw=0.8, label="z")
    for level, style, name in (
        (entry_z, "--", "entry"),
        (exit_z, ":", "exit"),
        (stop_z, "-", "stop"),
    ):
        ax.axhline(level, color="tab:orange", ls=style, lw=0.8, label=f"+-{name} {level:g}")
        ax.axhline(-level, color="tab:orange", ls=style, lw=0.8)
    z_at = pd.Series(z, index=times)
    for side, marker, color in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
        rows = trades[trades["side"] == side]
        ax.scatter(
            rows["entry_time"],
            z_at.reindex(rows["entry_time"]),
            marker=marker,
            color=color,
            zorder=3,
            label=f"enter {side}",
        )
    closed = trades.dropna(subset=["exit_time"])
    ax.scatter(
        closed["exit_time"],
        z_at.reindex(closed["exit_time"]),
        marker="x",
        color="k",
        zorder=3,
        label="exit",
    )
    ax.set_title(title)
    ax.set_ylabel("z")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
