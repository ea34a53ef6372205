"""Stage 3 (stats): hedge ratios, spreads, z-scores, mean reversion and cointegration.

Pure numerics shared unchanged by `scan` and `backtest`: numpy arrays in, arrays out. Never
imports ccxt, requests, sqlite3, pyarrow or click.
"""
