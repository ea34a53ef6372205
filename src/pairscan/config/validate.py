"""Checking a mapping of config values against the sections' dataclasses: types, ranges,
choices and unknown keys, each fault a `ConfigError` naming the key, the value and what is
allowed; and the list of every key for the docs."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pairscan.config.sections import Config
from pairscan.errors import ConfigError

_SKIP = {"secrets", "source"}


def build(cls: type[Any], data: Any, label: str, prefix: str) -> Any:
    """`cls` (a section dataclass, or `Config`) built from `data`, every key checked; `prefix`
    is the dotted path of `data` (`"stats."`) for messages, `label` the file's name."""
    where = prefix.rstrip(".") or "top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: {where} must be a mapping (got {show(data)})")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in _SKIP}
    for key in data:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "no keys yet in this version"
            raise ConfigError(f"{label}: {prefix}{key} is not a known key (allowed: {allowed})")
    values = {}
    for name, fld in known.items():
        if name not in data:
            continue
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = build(hint, data[name], label, f"{prefix}{name}.")
        else:
            values[name] = _check_value(f"{prefix}{name}", data[name], hint, fld, label)
    return cls(**values)


def _check_value(key: str, value: Any, hint: Any, fld: dataclasses.Field[Any], label: str) -> Any:
    def fail(allowed: str) -> ConfigError:
        return ConfigError(f"{label}: {key} must be {allowed} (got {show(value)})")

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(str(a) for a in args))
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint in (int, float):
        return _check_number(value, hint, fld.metadata, fail)
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise fail("a non-empty string")
        pattern = fld.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value.strip()):
            raise fail(fld.metadata["help"])
        return value.strip()
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise fail("a path")
        return Path(value).expanduser()
    if origin is tuple:
        # A lone string is refused, not split or wrapped: `symbols: BTC/USDT:USDT` is more
        # often a list gone wrong than a one-symbol universe.
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings (YAML: [A, B], or one item per line with '- ')")
        items = tuple(v.strip() for v in value)
        choices = typing.get_args(args[0]) if args and typing.get_origin(args[0]) is Literal else ()
        if choices and not set(items) <= set(choices):
            raise fail("a list of " + ", ".join(str(c) for c in choices))
        if choices and len(set(items)) != len(items):
            raise fail("a list without repeats")
        return items
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        return dict(value)
    raise fail(f"of type {hint}")  # pragma: no cover - every field type is handled above


def show(value: Any) -> str:
    """A config value as the user typed it: strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_number(value: Any, hint: type, meta: Mapping[str, Any], fail: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail("an integer" if hint is int else "a number")
    if value != value:  # NaN (YAML `.nan`) passes every range comparison
        raise fail("an integer" if hint is int else "a number")
    if hint is int and not float(value).is_integer():
        raise fail("an integer")
    number = hint(value)
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and number < low) or (high is not None and number > high):
        raise fail(f"between {low} and {high}")
    return number


def describe_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every config key, for docs and `--help` tests."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for fld in dataclasses.fields(cls):
            if fld.name in _SKIP:
                continue
            if dataclasses.is_dataclass(hints[fld.name]):
                walk(hints[fld.name], f"{prefix}{fld.name}.")
                continue
            default = (
                fld.default_factory()
                if fld.default_factory is not dataclasses.MISSING
                else fld.default
            )
            rows.append((f"{prefix}{fld.name}", repr(default), fld.metadata.get("help", "")))

    walk(Config, "")
    return rows
