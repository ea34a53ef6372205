"""Numba kernels of the stats stage: `@njit(cache=True)` functions named `*_nb` on float64
arrays shaped (n_bars, n_series), processed along axis 0. No pandas, logging or I/O."""
