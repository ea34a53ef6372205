"""Stage 2 (cache): `open_store`, the one place that picks a backend.

A module of its own so that `store.py` (the interface both backends import) never imports a
backend back: the dependency runs one way, backends -> store.
"""

from __future__ import annotations

from pathlib import Path

from pairscan.cache.store import BACKENDS, Store
from pairscan.errors import ConfigError


def open_store(backend: str, root: Path) -> Store:
    """The store of `backend` (`parquet` or `sqlite`) under the cache folder `root`
    (e.g. `data_dir / "cache"`), which is created when missing."""
    # Imported here so that a run with one backend never loads the other's library.
    if backend == "parquet":
        from pairscan.cache.parquet_store import ParquetStore

        return ParquetStore(root)
    if backend == "sqlite":
        from pairscan.cache.sqlite_store import SqliteStore

        return SqliteStore(root)
    raise ConfigError(f"cache.backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
