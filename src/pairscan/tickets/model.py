"""Stage 6 (tickets): the trade ticket, a frozen record of one decided two-leg trade.

Validated on construction and serialised to JSON exactly (floats round-trip bit for bit).
No SQL, no rendering and no sending here.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

__all__ = [
    "ACTIONS",
    "CLOSE_REASONS",
    "ENTRY_REASON",
    "JSON_VERSION",
    "Leg",
    "Side",
    "Ticket",
    "TicketAction",
    "ticket_id",
]

Side = Literal["buy", "sell"]
TicketAction = Literal["open_long", "open_short", "close"]

ACTIONS: Final = ("open_long", "open_short", "close")
ENTRY_REASON: Final = "entry"
# The machine's close reasons (`pairscan.signals.REASON_NAMES` without "none"; a test checks
# they agree), not imported from there so that reading tickets never loads Numba.
CLOSE_REASONS: Final = (
    "mean_reversion",
    "stop",
    "time_stop",
    "coint_broke",
    "deselected",
    "data_stale",
    "delisted",
)
JSON_VERSION: Final = 1
"""Version of the JSON form (`"v"`); a reader refuses any other."""
_ID_SCHEME: Final = "pairscan-ticket-v1"
_ID_HEX_CHARS: Final = 20


def ticket_id(exchange: str, y_symbol: str, x_symbol: str, bar_ms: int, action: str) -> str:
    """The ticket's id: the first 20 hex digits (80 bits) of the SHA-256 of a canonical JSON
    array of its key, so a rerun of the same bar produces the same id and the outbox's
    primary key refuses the duplicate. Example:
    `ticket_id("binance", "ETH/USDT", "BTC/USDT", 1778886000000, "open_long")` is
    `"802d2b039befc20162d1"` (a test pins it: changing the scheme would let a rerun
    duplicate the tickets saved before).

    A JSON array (not a joined string) keeps symbols containing any separator unambiguous.
    """
    key = [_ID_SCHEME, exchange, y_symbol, x_symbol, _as_int("bar_ms", bar_ms), action]
    canonical = json.dumps(key, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_ID_HEX_CHARS]


@dataclass(frozen=True)
class Leg:
    """One leg of a ticket: buy or sell `qty` of `symbol` (base units on spot, contracts on
    derivatives, already rounded down to the market's lot step, > 0) at about `ref_price`
    (quote per base unit: the decision bar's close); `notional_quote` (> 0) is
    qty x ref_price x contract size, in the quote currency."""

    symbol: str
    side: Side
    qty: float
    notional_quote: float
    ref_price: float

    def __post_init__(self) -> None:
        _check_name("symbol", self.symbol)
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side: must be 'buy' or 'sell' (got {self.side!r})")
        for name in ("qty", "notional_quote", "ref_price"):
            object.__setattr__(self, name, _positive(f"{self.symbol} {name}", getattr(self, name)))

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self.side == "buy" else -1


@dataclass(frozen=True)
class Ticket:
    """A sized two-leg trade decided at the close of the bar opening at `bar_ms`.

    id: `ticket_id(exchange, y_symbol, x_symbol, bar_ms, action)` (checked).
    bar_ms: open time of the decision bar, UTC ms; created_ms: when the ticket was made
        (wall clock, UTC ms).
    action: open_long (buy y, hedge with x), open_short (sell y, hedge with x) or close.
    reason: "entry" for opens; for a close the machine's reason (`CLOSE_REASONS`).
    legs: (y leg, x leg). For opens the y leg's side follows the action and the x leg's the
        sign of `hedge_ratio` (beta > 0: opposite sides; beta < 0: the same side).
    hedge_ratio: beta of log y on log x (an elasticity: x notional ~ |beta| y notional);
        for a close, the entry's.
    z: the spread's z-score at the decision bar; None (or NaN, stored as None) only for a
        close decided without a finite z (stale data, deselection, time stop).
    entry_z, exit_z, stop_z: the thresholds in force (stop_z > entry_z > exit_z >= 0).
    half_life_bars: the spread's half-life, bars; qvalue: the Engle-Granger BH q-value;
        None (or NaN) when unknown.
    gross_quote, daily_vol_quote, var95_quote, var99_quote, margin_quote: the sizing's risk
        figures (>= 0, quote currency; 1-day P&L std and VaR; margin 0 is fine for closes).
    pnl_estimate_quote: closes only (None for opens): the realised P&L estimate at the
        reference prices, quote currency, before fees.
    quote: the quote currency of every notional (e.g. "USDT").
    """

    id: str
    exchange: str
    bar_ms: int
    created_ms: int
    y_symbol: str
    x_symbol: str
    action: TicketAction
    reason: str
    legs: tuple[Leg, Leg]
    hedge_ratio: float
    z: float | None
    entry_z: float
    exit_z: float
    stop_z: float
    half_life_bars: float | None
    qvalue: float | None
    gross_quote: float
    daily_vol_quote: float
    var95_quote: float
    var99_quote: float
    margin_quote: float
    pnl_estimate_quote: float | None
    quote: str

    def __post_init__(self) -> None:
        for name in ("exchange", "y_symbol", "x_symbol", "quote"):
            _check_name(name, getattr(self, name))
        if self.y_symbol == self.x_symbol:
            raise ValueError(f"x_symbol: must differ from y_symbol (both {self.y_symbol!r})")
        for name in ("bar_ms", "created_ms"):
            object.__setattr__(self, name, _as_int(name, getattr(self, name)))
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)} (got {self.action!r})")
        is_close = self.action == "close"
        allowed = CLOSE_REASONS if is_close else (ENTRY_REASON,)
        if self.reason not in allowed:
            raise ValueError(
                f"reason: a {self.action} ticket's reason must be one of {', '.join(allowed)} "
                f"(got {self.reason!r})"
            )
        expected_id = ticket_id(
            self.exchange, self.y_symbol, self.x_symbol, self.bar_ms, self.action
        )
        if self.id != expected_id:
            raise ValueError(
                f"id: must be ticket_id(exchange, y_symbol, x_symbol, bar_ms, action) = "
                f"{expected_id!r} (got {self.id!r})"
            )
        for name in ("hedge_ratio", "entry_z", "exit_z", "stop_z"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        if self.hedge_ratio == 0.0:
            raise ValueError("hedge_ratio: must not be 0 (the x leg would be empty)")
        self._check_legs()
        if not self.stop_z > self.entry_z > self.exit_z >= 0.0:
            raise ValueError(
                "entry_z, exit_z, stop_z: need stop_z > entry_z > exit_z >= 0 (got "
                f"entry {self.entry_z!r}, exit {self.exit_z!r}, stop {self.stop_z!r})"
            )
        for name in ("z", "half_life_bars", "qvalue", "pnl_estimate_quote"):
            object.__setattr__(self, name, _optional_finite(name, getattr(self, name)))
        if self.z is None and not is_close:
            raise ValueError(f"z: an {self.action} ticket needs a finite z-score")
        if self.half_life_bars is not None and self.half_life_bars <= 0.0:
            raise ValueError(f"half_life_bars: must be > 0 or None (got {self.half_life_bars!r})")
        if self.qvalue is not None and not 0.0 <= self.qvalue <= 1.0:
            raise ValueError(f"qvalue: must be within [0, 1] or None (got {self.qvalue!r})")
        for name in ("gross_quote", "daily_vol_quote", "var95_quote", "var99_quote"):
            object.__setattr__(self, name, _non_negative(name, getattr(self, name)))
        object.__setattr__(self, "margin_quote", _non_negative("margin_quote", self.margin_quote))
        if not is_close and self.pnl_estimate_quote is not None:
            raise ValueError("pnl_estimate_quote: only a close ticket has one (got a value)")

    def _check_legs(self) -> None:
        legs = self.legs
        if (
            not isinstance(legs, tuple)
            or len(legs) != 2
            or not all(isinstance(leg, Leg) for leg in legs)
        ):
            raise ValueError(f"legs: must be a tuple of two Leg, y first (got {legs!r})")
        if (legs[0].symbol, legs[1].symbol) != (self.y_symbol, self.x_symbol):
            raise ValueError(
                f"legs: must be ({self.y_symbol}, {self.x_symbol}) in that order (got "
                f"{legs[0].symbol}, {legs[1].symbol})"
            )
        if self.action == "close":
            return
        y_side = "buy" if self.action == "open_long" else "sell"
        if legs[0].side != y_side:
            raise ValueError(
                f"legs: an {self.action} ticket must {y_side} y {self.y_symbol} "
                f"(got {legs[0].side})"
            )
        hedged_sign = -legs[0].sign if self.hedge_ratio > 0 else legs[0].sign
        if legs[1].sign != hedged_sign:
            raise ValueError(
                f"legs: with hedge ratio {self.hedge_ratio!r} the x leg {self.x_symbol} must "
                f"{'buy' if hedged_sign > 0 else 'sell'} when y is a {legs[0].side} "
                f"(got {legs[1].side})"
            )

    # -- derived ---------------------------------------------------------------------------

    @property
    def pair(self) -> tuple[str, str]:
        return (self.y_symbol, self.x_symbol)

    @property
    def is_close(self) -> bool:
        return self.action == "close"

    @property
    def direction(self) -> Literal["long", "short"]:
        """The spread's direction the ticket opens, or (for a close) the one it closes: a
        close that sells y closes a long spread."""
        if self.action == "open_long":
            return "long"
        if self.action == "open_short":
            return "short"
        return "long" if self.legs[0].side == "sell" else "short"

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (legs as a list of two objects), with `"v"` the form's
        version."""
        out: dict[str, Any] = {"v": JSON_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = [_leg_dict(leg) for leg in value] if f.name == "legs" else value
        return out

    def to_json(self) -> str:
        """Compact JSON with sorted keys: the same ticket always gives the same text, and
        every float reads back exactly (Python writes the shortest repr that round-trips)."""
        return json.dumps(
            self.to_dict(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    @classmethod
    def from_dict(cls, data: Any) -> Ticket:
        """The ticket `to_dict` gave; ValueError naming the field for any other shape."""
        if not isinstance(data, dict):
            raise ValueError(f"ticket: expected a JSON object, got {type(data).__name__}")
        values = dict(data)
        version = values.pop("v", None)
        if version != JSON_VERSION:
            raise ValueError(
                f"ticket: JSON version {version!r} is not {JSON_VERSION} (written by another "
                "pairscan?)"
            )
        names = [f.name for f in fields(cls)]
        _check_keys("ticket", values, names)
        raw_legs = values["legs"]
        if not isinstance(raw_legs, list) or len(raw_legs) != 2:
            raise ValueError(f"ticket legs: expected a list of two objects, got {raw_legs!r}")
        legs = []
        for raw in raw_legs:
            if not isinstance(raw, dict):
                raise ValueError(f"ticket leg: expected an object, got {raw!r}")
            _check_keys("ticket leg", raw, [f.name for f in fields(Leg)])
            legs.append(Leg(**raw))
        values["legs"] = (legs[0], legs[1])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Ticket:
        """The ticket `to_json` wrote."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ticket: not JSON ({exc})") from None
        return cls.from_dict(data)


def _leg_dict(leg: Leg) -> dict[str, Any]:
    return {f.name: getattr(leg, f.name) for f in fields(leg)}


def _check_keys(what: str, values: dict[str, Any], names: list[str]) -> None:
    missing = [name for name in names if name not in values]
    unknown = sorted(set(values) - set(names))
    if missing or unknown:
        raise ValueError(
            f"{what}: missing {', '.join(missing) or 'nothing'}; unknown "
            f"{', '.join(unknown) or 'nothing'}"
        )


def _check_name(name: str, value: Any) -> None:
    # Printable, no line breaks or other control characters: a ticket renders one line per
    # fact and exports one CSV line per ticket.
    if not isinstance(value, str) or not value or not value.isprintable() or value != value.strip():
        raise ValueError(
            f"{name}: must be a non-empty printable string without surrounding spaces "
            f"(got {value!r})"
        )


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _finite(name: str, value: Any) -> float:
    number = _number(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be finite (got {value!r})")
    return number


def _positive(name: str, value: Any) -> float:
    number = _finite(name, value)
    if number <= 0.0:
        raise ValueError(f"{name}: must be > 0 (got {value!r})")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = _finite(name, value)
    if number < 0.0:
        raise ValueError(f"{name}: must be >= 0 (got {value!r})")
    return number


def _optional_finite(name: str, value: Any) -> float | None:
    """None stays None and NaN becomes None (unknown); infinities are refused."""
    if value is None:
        return None
    number = _number(name, value)
    if math.isnan(number):
        return None
    return _finite(name, number)


def _as_int(name: str, value: Any) -> int:
    """An integer, numpy integers and integral floats included; ValueError for the rest."""
    try:
        number = int(value)
        ok = not isinstance(value, bool | str | bytes) and number == value
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name}: must be an integer (got {value!r})")
    return number
