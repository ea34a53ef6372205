"""The recorded demo market shipped with pairscan, for the no-network first run and tests.

Import from the submodules: `demo.source` (the market, with numpy and pyarrow) and
`demo.manifest` (its filters and clock, json only), so the light one stays light.
"""
