"""How `pairs` reports an error: one redacted line on stderr (and a JSON error object with
`--json`) and an exit code of `errors.EXIT_CODES`, never a traceback on the terminal."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pairscan.cli.logging_setup import MAX_LOG_CHARS
from pairscan.errors import EXIT_FAILED, EXIT_INTERRUPTED, PairscanError
from pairscan.redaction import redact
from pairscan.run_id import RUN_ID

if TYPE_CHECKING:
    from pairscan.cli.options import Globals


@contextmanager
def reported_errors(g: Globals, *, as_json: bool = False) -> Iterator[None]:
    """Turn every error into one line on stderr and an exit code of `EXIT_CODES` (with
    `--json`, also a JSON error object on stdout). pairscan's errors carry their own code;
    Ctrl-C is 130; anything unexpected is EXIT_FAILED, its traceback written to the data
    directory's logs/errors.log (and shown with -vv). Messages may quote a pasted secret:
    every one is redacted."""
    try:
        yield
    except PairscanError as exc:
        fail(g, str(exc), exc.exit_code, as_json)
    except KeyboardInterrupt:
        fail(g, "interrupted: nothing more was done", EXIT_INTERRUPTED, as_json)
    except (click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:
        where = write_traceback(g, exc)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        fail(
            g,
            f"unexpected {type(exc).__name__} in {_origin(exc)}"
            + (f": {detail}" if detail else "")
            + f"; traceback in {where}",
            EXIT_FAILED,
            as_json,
        )


def fail(g: Globals, message: str, code: int, as_json: bool) -> None:
    """Print `message`, redacted of every secret known (environment and loaded configs), as
    `error: ...` on stderr (with `as_json`, also a JSON error object on stdout), then exit
    with `code`."""
    from pairscan.config import env_secret_values

    secrets = tuple(env_secret_values(g.config_path)) + tuple(
        s for c in g.loaded for s in c.secret_values()
    )
    text = redact(message, secrets, max_chars=MAX_LOG_CHARS)
    click.echo(f"error: {text}", err=True)
    if as_json:
        status = "interrupted" if code == EXIT_INTERRUPTED else "failed"
        error = {"status": status, "error": text, "exit_code": code, "run_id": RUN_ID.get()}
        click.echo(json.dumps(error, indent=2))
    sys.exit(code)


def _origin(exc: BaseException) -> str:
    """Where pairscan's code was when it failed: `cache/parquet_store.py:177 (_read)`."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}pairscan{os.sep}" in f.filename] or frames
    if not ours:
        return "pairscan"
    frame = ours[-1]
    path = frame.filename.split(f"{os.sep}pairscan{os.sep}")[-1]
    return f"{path}:{frame.lineno} ({frame.name})"


def write_traceback(g: Globals, exc: BaseException) -> str:
    """Log the traceback (shown on stderr with -vv) and append it, redacted, to
    data_dir/logs/errors.log when a config was loaded. Returns where it went."""
    logging.getLogger("pairscan.cli").debug("unexpected error", exc_info=exc)
    text = "".join(traceback.format_exception(exc))
    if not g.loaded:
        return "the log with -vv"
    secrets = g.loaded[-1].secret_values()
    path = g.loaded[-1].data_dir / "logs" / "errors.log"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            # Line by line: redact() folds a text to one line, a traceback needs its lines.
            lines = (redact(line, secrets, max_chars=10_000) for line in text.splitlines())
            handle.write(f"--- {stamp} run {RUN_ID.get()}\n" + "\n".join(lines) + "\n")
    except OSError:
        return "the log with -vv"
    return f"{path} (or rerun with -vv)"
