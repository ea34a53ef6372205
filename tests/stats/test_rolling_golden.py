"""The rolling kernels give, bit for bit, what they gave before their running windows were
merged into one (issue 13): data/rolling_pre_refactor.npz holds the outputs of the previous
kernels on a seeded panel of 10 symbols (40 pairs) x 1,500 bars at BTC level, with 2 % missing
bars, a flat x stretch, a gap longer than a window and a symbol that never traded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pairscan.stats.ols import pair_stats_last, rolling_pair_stats, rolling_pair_stats_indexed
from tests.stats.rolling_oracles import rolling_ols, rolling_ols_indexed, spread_zscore

GOLDEN = np.load(Path(__file__).parent / "data" / "rolling_pre_refactor.npz")
WINDOW, NOBS, Z_WINDOW, Z_NOBS = 100, 90, 60, 50
NAMES = ("alpha", "beta", "spread", "z")


def _assert_same(got: tuple[np.ndarray, ...], names: tuple[str, ...]) -> None:
    for g, name in zip(got, names, strict=True):
        assert np.array_equal(g, GOLDEN[name], equal_nan=True), name


def test_every_bar_paths_are_bit_identical_to_the_previous_kernels() -> None:
    lp, iy, ix = GOLDEN["log_prices"], GOLDEN["iy"], GOLDEN["ix"]
    y, x = lp[:, iy], lp[:, ix]
    _assert_same(rolling_pair_stats(y, x, WINDOW, Z_WINDOW, NOBS, Z_NOBS), NAMES)
    indexed = rolling_pair_stats_indexed(
        lp, iy, ix, WINDOW, Z_WINDOW, min_nobs=NOBS, z_min_nobs=Z_NOBS
    )
    _assert_same(indexed, NAMES)
    alpha, beta = rolling_ols(y, x, WINDOW, NOBS)
    _assert_same((alpha, beta), NAMES[:2])
    _assert_same(rolling_ols_indexed(lp, iy, ix, WINDOW, NOBS), NAMES[:2])
    _assert_same(spread_zscore(y, x, alpha, beta, Z_WINDOW, Z_NOBS), NAMES[2:])


@pytest.mark.parametrize("n_bars", [1500, 1234, 700, 159, 150])
@pytest.mark.parametrize(("nobs", "z_nobs", "tag"), [(NOBS, Z_NOBS, ""), (None, None, "_full")])
def test_last_bar_path_is_bit_identical_to_the_previous_kernel(
    n_bars: int, nobs: int | None, z_nobs: int | None, tag: str
) -> None:
    # 159 bars is exactly window + z_window - 1 (the bars scan mode reads); 150 is fewer.
    lp, iy, ix = GOLDEN["log_prices"][:n_bars], GOLDEN["iy"], GOLDEN["ix"]
    got = pair_stats_last(lp, iy, ix, WINDOW, Z_WINDOW, min_nobs=nobs, z_min_nobs=z_nobs)
    assert np.array_equal(np.stack(got), GOLDEN[f"last_{n_bars}{tag}"], equal_nan=True)
