"""`pairs` logging: the stderr handler, the `--log-json` file and the redaction of secrets in
every record. Named so as not to shadow the stdlib's `logging` inside the package."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from pairscan.redaction import redact
from pairscan.run_id import RUN_ID

# A message may quote a whole exchange response: cut it before it floods a cron log.
MAX_LOG_CHARS = 2000


class RedactingFilter(logging.Filter):
    """Replaces every secret in a record's message (formatted once, here) and stamps the
    record with the run id."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets, max_chars=MAX_LOG_CHARS)
        record.args = None
        record.run_id = RUN_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, run id, message."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "logger": record.name,
                "run_id": getattr(record, "run_id", RUN_ID.get()),
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


class JsonLogHandler(RotatingFileHandler):
    """The `--log-json` file handler (a type of its own, so that only it is closed when the
    logging is set up again in the same process)."""


def has_json_log() -> bool:
    """Whether the root logger already writes a rotating (`--log-json`) file."""
    return any(isinstance(h, RotatingFileHandler) for h in logging.getLogger().handlers)


def add_json_log(path: Path) -> None:
    """JSON lines to `path`, rotated at 5 MB (5 files kept), beside the stderr log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = JsonLogHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)


def setup_logging(verbosity: int) -> None:
    """The root logger writes to stderr alone: -1 (`-q`) errors, 0 warnings, 1 info, 2+ debug."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s [%(run_id)s] %(name)s: %(message)s",
            defaults={"run_id": "-"},
        )
    )
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, JsonLogHandler):  # a previous invocation's file (CliRunner)
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # ccxt and urllib3 log request URLs (signed queries included) at DEBUG.
    for noisy in ("ccxt", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))


def install_redaction(secrets: tuple[str, ...]) -> None:
    """Every handler of the root logger redacts `secrets` (replacing the previous list)."""
    for handler in logging.getLogger().handlers:
        handler.filters[:] = [RedactingFilter(secrets)]
