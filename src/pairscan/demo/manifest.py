"""The demo market's manifest (`data/markets.json`): its markets' filters and when the
recording ends. Only json is imported, so that a run on the demo that needs just the clock
(a scan whose hour is already decided) does not load the recording, numpy or pyarrow.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def manifest() -> dict[str, Any]:
    """The parsed `markets.json` shipped in the package."""
    path = resources.files("pairscan.demo") / "data" / "markets.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def demo_end_ms() -> int:
    """Close time (UTC ms) of the last recorded bar: the demo clock's default `now`."""
    return int(manifest()["recorded_until_ms"])
