"""The id of the current run, carried into every log line and run record.

A module of its own (no imports) so that the CLI's logging set-up can read it without
importing the jobs, and with them pandas and numpy, at start-up.
"""

from __future__ import annotations

from contextvars import ContextVar

RUN_ID: ContextVar[str] = ContextVar("run_id", default="-")
