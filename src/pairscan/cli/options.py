"""What every `pairs` command shares: the group's options (`Globals`, which loads the config),
the option callbacks, and the console results are printed on. Parsing only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pairscan.cli.logging_setup import add_json_log, has_json_log, install_redaction
from pairscan.errors import PairscanError

if TYPE_CHECKING:
    from rich.console import Console

    from pairscan.config import Config

_Command = TypeVar("_Command", bound=Callable[..., Any])
_LOG_WIDTH = 140  # tables printed into cron logs or pipes: do not wrap at 80 columns


def stdout() -> Console:
    """The console for results: the terminal's width, or 140 columns into a pipe or a log."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_LOG_WIDTH)


@dataclass(frozen=True)
class Globals:
    """Options of the `pairs` group, applied when a subcommand loads the config."""

    config_path: str | None
    exchange: str | None
    now_ms: int | None
    verbosity: int
    log_json: bool = False
    # The configs this invocation loaded (their data_dir is where a traceback is written).
    loaded: list[Config] = dataclasses.field(default_factory=list, compare=False)

    def load(self, **overrides: Any) -> Config:
        """The config with the group's options and `overrides` ({dotted key: value}) applied;
        the first load starts the `--log-json` file, every load redacts the config's secrets."""
        from pairscan.config import load_config

        extra = dict(overrides)  # a None is a value (`--sweep slippage_bps=null`), not "unset"
        if self.exchange:
            extra["exchange.id"] = self.exchange
        config = load_config(self.config_path, overrides=extra)
        self.loaded.append(config)
        if self.log_json and not has_json_log():
            add_json_log(config.data_dir / "logs" / "pairs.jsonl")
        install_redaction(config.secret_values())
        return config


def parse_time(option: str) -> Callable[[click.Context, click.Parameter, str | None], int | None]:
    """A click callback: the option's UTC date or datetime as epoch ms (None when not given);
    a value that is not one is a usage error naming `option`."""

    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        from pairscan.market import parse_utc

        try:
            return parse_utc(value, what=option)
        except PairscanError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def split_symbols(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """A click callback: `--symbols A,B --symbols C` -> ("A", "B", "C")."""
    return tuple(s for chunk in value for s in chunk.replace(",", " ").split() if s)


def symbols_option(help_text: str) -> Callable[[_Command], _Command]:
    """The `--symbols` option of a command (comma-separated or repeated, `split_symbols`),
    with the command's own `help_text` of what the default is."""
    return click.option("--symbols", multiple=True, callback=split_symbols, help=help_text)
